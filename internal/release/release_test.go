package release

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestManifestIsTheVersionAndEveryPlatformsDigestSorted(t *testing.T) {
	got := string(Manifest("1.4.0", map[string]string{"linux/arm64": "BB", "darwin/arm64": "cc", "linux/amd64": "aa"}))
	want := "kapok release\nversion 1.4.0\nsha256 darwin/arm64 cc\nsha256 linux/amd64 aa\nsha256 linux/arm64 bb\n"
	if got != want {
		t.Fatalf("manifest:\n%s\nwant:\n%s", got, want)
	}
}

func signedFeed(t *testing.T) (*Feed, string) {
	t.Helper()
	pub, priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]string{"linux/amd64": strings.Repeat("ab", 32), "linux/arm64": strings.Repeat("cd", 32)}
	f := &Feed{Version: "1.4.0", URL: map[string]string{"linux/amd64": "a", "linux/arm64": "b"}, SHA256: sums,
		Signature: Sign(key, "1.4.0", sums)}
	return f, pub
}

func TestASignatureHoldsOnlyForTheVersionAndDigestsItWasMadeFor(t *testing.T) {
	f, pub := signedFeed(t)
	key, err := ParsePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Verify(key); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	otherPub, _, _ := GenerateKey()
	other, _ := ParsePublicKey(otherPub)
	for _, c := range []struct {
		name   string
		change func(*Feed)
		key    []byte
		want   error
	}{
		{"another key", func(*Feed) {}, other, ErrBadSignature},
		{"a newer version number on an old release", func(f *Feed) { f.Version = "1.5.0" }, key, ErrBadSignature},
		{"another binary's digest", func(f *Feed) { f.SHA256["linux/amd64"] = strings.Repeat("00", 32) }, key, ErrBadSignature},
		{"a platform added", func(f *Feed) { f.SHA256["windows/amd64"] = strings.Repeat("00", 32) }, key, ErrBadSignature},
		{"no signature", func(f *Feed) { f.Signature = "" }, key, ErrUnsigned},
		{"a signature that is not base64", func(f *Feed) { f.Signature = "not base64!" }, key, ErrBadSignature},
	} {
		t.Run(c.name+" is refused", func(t *testing.T) {
			g, _ := signedFeed(t)
			*g = *f
			g.SHA256 = map[string]string{}
			for k, v := range f.SHA256 {
				g.SHA256[k] = v
			}
			c.change(g)
			if err := g.Verify(c.key); !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}

func TestKeysAreCheckedWhenRead(t *testing.T) {
	for _, s := range []string{"", "bm90IGEga2V5", "%%%"} {
		if _, err := ParsePublicKey(s); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted", s)
		}
		if _, err := ParsePrivateKey(s); err == nil {
			t.Errorf("ParsePrivateKey(%q) accepted", s)
		}
	}
}

func TestParseRefusesUnknownFieldsAndAMissingVersion(t *testing.T) {
	for _, doc := range []string{`{"version":"1.0.0","urls":{}}`, `{"url":{}}`, `[]`, `{"version":"1 0"}`} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("Parse(%s) accepted", doc)
		}
	}
}

func TestABinaryURLMayBeRelativeToTheFeed(t *testing.T) {
	f, _ := signedFeed(t)
	f.URL["linux/arm64"] = "https://cdn.example.com/kapok-arm64"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(f)
	}))
	defer srv.Close()
	got, err := Fetch(context.Background(), srv.Client(), srv.URL+"/releases/stable.json")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := got.Binary("linux/amd64"); err != nil || b.URL != srv.URL+"/releases/a" {
		t.Errorf("relative: %+v %v", b, err)
	}
	if b, err := got.Binary("linux/arm64"); err != nil || b.URL != "https://cdn.example.com/kapok-arm64" {
		t.Errorf("absolute: %+v %v", b, err)
	}
	if _, err := got.Binary("plan9/386"); !errors.Is(err, ErrNoPlatform) || !strings.Contains(err.Error(), "linux/amd64, linux/arm64") {
		t.Errorf("missing platform: %v", err)
	}
}

func TestVersionsCompareAsSemanticVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
		ok   bool
	}{
		{"1.2.3", "v1.2.3", 0, true},
		{"1.2.3", "1.10.0", -1, true},
		{"2.0.0", "1.99.99", 1, true},
		{"1.0.0-rc.1", "1.0.0", -1, true},
		{"1.0.0-rc.2", "1.0.0-rc.10", -1, true},
		{"1.0.0-alpha", "1.0.0-1", 1, true},
		{"1.0.0-rc.1", "1.0.0-rc.1.1", -1, true},
		{"1.0.0+build.5", "1.0.0", 0, true},
		{"1.2", "1.2.0", 0, true},
		{"dev", "1.0.0", 0, false},
		{"(devel)", "1.0.0", 0, false},
		{"1.0.0-", "1.0.0", 0, false},
		{"1.2.3.4", "1.0.0", 0, false},
	} {
		if got, ok := Compare(c.a, c.b); got != c.want || ok != c.ok {
			t.Errorf("Compare(%q, %q) = %d, %t; want %d, %t", c.a, c.b, got, ok, c.want, c.ok)
		}
	}
}

func TestDownloadKeepsOnlyABinaryWithTheSignedDigest(t *testing.T) {
	body := []byte("#!/bin/sh\necho new\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	defer srv.Close()
	dir := t.TempDir()
	sum := sha256.Sum256(body)
	path, err := Download(context.Background(), srv.Client(), &Binary{URL: srv.URL, SHA256: sum[:]}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, body) || filepath.Dir(path) != dir {
		t.Fatalf("downloaded %q to %s", b, path)
	}
	os.Remove(path)
	wrong, _ := hex.DecodeString(strings.Repeat("00", 32))
	if _, err := Download(context.Background(), srv.Client(), &Binary{URL: srv.URL, SHA256: wrong}, dir); !errors.Is(err, ErrChecksum) {
		t.Fatalf("a wrong digest: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("left behind: %v", entries)
	}
}

func TestReplaceKeepsThePreviousBinaryAndRollbackRestoresIt(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "kapok")
	write := func(path, s string, perm os.FileMode) {
		if err := os.WriteFile(path, []byte(s), perm); err != nil {
			t.Fatal(err)
		}
	}
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	write(bin, "old", 0o755)
	write(bin+PreviousSuffix, "older", 0o755)
	staged := filepath.Join(dir, ".kapok-upgrade-1")
	write(staged, "new", 0o600)
	if err := Replace(bin, staged); err != nil {
		t.Fatal(err)
	}
	if read(bin) != "new" || read(bin+PreviousSuffix) != "old" {
		t.Fatalf("after Replace: %q, previous %q", read(bin), read(bin+PreviousSuffix))
	}
	if info, _ := os.Stat(bin); info.Mode().Perm() != 0o755 {
		t.Fatalf("the new binary has mode %v, want the old one's", info.Mode())
	}
	if _, err := os.Stat(staged); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the staged file is still there: %v", err)
	}
	if err := Rollback(bin); err != nil {
		t.Fatal(err)
	}
	if read(bin) != "old" {
		t.Fatalf("after Rollback: %q", read(bin))
	}
	if _, err := os.Stat(bin + PreviousSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the previous binary is still there after the rollback: %v", err)
	}
}

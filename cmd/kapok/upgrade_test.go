package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kapok-dev/kapok/internal/release"
)

// fakeKapok is a stand-in binary: a script that says which release it is, as `kapok
// version` does; a restart runs it, and what it printed is what the service runs.
func fakeKapok(say string) []byte {
	return []byte("#!/bin/sh\necho '" + say + "'\n")
}

// releaseServer serves a release feed and the binaries it names, by file name.
type releaseServer struct {
	*httptest.Server
	mu        sync.Mutex
	feed      []byte
	files     map[string][]byte
	downloads atomic.Int64
}

func newReleaseServer(t *testing.T) *releaseServer {
	rs := &releaseServer{files: map[string][]byte{}}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.mu.Lock()
		defer rs.mu.Unlock()
		if r.URL.Path == "/stable.json" {
			w.Header().Set("Content-Type", "application/json")
			w.Write(rs.feed)
			return
		}
		b, ok := rs.files[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		rs.downloads.Add(1)
		w.Write(b)
	}))
	t.Cleanup(rs.Close)
	return rs
}

// publish signs a release of one binary for this platform with the private key in keyFile
// (kapok upgrade sign) and serves it; change, when not nil, edits the feed first.
func (rs *releaseServer) publish(t *testing.T, keyFile, ver string, binary []byte, change func(map[string]any)) {
	t.Helper()
	dir := t.TempDir()
	name := "kapok-" + ver
	if err := os.WriteFile(filepath.Join(dir, name), binary, 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := cli(t, "upgrade", "sign", "--key", keyFile, "--version", ver, release.Platform()+"="+filepath.Join(dir, name))
	if code != 0 {
		t.Fatalf("kapok upgrade sign: %d %s", code, errOut)
	}
	if change != nil {
		var feed map[string]any
		if err := json.Unmarshal([]byte(out), &feed); err != nil {
			t.Fatal(err)
		}
		change(feed)
		b, _ := json.Marshal(feed)
		out = string(b)
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.feed = []byte(out)
	rs.files[name] = binary
}

// newSigningKey runs kapok upgrade keygen and returns the private key's file and the
// public key it printed.
func newSigningKey(t *testing.T) (keyFile, public string) {
	t.Helper()
	keyFile = filepath.Join(t.TempDir(), "release.key")
	code, out, errOut := cli(t, "upgrade", "keygen", "--out", keyFile)
	if code != 0 {
		t.Fatalf("kapok upgrade keygen: %d %s", code, errOut)
	}
	_, public, ok := strings.Cut(out, "public_key: ")
	if !ok {
		t.Fatalf("keygen printed no public key:\n%s", out)
	}
	if info, err := os.Stat(keyFile); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("private key file: %v %v", info, err)
	}
	return keyFile, strings.TrimSpace(public)
}

// install is a kapok 1.0.0 installed as a service: the binary, the file its restart
// writes, and a health URL that answers 200 unless the running release is broken.
type install struct {
	dir, bin, running, healthURL string
}

func newInstall(t *testing.T) *install {
	t.Helper()
	in := &install{dir: t.TempDir()}
	in.bin = filepath.Join(in.dir, "kapok")
	in.running = filepath.Join(t.TempDir(), "running")
	if err := os.WriteFile(in.bin, fakeKapok("kapok 1.0.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(in.running)
		if err != nil || strings.Contains(string(b), "broken") {
			http.Error(w, "unhealthy: "+string(b), http.StatusServiceUnavailable)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(health.Close)
	in.healthURL = health.URL + "/readyz"
	return in
}

func (in *install) restartCmd() string { return "'" + in.bin + "' > '" + in.running + "'" }

// runs executes path, as a restart would, and returns what it says.
func runs(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command(path).Output()
	if err != nil {
		t.Fatalf("run %s: %v", path, err)
	}
	return strings.TrimSpace(string(out))
}

// files lists the names in dir: nothing staged may be left behind.
func files(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

func TestUpgradeInstallsOnlyASignedReleaseAndRollsBackAnUnhealthyOne(t *testing.T) {
	defer func(v string) { version = v }(version)
	version = "1.0.0"
	key, public := newSigningKey(t)
	otherKey, _ := newSigningKey(t)
	rs := newReleaseServer(t)
	feed := rs.URL + "/stable.json"
	upgrade := func(in *install, extra ...string) (int, string, string) {
		t.Helper()
		return cli(t, append([]string{"upgrade", "--feed", feed, "--public-key", public, "--binary", in.bin}, extra...)...)
	}
	// refused checks a run that must leave the install as it was, without a download.
	refused := func(t *testing.T, in *install, want string, downloads int64, extra ...string) {
		t.Helper()
		before := rs.downloads.Load()
		code, out, errOut := upgrade(in, extra...)
		if code != exitFailed || !strings.Contains(errOut, want) || !strings.Contains(errOut, "nothing was changed") {
			t.Fatalf("exit %d, want %d with %q\nstdout: %s\nstderr: %s", code, exitFailed, want, out, errOut)
		}
		if got := runs(t, in.bin); got != "kapok 1.0.0" || files(t, in.dir) != "kapok" {
			t.Fatalf("the install changed: it says %q, its directory holds %s", got, files(t, in.dir))
		}
		if got := rs.downloads.Load() - before; got != downloads {
			t.Fatalf("%d downloads, want %d", got, downloads)
		}
	}

	t.Run("--check reports a newer signed release and changes nothing", func(t *testing.T) {
		rs.publish(t, key, "1.1.0", fakeKapok("kapok 1.1.0"), nil)
		in := newInstall(t)
		code, out, errOut := upgrade(in, "--check")
		if code != 0 || !strings.Contains(out, "kapok 1.0.0: release 1.1.0 is available, signed ("+rs.URL+"/kapok-1.1.0)") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		if runs(t, in.bin) != "kapok 1.0.0" || files(t, in.dir) != "kapok" || rs.downloads.Load() != 0 {
			t.Fatal("--check changed the install or downloaded")
		}
	})

	t.Run("a good signature: replaced, the old binary kept, restarted and healthy", func(t *testing.T) {
		rs.publish(t, key, "1.1.0", fakeKapok("kapok 1.1.0"), nil)
		in := newInstall(t)
		// Feed and key from the config file, as an install would have them.
		config := filepath.Join(t.TempDir(), "kapok.yaml")
		if err := os.WriteFile(config, []byte("upgrade:\n  feed_url: "+feed+"\n  public_key: "+public+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := cli(t, "upgrade", "--config", config, "--binary", in.bin, "--restart-cmd", in.restartCmd(), "--health-url", in.healthURL)
		if code != 0 {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		for _, want := range []string{"installed kapok 1.1.0 at " + in.bin + "; kapok 1.0.0 kept as " + in.bin + ".previous", "restarted on kapok 1.1.0; " + in.healthURL + " answers"} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q:\n%s", want, out)
			}
		}
		if got, prev := runs(t, in.bin), runs(t, in.bin+".previous"); got != "kapok 1.1.0" || prev != "kapok 1.0.0" {
			t.Fatalf("installed %q, previous %q", got, prev)
		}
		if b, _ := os.ReadFile(in.running); strings.TrimSpace(string(b)) != "kapok 1.1.0" {
			t.Fatalf("the service runs %q", b)
		}
		if got := files(t, in.dir); got != "kapok kapok.previous" {
			t.Fatalf("the directory holds %s", got)
		}
		// The version compiled in is what a release is compared with.
		version = "1.1.0"
		defer func() { version = "1.0.0" }()
		if code, out, _ := cli(t, "upgrade", "--config", config, "--binary", in.bin); code != 0 || !strings.Contains(out, "kapok 1.1.0 is up to date") {
			t.Fatalf("once at 1.1.0: exit %d %s", code, out)
		}
	})

	t.Run("signed with another key: refused before any download", func(t *testing.T) {
		rs.publish(t, otherKey, "1.1.0", fakeKapok("kapok 1.1.0"), nil)
		refused(t, newInstall(t), "the release's signature does not match the public key", 0)
	})

	t.Run("unsigned: refused", func(t *testing.T) {
		rs.publish(t, key, "1.1.0", fakeKapok("kapok 1.1.0"), func(f map[string]any) { delete(f, "signature") })
		refused(t, newInstall(t), "the release is not signed", 0)
	})

	t.Run("a signed release relabelled as a newer version: refused", func(t *testing.T) {
		rs.publish(t, key, "1.1.0", fakeKapok("kapok 1.1.0"), func(f map[string]any) { f["version"] = "9.0.0" })
		refused(t, newInstall(t), "signature does not match", 0)
	})

	t.Run("a binary other than the signed one: refused, nothing staged left", func(t *testing.T) {
		rs.publish(t, key, "1.1.0", fakeKapok("kapok 1.1.0"), nil)
		rs.mu.Lock()
		rs.files["kapok-1.1.0"] = fakeKapok("kapok 1.1.0, tampered")
		rs.mu.Unlock()
		refused(t, newInstall(t), "SHA-256 differs from the signed one", 1)
	})

	t.Run("an older release: refused unless --allow-downgrade", func(t *testing.T) {
		rs.publish(t, key, "0.9.0", fakeKapok("kapok 0.9.0"), nil)
		refused(t, newInstall(t), "older than this kapok (1.0.0); --allow-downgrade installs it", 0)
		in := newInstall(t)
		if code, out, errOut := upgrade(in, "--allow-downgrade"); code != 0 || runs(t, in.bin) != "kapok 0.9.0" {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
	})

	t.Run("an unhealthy release: rolled back and restarted on the old binary", func(t *testing.T) {
		rs.publish(t, key, "1.2.0", fakeKapok("kapok 1.2.0 broken"), nil)
		in := newInstall(t)
		code, out, errOut := upgrade(in, "--restart-cmd", in.restartCmd(), "--health-url", in.healthURL, "--health-timeout", "1s")
		if code != exitFailed {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		for _, want := range []string{"kapok 1.2.0 failed after the restart: " + in.healthURL + " did not answer 2xx within 1s (last: 503 Service Unavailable unhealthy: kapok 1.2.0 broken)",
			"rolled back: " + in.bin + " is kapok 1.0.0 again", "restarted on kapok 1.0.0; " + in.healthURL + " answers"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errOut)
			}
		}
		if got := runs(t, in.bin); got != "kapok 1.0.0" || files(t, in.dir) != "kapok" {
			t.Fatalf("after the rollback the binary says %q, the directory holds %s", got, files(t, in.dir))
		}
		if b, _ := os.ReadFile(in.running); strings.TrimSpace(string(b)) != "kapok 1.0.0" {
			t.Fatalf("after the rollback the service runs %q", b)
		}
	})

	t.Run("without a public key nothing is installed", func(t *testing.T) {
		in := newInstall(t)
		code, _, errOut := cli(t, "upgrade", "--feed", feed, "--binary", in.bin, "--config", filepath.Join(t.TempDir(), "none.yaml"))
		if code == 0 || !strings.Contains(errOut, "read config") {
			t.Fatalf("a missing config file: exit %d %s", code, errOut)
		}
		empty := filepath.Join(t.TempDir(), "kapok.yaml")
		if err := os.WriteFile(empty, []byte("upgrade:\n  feed_url: "+feed+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, errOut = cli(t, "upgrade", "--config", empty, "--binary", in.bin)
		if code != exitUsage || !strings.Contains(errOut, "no public key: kapok upgrade installs only releases signed") {
			t.Fatalf("exit %d %s", code, errOut)
		}
	})
}

// TestTheBuiltBinaryUpgradesItself runs kapok as built by the Makefile: `kapok version`
// names the version set at build time, and `kapok upgrade` without --binary replaces the
// very file it runs from, keeping it as kapok.previous.
func TestTheBuiltBinaryUpgradesItself(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "kapok")
	b, err := os.ReadFile(kapokBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "version").Output(); err != nil || !strings.HasPrefix(string(out), "kapok "+testBuildVersion+"\n") {
		t.Fatalf("kapok version: %v\n%s", err, out)
	}
	key, public := newSigningKey(t)
	rs := newReleaseServer(t)
	rs.publish(t, key, "1.1.0", fakeKapok("kapok 1.1.0"), nil)
	cmd := exec.Command(bin, "upgrade", "--feed", rs.URL+"/stable.json", "--public-key", public)
	cmd.Dir = dir // no configs/kapok.yaml here
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "installed kapok 1.1.0 at "+bin+"; kapok "+testBuildVersion+" kept as "+bin+".previous") {
		t.Fatalf("kapok upgrade: %v\n%s", err, out)
	}
	if got := runs(t, bin); got != "kapok 1.1.0" {
		t.Fatalf("the upgraded binary says %q", got)
	}
	if out, err := exec.Command(bin+".previous", "version").Output(); err != nil || !strings.HasPrefix(string(out), "kapok "+testBuildVersion+"\n") {
		t.Fatalf("the previous binary: %v\n%s", err, out)
	}
}

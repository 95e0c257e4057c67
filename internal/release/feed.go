package release

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"sort"
	"strings"
)

// Typed errors: the command tells the operator which check refused the release.
var (
	// ErrUnsigned: the feed carries no signature.
	ErrUnsigned = errors.New("the release is not signed")
	// ErrBadSignature: the signature does not verify with the configured public key.
	ErrBadSignature = errors.New("the release's signature does not match the public key")
	// ErrChecksum: the downloaded binary is not the one the feed signed.
	ErrChecksum = errors.New("the downloaded binary's SHA-256 differs from the signed one")
	// ErrNoPlatform: the feed has no binary for this platform.
	ErrNoPlatform = errors.New("the release has no binary for this platform")
)

// maxFeedBytes caps a feed document: it lists a few platforms, never more.
const maxFeedBytes = 1 << 20

// Feed is a release feed's document.
type Feed struct {
	Version   string            `json:"version"`
	URL       map[string]string `json:"url"`
	SHA256    map[string]string `json:"sha256"`
	Signature string            `json:"signature"`

	// base is the feed's own URL, which relative binary URLs resolve against.
	base *url.URL
}

// Platform names this process's platform as feeds key it: GOOS/GOARCH.
func Platform() string { return runtime.GOOS + "/" + runtime.GOARCH }

// Manifest is the text a release's signature covers: a header line, the version, then
// one line per platform, sorted, with its binary's SHA-256 in lower-case hex.
func Manifest(version string, sha256 map[string]string) []byte {
	platforms := make([]string, 0, len(sha256))
	for p := range sha256 {
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)
	var b bytes.Buffer
	fmt.Fprintf(&b, "kapok release\nversion %s\n", version)
	for _, p := range platforms {
		fmt.Fprintf(&b, "sha256 %s %s\n", p, strings.ToLower(sha256[p]))
	}
	return b.Bytes()
}

// Sign returns the base64 signature of the release's manifest.
func Sign(key ed25519.PrivateKey, version string, sha256 map[string]string) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, Manifest(version, sha256)))
}

// GenerateKey makes a signing key pair, both base64: the private key as its 32-byte seed.
func GenerateKey() (public, private string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	return base64.StdEncoding.EncodeToString(pub), base64.StdEncoding.EncodeToString(priv.Seed()), nil
}

// ParsePublicKey reads a base64 ed25519 public key (upgrade.public_key).
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("public key: not base64: %w", err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key: %d bytes, an ed25519 public key has %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// ParsePrivateKey reads a base64 ed25519 private key: its seed, or the seed and public key.
func ParsePrivateKey(s string) (ed25519.PrivateKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("private key: not base64: %w", err)
	}
	switch len(b) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(b), nil
	case ed25519.PrivateKeySize:
		return ed25519.NewKeyFromSeed(b[:ed25519.SeedSize]), nil
	}
	return nil, fmt.Errorf("private key: %d bytes, want a %d-byte ed25519 seed", len(b), ed25519.SeedSize)
}

// Fetch reads and parses the feed at rawURL.
func Fetch(ctx context.Context, client *http.Client, rawURL string) (*Feed, error) {
	base, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("feed url: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch the feed: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch the feed %s: %s", rawURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxFeedBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch the feed: %w", err)
	}
	if len(body) > maxFeedBytes {
		return nil, fmt.Errorf("the feed %s is larger than %d bytes", rawURL, maxFeedBytes)
	}
	f, err := Parse(body)
	if err != nil {
		return nil, fmt.Errorf("the feed %s: %w", rawURL, err)
	}
	f.base = base
	return f, nil
}

// Parse reads a feed document, refusing unknown fields and a release without a version.
func Parse(b []byte) (*Feed, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	f := &Feed{}
	if err := dec.Decode(f); err != nil {
		return nil, fmt.Errorf("not a release feed: %w", err)
	}
	if f.Version == "" || strings.ContainsAny(f.Version, " \n") {
		return nil, fmt.Errorf("not a release feed: version %q", f.Version)
	}
	return f, nil
}

// Verify checks the feed's signature over its manifest with key.
func (f *Feed) Verify(key ed25519.PublicKey) error {
	if strings.TrimSpace(f.Signature) == "" {
		return ErrUnsigned
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(f.Signature))
	if err != nil || len(sig) != ed25519.SignatureSize || !ed25519.Verify(key, Manifest(f.Version, f.SHA256), sig) {
		return ErrBadSignature
	}
	return nil
}

// Binary is one platform's binary of a release.
type Binary struct {
	Platform string
	URL      string
	SHA256   []byte
}

// Binary returns the release's binary for platform, its URL resolved against the feed's.
func (f *Feed) Binary(platform string) (*Binary, error) {
	raw, ok := f.URL[platform]
	sum, signed := f.SHA256[platform]
	if !ok || !signed {
		have := make([]string, 0, len(f.URL))
		for p := range f.URL {
			if _, ok := f.SHA256[p]; ok {
				have = append(have, p)
			}
		}
		sort.Strings(have)
		return nil, fmt.Errorf("%w %s (it has: %s)", ErrNoPlatform, platform, strings.Join(have, ", "))
	}
	digest, err := hex.DecodeString(sum)
	if err != nil || len(digest) != 32 {
		return nil, fmt.Errorf("the feed's sha256 for %s is not 64 hex digits", platform)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("the feed's url for %s: %w", platform, err)
	}
	if f.base != nil {
		u = f.base.ResolveReference(u)
	}
	return &Binary{Platform: platform, URL: u.String(), SHA256: digest}, nil
}

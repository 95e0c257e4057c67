package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/release"
)

const upgradeLong = `Reads the release feed (upgrade.feed_url in the config file, or --feed), checks the
release's ed25519 signature with upgrade.public_key (or --public-key): an unsigned or badly
signed release is refused and nothing changes. The binary for this platform is downloaded
next to the installed one, checked against the signed SHA-256, and renamed over it
atomically; the binary it replaced stays as <binary>.previous. With --restart-cmd the
service is restarted (the command returns once it has been, as systemctl restart does),
and with --health-url it must then answer 2xx within --health-timeout, or the previous
binary is put back and the service restarted on it.

The feed: {"version": "1.4.0", "url": {"linux/amd64": "kapok-1.4.0-linux-amd64", ...},
"sha256": {"linux/amd64": "<hex>", ...}, "signature": "<base64>"}; the signature covers
the version and every platform's SHA-256 (kapok upgrade sign writes it; urls may be
relative to the feed). A release older than this binary is refused unless
--allow-downgrade.

In Kubernetes, do not upgrade the binary inside a pod: change the image tag and let the
chart's rolling update replace the pods one at a time, each draining on SIGTERM.`

type upgradeFlags struct {
	config, feed, publicKey, binary, restartCmd, healthURL string
	healthTimeout                                          time.Duration
	check, allowDowngrade                                  bool
}

func registerUpgradeFlags(fs *flag.FlagSet, f *upgradeFlags) {
	fs.StringVar(&f.config, "config", "", "configuration file with the upgrade section (default configs/kapok.yaml when present)")
	fs.StringVar(&f.feed, "feed", "", "release feed URL (default: upgrade.feed_url)")
	fs.StringVar(&f.publicKey, "public-key", "", "base64 ed25519 public key releases must be signed with (default: upgrade.public_key)")
	fs.BoolVar(&f.check, "check", false, "only report whether a newer signed release is available; change nothing")
	fs.StringVar(&f.binary, "binary", "", "the binary to replace (default: this kapok's own executable)")
	fs.StringVar(&f.restartCmd, "restart-cmd", "", "shell command that restarts the service after the binary is replaced (and again after a rollback), e.g. 'systemctl restart kapok'")
	fs.StringVar(&f.healthURL, "health-url", "", "after --restart-cmd, this URL must answer 2xx (e.g. http://127.0.0.1:8080/readyz), or the upgrade is rolled back")
	fs.DurationVar(&f.healthTimeout, "health-timeout", 30*time.Second, "how long the restarted service has to answer --health-url")
	fs.BoolVar(&f.allowDowngrade, "allow-downgrade", false, "install the feed's release even when it is older than this binary")
}

// upgradeCommand runs `kapok upgrade` and its `keygen` and `sign` commands.
func upgradeCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "keygen":
			return upgradeKeygen(args[1:], stdout, stderr)
		case "sign":
			return upgradeSign(args[1:], stdout, stderr)
		}
	}
	var f upgradeFlags
	fs := flag.NewFlagSet("upgrade", flag.ContinueOnError)
	usageHint(fs, stderr, "kapok upgrade")
	registerUpgradeFlags(fs, &f)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kapok upgrade: unexpected argument %q; see 'kapok upgrade --help'\n", fs.Arg(0))
		return exitUsage
	}
	if f.healthURL != "" && f.restartCmd == "" {
		fmt.Fprintln(stderr, "kapok upgrade: --health-url checks the restarted service: give --restart-cmd too")
		return exitUsage
	}
	uc, err := upgradeSettings(f)
	if err != nil {
		fmt.Fprintln(stderr, "kapok upgrade:", err)
		return exitUsage
	}
	bi, ok := debug.ReadBuildInfo()
	u := &upgrader{flags: f, feedURL: uc.FeedURL, current: releaseVersion(version, bi, ok), stdout: stdout, stderr: stderr,
		client: &http.Client{}}
	if u.key, err = release.ParsePublicKey(uc.PublicKey); err != nil {
		fmt.Fprintf(stderr, "kapok upgrade: upgrade.public_key: %v\n", err)
		return exitUsage
	}
	return u.run(ctx)
}

// upgradeSettings reads the upgrade section of the config file and applies the flags.
func upgradeSettings(f upgradeFlags) (control.UpgradeConfig, error) {
	path := f.config
	if path == "" && fileExists("configs/kapok.yaml") {
		path = "configs/kapok.yaml"
	}
	cfg, err := control.LoadConfig(path)
	if err != nil {
		return control.UpgradeConfig{}, err
	}
	uc := cfg.Upgrade
	if f.feed != "" {
		uc.FeedURL = f.feed
	}
	if f.publicKey != "" {
		uc.PublicKey = f.publicKey
	}
	if uc.FeedURL == "" {
		return uc, errors.New("no release feed: set upgrade.feed_url in the config file, or give --feed URL")
	}
	if uc.PublicKey == "" {
		return uc, errors.New("no public key: kapok upgrade installs only releases signed with the key it is given; " +
			"set upgrade.public_key in the config file, or give --public-key (the publisher's, from 'kapok upgrade keygen')")
	}
	return uc, nil
}

// upgrader is one run of `kapok upgrade`.
type upgrader struct {
	flags          upgradeFlags
	feedURL        string
	key            []byte
	current        string
	client         *http.Client
	stdout, stderr io.Writer
}

func (u *upgrader) refuse(format string, a ...any) int {
	fmt.Fprintf(u.stderr, "kapok upgrade: refused: "+format+"; nothing was changed\n", a...)
	return exitFailed
}

func (u *upgrader) run(ctx context.Context) int {
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	feed, err := release.Fetch(fctx, u.client, u.feedURL)
	cancel()
	if err != nil {
		fmt.Fprintln(u.stderr, "kapok upgrade:", err)
		return exitFailed
	}
	if err := feed.Verify(u.key); err != nil {
		return u.refuse("release %s of %s: %v", feed.Version, u.feedURL, err)
	}
	order, comparable := release.Compare(feed.Version, u.current)
	switch {
	case comparable && order == 0:
		fmt.Fprintf(u.stdout, "kapok %s is up to date (%s)\n", u.current, u.feedURL)
		return exitOK
	case comparable && order < 0 && !u.flags.allowDowngrade:
		return u.refuse("the feed offers %s, older than this kapok (%s); --allow-downgrade installs it", feed.Version, u.current)
	}
	bin, err := feed.Binary(release.Platform())
	if err != nil {
		return u.refuse("release %s: %v", feed.Version, err)
	}
	if u.flags.check {
		fmt.Fprintf(u.stdout, "kapok %s: release %s is available, signed (%s)\nrun 'kapok upgrade' to install it\n", u.current, feed.Version, bin.URL)
		return exitOK
	}
	target, err := u.target()
	if err != nil {
		fmt.Fprintln(u.stderr, "kapok upgrade:", err)
		return exitFailed
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	staged, err := release.Download(dctx, u.client, bin, filepath.Dir(target))
	cancel()
	if errors.Is(err, release.ErrChecksum) {
		return u.refuse("release %s: %v", feed.Version, err)
	}
	if err != nil {
		fmt.Fprintf(u.stderr, "kapok upgrade: %v; nothing was changed\n", err)
		return exitFailed
	}
	if err := release.Replace(target, staged); err != nil {
		os.Remove(staged)
		fmt.Fprintf(u.stderr, "kapok upgrade: cannot replace %s: %v\n", target, err)
		return exitFailed
	}
	previous := target + release.PreviousSuffix
	fmt.Fprintf(u.stdout, "installed kapok %s at %s; kapok %s kept as %s\n", feed.Version, target, u.current, previous)
	if u.flags.restartCmd == "" {
		fmt.Fprintln(u.stdout, "restart the service to run it")
		return exitOK
	}
	if err := u.restart(ctx); err != nil {
		fmt.Fprintf(u.stderr, "kapok upgrade: kapok %s failed after the restart: %v\n", feed.Version, err)
		if err := release.Rollback(target); err != nil {
			fmt.Fprintf(u.stderr, "kapok upgrade: the rollback failed too: %v\nput %s back as %s by hand and restart\n", err, previous, target)
			return exitFailed
		}
		fmt.Fprintf(u.stderr, "kapok upgrade: rolled back: %s is kapok %s again\n", target, u.current)
		if err := u.restart(ctx); err != nil {
			fmt.Fprintf(u.stderr, "kapok upgrade: the restart on kapok %s failed as well: %v\n", u.current, err)
		} else {
			fmt.Fprintf(u.stderr, "kapok upgrade: restarted on kapok %s%s\n", u.current, u.healthNote())
		}
		return exitFailed
	}
	fmt.Fprintf(u.stdout, "restarted on kapok %s%s\n", feed.Version, u.healthNote())
	return exitOK
}

func (u *upgrader) healthNote() string {
	if u.flags.healthURL == "" {
		return ""
	}
	return "; " + u.flags.healthURL + " answers"
}

// target is the binary to replace: --binary, or this process's executable with symlinks
// resolved (the file a symlink names is replaced, and the symlink keeps naming it).
func (u *upgrader) target() (string, error) {
	path := u.flags.binary
	if path == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("cannot find this kapok's executable (give --binary): %w", err)
		}
		path = exe
	}
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", err
	}
	return filepath.Abs(resolved)
}

// restart runs --restart-cmd, then waits for --health-url to answer 2xx.
func (u *upgrader) restart(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(rctx, "sh", "-c", u.flags.restartCmd)
	cmd.Stdout, cmd.Stderr = u.stdout, u.stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("--restart-cmd: %w", err)
	}
	if u.flags.healthURL == "" {
		return nil
	}
	return waitHealthy(ctx, u.client, u.flags.healthURL, u.flags.healthTimeout)
}

// waitHealthy polls url until it answers 2xx, for at most limit.
func waitHealthy(ctx context.Context, client *http.Client, url string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	last := "no answer"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
			last = fmt.Sprintf("%s %s", resp.Status, strings.TrimSpace(string(body)))
		} else if ctx.Err() == nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer 2xx within %s (last: %s)", url, limit, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// upgradeKeygen runs `kapok upgrade keygen --out FILE`.
func upgradeKeygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("upgrade keygen", flag.ContinueOnError)
	usageHint(fs, stderr, "kapok upgrade keygen")
	out := fs.String("out", "", "file to write the private key to (base64; created, never overwritten, mode 0600)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "kapok upgrade keygen: give --out FILE and nothing else; see 'kapok upgrade keygen --help'")
		return exitUsage
	}
	pub, priv, err := release.GenerateKey()
	if err != nil {
		fmt.Fprintln(stderr, "kapok upgrade keygen:", err)
		return exitFailed
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		fmt.Fprintln(stderr, "kapok upgrade keygen:", err)
		return exitFailed
	}
	if _, err := fmt.Fprintln(f, priv); err != nil {
		f.Close()
		fmt.Fprintln(stderr, "kapok upgrade keygen:", err)
		return exitFailed
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(stderr, "kapok upgrade keygen:", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "private key written to %s: keep it where releases are signed, and nowhere else\n", *out)
	fmt.Fprintf(stdout, "public key, for the config file of every install:\n\nupgrade:\n  public_key: %s\n", pub)
	return exitOK
}

// upgradeSign runs `kapok upgrade sign`: it prints a signed feed for the given binaries.
func upgradeSign(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("upgrade sign", flag.ContinueOnError)
	usageHint(fs, stderr, "kapok upgrade sign")
	keyFile := fs.String("key", "", "the private key file ('kapok upgrade keygen --out')")
	ver := fs.String("version", "", "the release's version, e.g. 1.4.0")
	baseURL := fs.String("base-url", "", "where the binaries will be served (default: next to the feed, by file name)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	if *keyFile == "" || *ver == "" || len(pos) == 0 {
		fmt.Fprintln(stderr, "kapok upgrade sign: give --key, --version and at least one PLATFORM=FILE (e.g. linux/amd64=dist/kapok-linux-amd64)")
		return exitUsage
	}
	if _, ok := release.Compare(*ver, *ver); !ok {
		fmt.Fprintf(stderr, "kapok upgrade sign: --version %q is not a version like 1.4.0\n", *ver)
		return exitUsage
	}
	b, err := os.ReadFile(*keyFile)
	if err != nil {
		fmt.Fprintln(stderr, "kapok upgrade sign:", err)
		return exitFailed
	}
	key, err := release.ParsePrivateKey(string(b))
	if err != nil {
		fmt.Fprintln(stderr, "kapok upgrade sign:", err)
		return exitFailed
	}
	feed := release.Feed{Version: *ver, URL: map[string]string{}, SHA256: map[string]string{}}
	for _, p := range pos {
		platform, file, ok := strings.Cut(p, "=")
		if !ok || strings.Count(platform, "/") != 1 || file == "" {
			fmt.Fprintf(stderr, "kapok upgrade sign: %q is not PLATFORM=FILE (e.g. linux/amd64=dist/kapok-linux-amd64)\n", p)
			return exitUsage
		}
		sum, err := release.FileSHA256(file)
		if err != nil {
			fmt.Fprintln(stderr, "kapok upgrade sign:", err)
			return exitFailed
		}
		feed.SHA256[platform] = sum
		feed.URL[platform] = filepath.Base(file)
		if *baseURL != "" {
			feed.URL[platform] = strings.TrimSuffix(*baseURL, "/") + "/" + filepath.Base(file)
		}
	}
	feed.Signature = release.Sign(key, feed.Version, feed.SHA256)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(feed); err != nil {
		fmt.Fprintln(stderr, "kapok upgrade sign:", err)
		return exitFailed
	}
	return exitOK
}

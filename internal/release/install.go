package release

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
)

// maxBinaryBytes caps a download: Kapok's binary is tens of megabytes.
const maxBinaryBytes = 1 << 30

// PreviousSuffix names the copy of the replaced binary kept for a rollback: kapok.previous.
const PreviousSuffix = ".previous"

// Download fetches b into a new file in dir (the installed binary's directory, so that
// the final rename stays on one file system) and checks its SHA-256. It returns the
// file's path; on any error nothing is left behind.
func Download(ctx context.Context, client *http.Client, b *Binary, dir string) (path string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.URL, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", b.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("download %s: %s", b.URL, resp.Status)
	}
	f, err := os.CreateTemp(dir, ".kapok-upgrade-*")
	if err != nil {
		return "", fmt.Errorf("cannot write next to the binary: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(resp.Body, maxBinaryBytes+1))
	if err != nil {
		return "", fmt.Errorf("download %s: %w", b.URL, err)
	}
	if n > maxBinaryBytes {
		return "", fmt.Errorf("download %s: larger than %d bytes", b.URL, maxBinaryBytes)
	}
	if got := h.Sum(nil); !bytes.Equal(got, b.SHA256) {
		return "", fmt.Errorf("%w: got %x, signed %x", ErrChecksum, got, b.SHA256)
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// Replace installs staged (a file in bin's directory) as bin. The binary in place is kept
// as bin.previous first, by a hard link (a copy where links are not supported), and the
// rename that follows is atomic: at every instant bin is the old binary or the new one,
// never a missing or partly written file. A running process keeps executing the old one.
func Replace(bin, staged string) error {
	info, err := os.Stat(bin)
	if err != nil {
		return err
	}
	if err := os.Chmod(staged, info.Mode().Perm()); err != nil {
		return err
	}
	previous := bin + PreviousSuffix
	if err := os.Remove(previous); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the older %s: %w", previous, err)
	}
	if err := os.Link(bin, previous); err != nil {
		if err := copyFile(bin, previous, info.Mode().Perm()); err != nil {
			return fmt.Errorf("keep the current binary as %s: %w", previous, err)
		}
	}
	if err := os.Rename(staged, bin); err != nil {
		return err
	}
	return syncDir(filepath.Dir(bin))
}

// Rollback puts bin.previous back in place of bin, atomically.
func Rollback(bin string) error {
	if err := os.Rename(bin+PreviousSuffix, bin); err != nil {
		return err
	}
	return syncDir(filepath.Dir(bin))
}

func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// syncDir makes a rename in dir durable across a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// FileSHA256 is the SHA-256 of the file at path, in lower-case hex, as feeds carry it.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

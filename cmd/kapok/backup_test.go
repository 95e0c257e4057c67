package main

import (
	"strings"
	"testing"
)

// The restores themselves are tested against a cluster of their own in internal/backup;
// here, that the command refuses what does not go together before it touches anything.
func TestBackupRestoreRefusesFlagsThatDoNotGoTogether(t *testing.T) {
	for _, tt := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"without a time", []string{"--tenant", "acme"}, "--to TIME is required"},
		{"with a time it cannot read", []string{"--to", "yesterday"}, "use RFC 3339"},
		{"one tenant to the latest time", []string{"--to", "latest", "--tenant", "acme"}, "--tenant needs a time"},
		{"one tenant into a target directory", []string{"--to", "2025-03-01T14:05:00Z", "--tenant", "acme", "--target-dir", "/tmp/x"}, "whole-cluster restore"},
		{"a port without a target directory", []string{"--to", "latest", "--port", "5499"}, "--port goes with --target-dir"},
		{"--drop-old without a tenant", []string{"--to", "latest", "--drop-old"}, "go with --tenant"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := cli(t, append([]string{"backup", "restore"}, tt.args...)...)
			if code != exitUsage || out != "" || !strings.Contains(errs, tt.stderr) || strings.Count(errs, "\n") != 1 {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errs, exitUsage, tt.stderr)
			}
		})
	}
	code, _, errs := cli(t, "backup", "list", "--dir", t.TempDir())
	if code != exitFailed || !strings.Contains(errs, "which cluster?") {
		t.Errorf("list of an empty backup directory without --config: exit %d, %s", code, errs)
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/backup"
	"github.com/kapok-dev/kapok/internal/devstack"
)

const backupLong = `Backups are pgBackRest's (Debian's package, installed by setup when missing and run as
root), of the PostgreSQL cluster of an upstream in --config, which must run on this
machine. setup turns WAL archiving on: archive_mode takes effect at PostgreSQL's next
restart (--restart-cmd, or restart it yourself and run setup again; with --dev the dev
stack's PostgreSQL is restarted). restore --to TIME brings the whole cluster back into
another data directory (--target-dir) or in place of the stopped cluster; with --tenant T
only that tenant's schemas (or its database) are brought back, from a copy restored into a
scratch directory, and the other tenants are not touched.

flags (every command): --config, --upstream, --dir, --stanza, --dev`

// defaultBackupDir is where a server's backups live unless told otherwise.
const defaultBackupDir = "/var/lib/kapok/backup"

type backupFlags struct {
	config, upstream, dir, stanza string
	dev                           bool
}

func registerBackupFlags(fs *flag.FlagSet, f *backupFlags) {
	fs.StringVar(&f.config, "config", "", "Kapok's configuration file: the upstream to back up and the tenants (default configs/kapok.yaml when present)")
	fs.StringVar(&f.upstream, "upstream", "", "the upstream whose cluster is backed up (default: the control tables' upstream)")
	fs.StringVar(&f.dir, "dir", "", "backup directory: pgbackrest.conf and the repository (default "+defaultBackupDir+", or the dev stack's backup/ with --dev)")
	fs.StringVar(&f.stanza, "stanza", backup.DefaultStanza, "pgBackRest stanza name")
	fs.BoolVar(&f.dev, "dev", false, "back up the dev stack's cluster (./.kapok), which setup restarts")
}

// backupCommand runs `kapok backup setup|run|list|restore`.
func backupCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "kapok backup: a command is required; see 'kapok backup --help'")
		return exitUsage
	}
	sub, args := args[0], args[1:]
	path := "kapok backup " + sub
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	usageHint(fs, stderr, path)
	var f backupFlags
	registerBackupFlags(fs, &f)
	var (
		compress, restartCmd, typ, to, tenant, targetDir string
		retention, port                                  int
		asJSON, dropOld, keepScratch                     bool
	)
	switch sub {
	case "setup":
		fs.StringVar(&compress, "compress", "zst", "compression: "+strings.Join(backup.Compressions, ", "))
		fs.IntVar(&retention, "retention-full", 2, "full backups to keep (older ones expire, with the WAL only they need)")
		fs.StringVar(&restartCmd, "restart-cmd", "", "shell command that restarts PostgreSQL when archive_mode needs it, e.g. 'systemctl restart postgresql@16-main'")
	case "run":
		fs.StringVar(&typ, "type", "full", "full, diff (changes since the last full) or incr (since the last backup)")
	case "list":
		fs.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	case "restore":
		fs.StringVar(&to, "to", "", "the time to restore to: 2025-03-01T14:05:00Z or 2025-03-01 14:05:00+00 (whole cluster: also 'latest')")
		fs.StringVar(&tenant, "tenant", "", "restore this tenant only, into the live cluster, leaving the others as they are")
		fs.StringVar(&targetDir, "target-dir", "", "whole cluster: the data directory to restore into (new or empty; default the cluster's own, which must be stopped)")
		fs.IntVar(&port, "port", 0, "whole cluster into --target-dir: the port the copy will listen on")
		fs.BoolVar(&dropOld, "drop-old", false, "--tenant: drop the live schemas (or database) instead of keeping them as *_before_restore_<time>")
		fs.BoolVar(&keepScratch, "keep-scratch", false, "--tenant: keep the scratch copy's directory")
	default:
		fmt.Fprintf(stderr, "kapok backup: unknown command %q; see 'kapok backup --help'\n", sub)
		return exitUsage
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q; see '%s --help'\n", path, fs.Arg(0), path)
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "%s: %v\n", path, err)
		return exitFailed
	}
	r := restoreFlags{to: to, tenant: tenant, targetDir: targetDir, port: port, dropOld: dropOld, keepScratch: keepScratch}
	if sub == "restore" {
		if err := r.check(); err != nil {
			fmt.Fprintf(stderr, "%s: %v; see '%s --help'\n", path, err, path)
			return exitUsage
		}
	}
	target, err := backupTarget(ctx, f)
	if err != nil {
		return fail(err)
	}

	switch sub {
	case "setup":
		if target.url == "" {
			return fail(errors.New("which cluster? give --config with its upstream (or --dev for the dev stack)"))
		}
		o := backup.SetupOptions{Dir: target.dir, Stanza: f.stanza, URL: target.url, Compress: compress, RetentionFull: retention, Out: stdout}
		switch {
		case f.dev:
			o.Restart = func(ctx context.Context) error { return devstack.RestartPostgres(ctx, target.devDir) }
		case restartCmd != "":
			o.Restart = func(ctx context.Context) error {
				cmd := exec.CommandContext(ctx, "sh", "-c", restartCmd)
				cmd.Stdout, cmd.Stderr = stdout, stderr
				return cmd.Run()
			}
		}
		_, err := backup.Setup(ctx, o)
		if errors.Is(err, backup.ErrRestartNeeded) {
			fmt.Fprintf(stderr, "%s: WAL archiving is configured, but %v (or give --restart-cmd)\n", path, err)
			return exitFailed
		}
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "next: %s (a first full backup), then every day or so from cron\n", backupNext(f, "run"))
		return exitOK
	case "run":
		st, err := backup.Open(target.dir, f.stanza, target.url)
		if err != nil {
			return fail(err)
		}
		began := time.Now()
		b, err := st.Run(ctx, typ)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "backup %s (%s) in %s: %s of data, %s copied, %s stored (%s compressed); WAL %s to %s\n",
			b.Label, b.Type, time.Since(began).Round(time.Millisecond), humanBytes(b.Size), humanBytes(b.Delta),
			humanBytes(b.RepoDelta), st.Compress, b.WALStart, b.WALStop)
		return exitOK
	case "list":
		st, err := backup.Open(target.dir, f.stanza, target.url)
		if err != nil {
			return fail(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			return fail(err)
		}
		if asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(info)
			return exitOK
		}
		printBackups(stdout, info)
		return exitOK
	default: // restore
		return backupRestore(ctx, f, target, r, stdout, stderr)
	}
}

type restoreFlags struct {
	to, tenant, targetDir string
	port                  int
	dropOld, keepScratch  bool
	at                    *time.Time // --to, read by check; nil for latest
}

// check reads --to and refuses flags that do not go together.
func (r *restoreFlags) check() error {
	switch {
	case r.to == "":
		return errors.New("--to TIME is required")
	case r.tenant == "" && (r.dropOld || r.keepScratch):
		return errors.New("--drop-old and --keep-scratch go with --tenant")
	case r.tenant != "" && (r.targetDir != "" || r.port != 0):
		return errors.New("--target-dir and --port are for a whole-cluster restore, not --tenant")
	case r.tenant != "" && r.to == "latest":
		return errors.New("--tenant needs a time: 'latest' is the tenant as it is")
	case r.port != 0 && r.targetDir == "":
		return errors.New("--port goes with --target-dir")
	case r.to == "latest":
		return nil
	}
	t, err := backup.ParseTime(r.to)
	r.at = &t
	return err
}

func backupRestore(ctx context.Context, f backupFlags, target backupCluster, r restoreFlags, stdout, stderr io.Writer) int {
	const path = "kapok backup restore"
	fail := func(err error) int {
		fmt.Fprintf(stderr, "%s: %v\n", path, err)
		return exitFailed
	}
	to := r.at
	st, err := backup.Open(target.dir, f.stanza, target.url)
	if err != nil {
		return fail(err)
	}
	if r.tenant == "" {
		res, err := st.RestoreCluster(ctx, backup.ClusterOptions{To: to, TargetDir: r.targetDir, Port: r.port})
		if err != nil {
			return fail(err)
		}
		when := "the end of the archived WAL"
		if to != nil {
			when = to.UTC().Format(time.RFC3339Nano)
		}
		fmt.Fprintf(stdout, "restored the cluster to %s into %s in %s\n", when, res.DataDir, res.Duration.Round(time.Millisecond))
		if res.InPlace {
			fmt.Fprintln(stdout, "start PostgreSQL: it replays the WAL to that time, then opens on a new timeline (and archives again)")
		} else {
			fmt.Fprintf(stdout, "archiving is off in the copy; start it with:\n  %s\n", res.Start)
		}
		return exitOK
	}
	if target.cfg == nil {
		return fail(errors.New("--tenant needs the tenants: give --config"))
	}
	tc, err := findTenant(ctx, target.cfg, r.tenant)
	if err != nil {
		return fail(err)
	}
	if tc.Upstream != target.upstream {
		return fail(fmt.Errorf("tenant %s lives on upstream %s, not %s: give --upstream %s (and its backup --dir)", tc.Name, tc.Upstream, target.upstream, tc.Upstream))
	}
	o := backup.TenantOptions{To: *to, Tenant: tc, URL: target.cfg.DirectURL(tc), DropOld: r.dropOld, KeepScratch: r.keepScratch, Out: stdout}
	if controlURL, err := target.cfg.ControlURL(); err == nil && controlURL == target.cfg.Upstreams[tc.Upstream].URL {
		o.ControlURL = controlURL
	}
	res, err := st.RestoreTenant(ctx, o)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "tenant %s restored to %s in %s: %s\n", res.Tenant, to.UTC().Format(time.RFC3339Nano),
		res.Total.Round(time.Millisecond), strings.Join(res.Restored, ", "))
	if len(res.KeptAside) > 0 {
		fmt.Fprintf(stdout, "what was live is kept as %s (drop it when done)\n", strings.Join(res.KeptAside, ", "))
	}
	if len(res.Dropped) > 0 {
		fmt.Fprintf(stdout, "dropped what was live: %s\n", strings.Join(res.Dropped, ", "))
	}
	return exitOK
}

// backupCluster is the cluster a backup command works on.
type backupCluster struct {
	dir      string          // the backup directory
	url      string          // a superuser's direct URL of the cluster ("" when unknown)
	upstream string          // its upstream in cfg
	cfg      *control.Config // nil without a config file
	devDir   string          // --dev: the stack directory
}

// backupTarget resolves the flags: the config's upstream (or the dev stack) and the
// backup directory.
func backupTarget(ctx context.Context, f backupFlags) (backupCluster, error) {
	var c backupCluster
	path := f.config
	if path == "" && f.dev && fileExists(projectConfig) {
		path = projectConfig
	}
	if path == "" && fileExists("configs/kapok.yaml") {
		path = "configs/kapok.yaml"
	}
	if path != "" {
		cfg, err := control.LoadConfig(path)
		if err != nil {
			return c, err
		}
		if err := cfg.Normalize(); err != nil {
			return c, err
		}
		c.cfg = cfg
		c.upstream = f.upstream
		if c.upstream == "" {
			controlURL, err := cfg.ControlURL()
			if err != nil {
				return c, err
			}
			for name, u := range cfg.Upstreams {
				if u.URL == controlURL && (c.upstream == "" || name < c.upstream) {
					c.upstream = name
				}
			}
		}
		u := cfg.Upstreams[c.upstream]
		if u == nil {
			return c, fmt.Errorf("upstream %q is not in %s", c.upstream, path)
		}
		c.url = u.URL
	} else if f.upstream != "" {
		return c, errors.New("--upstream names an upstream of --config, which is missing")
	}
	c.dir = f.dir
	if f.dev {
		cl, err := devstack.OpenCluster(ctx, devstack.DefaultDir)
		if err != nil {
			return c, err
		}
		c.devDir, c.url = cl.Dir, cl.URL
		if c.dir == "" {
			c.dir = filepath.Join(cl.Dir, "backup")
		}
	}
	if c.dir == "" {
		c.dir = defaultBackupDir
	}
	if c.url == "" {
		if _, err := os.Stat(filepath.Join(c.dir, backup.ConfigName)); err != nil {
			return c, errors.New("which cluster? give --config with its upstream (or --dev for the dev stack)")
		}
	}
	return c, nil
}

// findTenant finds a tenant in the config file, else in the control tables.
func findTenant(ctx context.Context, cfg *control.Config, name string) (*control.TenantConfig, error) {
	for _, t := range cfg.Tenants {
		if t.Name == name {
			return t, nil
		}
	}
	url, err := cfg.ControlURL()
	if err != nil {
		return nil, err
	}
	tc, err := control.ReadTenant(ctx, url, name)
	if err != nil {
		return nil, fmt.Errorf("reading tenant %s from the control tables: %w", name, err)
	}
	if tc == nil {
		return nil, fmt.Errorf("no tenant %s in the config file or the control tables", name)
	}
	return tc, cfg.NormalizeTenant(tc)
}

// backupNext is the backup command sub with the flags that chose the cluster, for the
// next command to run.
func backupNext(f backupFlags, sub string) string {
	p := "kapok backup " + sub
	if f.dev {
		p += " --dev"
	}
	if f.config != "" {
		p += " --config " + f.config
	}
	if f.dir != "" {
		p += " --dir " + f.dir
	}
	return p
}

func printBackups(w io.Writer, info *backup.Info) {
	fmt.Fprintf(w, "stanza %s: %s\n", info.Stanza, info.Status)
	if len(info.Backups) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "LABEL\tTYPE\tSTARTED\tTOOK\tSIZE\tSTORED\tWAL")
		for _, b := range info.Backups {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s–%s\n", b.Label, b.Type, b.Start.UTC().Format(time.RFC3339),
				b.Stop.Sub(b.Start), humanBytes(b.Size), humanBytes(b.RepoDelta), b.WALStart, b.WALStop)
		}
		tw.Flush()
		fmt.Fprintf(w, "earliest restorable: %s (the second after the oldest backup ended)\n", info.Earliest.UTC().Format(time.RFC3339))
	}
	if info.WALMax != "" {
		fmt.Fprintf(w, "archived WAL: %s to %s\n", info.WALMin, info.WALMax)
	}
	if !info.LastArchived.IsZero() {
		fmt.Fprintf(w, "last archived: %s at %s (a restore archives the current WAL first: while the cluster runs, any time up to now is restorable)\n",
			info.LastArchivedWAL, info.LastArchived.UTC().Format(time.RFC3339))
	}
	if info.ArchiveFailing {
		fmt.Fprintln(w, "WARNING: archive_command is failing: see PostgreSQL's log")
	}
}

// humanBytes writes n in B, kB, MB, GB (powers of 1000).
func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

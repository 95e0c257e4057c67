package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/kapok-dev/kapok/bench"
	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/devstack"
)

// commandTree is kapok's command tree: a new command is one entry here (with its run
// function in a file of its own).
func commandTree() *command {
	return link(&command{
		name:    "kapok",
		summary: "GraphQL and REST APIs for every tenant of a PostgreSQL database",
		usage:   "kapok [serve] [flags]\nkapok COMMAND [flags]",
		long:    "With no command, kapok serves (see 'kapok serve --help').",
		sub: []*command{
			{name: "serve", summary: "serve the tenants of --config (or one database with --upstream)",
				flags: func(fs *flag.FlagSet) { registerServeFlags(fs, &serveFlags{}) },
				run: func(ctx context.Context, args []string, _, stderr io.Writer) int {
					return serveCommand(ctx, args, stderr)
				}},
			{name: "dev", summary: "a private PostgreSQL + PgBouncer under ./.kapok with the demo data, served by Kapok",
				usage: "kapok dev [up|down|clean|status] [flags]", run: devCommand, helpByRun: true, bare: true,
				sub: []*command{
					{name: "up", summary: "start the stack and load the data, print its URLs and exit", helpByRun: true},
					{name: "down", summary: "stop PgBouncer and PostgreSQL (the data stays)", helpByRun: true},
					{name: "clean", summary: "stop them and delete the stack directory", helpByRun: true},
					{name: "status", summary: "say what runs and what is loaded (exit status 1 when not up)", helpByRun: true},
				}},
			{name: "init", summary: "create a project folder: kapok.yaml, migrations/, seed.sql and an example app",
				usage: "kapok init [DIR]", long: "DIR defaults to the current folder; no existing file is overwritten. Then run 'kapok dev' in it.",
				run: initCommand},
			{name: "deploy", summary: "write the Helm values that deploy a config to Kubernetes (configs/helm/kapok)",
				usage: "kapok deploy [--config FILE] [flags] > values.yaml", long: deployLong, run: deployCommand, helpByRun: true},
			{name: "tenant", summary: "manage tenants through the admin API", run: tenantCommand,
				long: adminFlagsNote,
				sub: []*command{
					{name: "create", usage: "kapok tenant create NAME [--mode schema|database] [--template NAME]", summary: "create a tenant (a schema, or a database of its own)", helpByRun: true},
					{name: "list", summary: "list the tenants", helpByRun: true},
					{name: "show", usage: "kapok tenant show NAME", summary: "show one tenant", helpByRun: true},
					{name: "keys", usage: "kapok tenant keys NAME", summary: "print the tenant's anon and service_role keys (for supabase-js)", helpByRun: true},
					{name: "move", usage: "kapok tenant move NAME --to database [--database DB]", summary: "move a tenant from its schema to a database of its own, live", helpByRun: true},
					{name: "delete", usage: "kapok tenant delete NAME --yes", summary: "drop a tenant and all its data", helpByRun: true},
				}},
			{name: "gen", summary: "generate client types from a tenant's schema", run: genCommand,
				long: strings.TrimPrefix(genUsage, "usage:\n"),
				sub: []*command{
					{name: "types", usage: "kapok gen types --lang typescript|graphql [--tenant T]", summary: "print the Database type for createClient<Database>() (typescript) or the GraphQL SDL (graphql)", helpByRun: true},
				}},
			{name: "migrate", summary: "versioned migrations through the admin API", run: migrateCommand,
				long: "The directory holds versioned scripts: 0001_create_users.up.sql and, to allow a rollback,\n0001_create_users.down.sql. Each runs in one transaction on the server.\n\n" + adminFlagsNote,
				sub: []*command{
					{name: "up", usage: "kapok migrate up --tenant T --dir migrations/ [--dry-run]", summary: "apply the pending migrations", helpByRun: true},
					{name: "status", usage: "kapok migrate status --tenant T --dir migrations/", summary: "show applied and pending migrations", helpByRun: true},
					{name: "rollback", usage: "kapok migrate rollback --tenant T [--to VERSION]", summary: "undo migrations after VERSION (0 undoes all)", helpByRun: true},
				}},
			{name: "events", summary: "event triggers, webhooks and scheduled events", run: eventsCommand,
				long: "Webhooks are signed when a secret is set: X-Kapok-Signature-256: sha256=hex(HMAC-SHA256(secret, body)).\n" + adminFlagsNote,
				sub:  eventsTree()},
			{name: "bench", summary: "load testing", run: bench.Main, sub: []*command{
				{name: "run", summary: "drive a target with a scenario (closed loop, or open loop with --rate)", helpByRun: true},
				{name: "list", summary: "list the built-in scenarios", usage: "kapok bench list"},
				{name: "baseline", summary: "serve the workload with hand-written SQL on one pgx pool", helpByRun: true},
				{name: "setup-tenants", summary: "create the bench_tNNN tenant schemas and roles and print their tenants config", helpByRun: true},
				{name: "suite", summary: "Kapok vs baseline on every scenario, gated by bench/thresholds.json", helpByRun: true},
				{name: "share", summary: "Kapok with and without shared reads, the baseline and pgbench, interleaved", helpByRun: true},
				{name: "tenants", summary: "many tenants: Kapok vs baseline per tenant count, connections, memory, a noisy neighbour", helpByRun: true},
				{name: "echo", summary: "serve a fixed body as fast as possible (measures the generator itself)", helpByRun: true},
				{name: "subscriptions", summary: "many GraphQL subscriptions over WebSocket under a stream of writes", helpByRun: true},
				{name: "realtime", summary: "many Supabase Realtime postgres_changes subscribers under a stream of writes", helpByRun: true},
				{name: "wire", summary: "pgbench through Kapok's Postgres wire port and through PgBouncer, interleaved", helpByRun: true},
			}},
			{name: "upgrade", summary: "replace this kapok with the release feed's signed binary, with a rollback on a failed health check",
				usage: "kapok upgrade [--check] [flags]\nkapok upgrade keygen|sign [flags]", long: upgradeLong, run: upgradeCommand, bare: true,
				flags: func(fs *flag.FlagSet) { registerUpgradeFlags(fs, &upgradeFlags{}) },
				sub: []*command{
					{name: "keygen", usage: "kapok upgrade keygen --out FILE", summary: "make a release signing key pair: the private key to FILE, the public key printed", helpByRun: true},
					{name: "sign", usage: "kapok upgrade sign --key FILE --version V [--base-url URL] PLATFORM=FILE...", summary: "print a signed release feed for the given binaries", helpByRun: true},
				}},
			{name: "backup", summary: "pgBackRest backups of the cluster, and point-in-time restores of it or of one tenant",
				long: backupLong, run: backupCommand,
				sub: []*command{
					{name: "setup", usage: "kapok backup setup [--dev | --config FILE [--upstream NAME]] [--dir DIR] [--restart-cmd CMD]", summary: "configure the stanza, turn WAL archiving on, create the stanza and check it", helpByRun: true},
					{name: "run", usage: "kapok backup run [--type full|diff|incr]", summary: "take a backup", helpByRun: true},
					{name: "list", usage: "kapok backup list [--json]", summary: "list the backups and the restorable time range", helpByRun: true},
					{name: "restore", usage: "kapok backup restore --to TIME --tenant T [--drop-old]\nkapok backup restore --to TIME|latest [--target-dir DIR [--port N]]", summary: "restore one tenant, or the whole cluster, to a point in time", helpByRun: true},
				}},
			{name: "version", summary: "print kapok's version and the commit it was built from", usage: "kapok version", run: versionCommand},
			{name: "completion", summary: "print a shell completion script", usage: "kapok completion bash|zsh|fish",
				long: "bash:  source <(kapok completion bash)\nzsh:   kapok completion zsh > \"${fpath[1]}/_kapok\"\nfish:  kapok completion fish > ~/.config/fish/completions/kapok.fish",
				args: []string{"bash", "zsh", "fish"}, run: completionCommand},
			{name: "help", summary: "show the help of a command", usage: "kapok help [COMMAND...]"},
		},
	})
}

const adminFlagsNote = "flags (every command): --url (or KAPOK_URL, default http://127.0.0.1:8080), --admin-key (or KAPOK_ADMIN_KEY), --json"

func eventsTree() []*command {
	leaves := []struct{ name, usage, summary string }{
		{"triggers", "--tenant T", "list the event triggers"},
		{"create-trigger", "--tenant T --name N --table [SCHEMA.]TABLE --on insert,update,delete --webhook URL [flags]\nkapok events create-trigger --tenant T --file trigger.json", "create an event trigger (flags, or Hasura's create_event_trigger body)"},
		{"delete-trigger", "--tenant T NAME", "delete an event trigger"},
		{"pause", "--tenant T NAME", "stop firing a trigger"},
		{"resume", "--tenant T NAME", "fire a paused trigger again"},
		{"invoke", "--tenant T NAME --pk id=1[,col=value]", "fire a manual trigger on a row"},
		{"list", "--tenant T [--state pending|delivered|dead] [--kind trigger|scheduled|cron] [--trigger N] [--limit N]", "list events, newest first"},
		{"show", "--tenant T EVENT_ID", "show an event and every delivery attempt"},
		{"redeliver", "--tenant T EVENT_ID", "deliver an event again"},
		{"schedule", "--tenant T --at 2030-01-01T12:00:00Z --webhook URL [--payload JSON]", "schedule a one-off event"},
		{"cron", "--tenant T", "list the cron triggers"},
		{"create-cron", "--tenant T --name N --schedule '*/5 * * * *' --webhook URL [--payload JSON]", "create a cron trigger (UTC)"},
		{"delete-cron", "--tenant T NAME", "delete a cron trigger"},
	}
	var cs []*command
	for _, l := range leaves {
		cs = append(cs, &command{name: l.name, usage: "kapok events " + l.name + " " + l.usage, summary: l.summary, helpByRun: true})
	}
	return cs
}

// devCommand runs `kapok dev`: the stack, served with ./kapok.yaml (a project made by
// `kapok init`, whose migrations/ are applied and watched) or else configs/kapok.yaml.
func devCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return devstack.RunCLI(ctx, args, stdout, stderr, func(ctx context.Context, st *devstack.Stack) error {
		path := "configs/kapok.yaml"
		project := fileExists(projectConfig)
		if project {
			path = projectConfig
		}
		cfg, err := loadConfig(serveFlags{config: path})
		if err != nil {
			return err
		}
		if cfg.AdminKey == "" {
			// The console and the admin API need a key: the stack keeps one of its own,
			// which leaves the tenants with no auth section open, as they are without one
			// (the README's first requests send no key).
			if cfg.AdminKey, err = st.AdminKey(); err != nil {
				return err
			}
			cfg.OpenWithoutAuth = true
		}
		if !project {
			devstack.PrintDemoTry(stdout, cfg)
		}
		fmt.Fprintf(stdout, "The console: %s/console/ (sign in with the admin key: %s)\n\n", consoleBase(cfg.Listen), cfg.AdminKey)
		if cfg.Wire.TLSCertFile == "" {
			// The stack's own CA signed a certificate for loopback: clients may verify it
			// (sslmode=verify-full sslrootcert=.kapok/tls/ca.pem), or connect in plain text
			// as wire.allow_plaintext says (by default, on a loopback wire_listen).
			cfg.Wire.TLSCertFile, cfg.Wire.TLSKeyFile = st.TLS.Cert, st.TLS.Key
		}
		var onStore func(context.Context, *control.Store, *control.Registry)
		if project {
			onStore = func(ctx context.Context, store *control.Store, reg *control.Registry) {
				w := &migrationWatcher{store: store, reg: reg, tenant: cfg.DefaultTenant, dir: "migrations", out: stdout, failed: map[string]string{}}
				if _, err := w.apply(ctx); err != nil {
					fmt.Fprintln(stdout, "migrations:", err)
				}
				seed(ctx, store, reg, cfg.DefaultTenant, "seed.sql", stdout)
				fmt.Fprintf(stdout, "watching migrations/ for new files (tenant %s)\n", cfg.DefaultTenant)
				go w.watch(ctx, time.Second)
			}
		}
		return serve(ctx, cfg, newLogger(cfg.LogLevel, stderr), onStore)
	})
}

// consoleBase is the URL a browser on this machine reaches listen at.
func consoleBase(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// projectConfig is the configuration file of a project made by `kapok init`.
const projectConfig = "kapok.yaml"

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// seed runs a project's seed file; it is written to be run at every start.
func seed(ctx context.Context, store *control.Store, reg *control.Registry, tenant, path string, out io.Writer) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	t := reg.Tenant(tenant)
	if t == nil {
		return
	}
	if _, err := store.RunSQL(ctx, t, &control.SQLRequest{SQL: string(b)}); err != nil {
		fmt.Fprintf(out, "%s: %v\n", path, err)
		return
	}
	fmt.Fprintf(out, "ran %s\n", path)
}

// version is this build's release version, set when the binary is built:
// go build -ldflags "-X main.version=1.4.0" (the Makefile sets it from git describe).
// Empty in a plain `go build`, where the module version Go records stands in.
var version string

// versionCommand runs `kapok version`.
func versionCommand(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "kapok version: unexpected argument %q; see 'kapok version --help'\n", args[0])
		return exitUsage
	}
	bi, ok := debug.ReadBuildInfo()
	fmt.Fprint(stdout, versionText(version, bi, ok))
	return exitOK
}

// mainVersion is the version kapok reports to traces: releaseVersion of this binary.
func mainVersion() string {
	bi, ok := debug.ReadBuildInfo()
	return releaseVersion(version, bi, ok)
}

// releaseVersion is the version `kapok upgrade` compares releases with: the one set at
// build time, else the module's, else "dev" (which any release replaces).
func releaseVersion(release string, bi *debug.BuildInfo, ok bool) string {
	switch {
	case release != "":
		return release
	case ok && bi.Main.Version != "" && bi.Main.Version != "(devel)":
		return bi.Main.Version
	}
	return "dev"
}

// versionText renders the release version (set at build time, else the module's) and
// the VCS stamp Go records in the binary.
func versionText(release string, bi *debug.BuildInfo, ok bool) string {
	if !ok {
		if release != "" {
			return "kapok " + release + "\n"
		}
		return "kapok (no build information)\n"
	}
	v := release
	if v == "" {
		v = bi.Main.Version
	}
	if v == "" {
		v = "(devel)"
	}
	s := map[string]string{}
	for _, kv := range bi.Settings {
		s[kv.Key] = kv.Value
	}
	var b strings.Builder
	fmt.Fprintf(&b, "kapok %s\n", v)
	if rev := s["vcs.revision"]; rev != "" {
		fmt.Fprintf(&b, "commit   %s\n", rev)
		if t := s["vcs.time"]; t != "" {
			fmt.Fprintf(&b, "date     %s\n", t)
		}
		if s["vcs.modified"] == "true" {
			fmt.Fprintf(&b, "modified true (built from a work tree with uncommitted changes)\n")
		}
	} else {
		fmt.Fprintf(&b, "commit   unknown (built without VCS information)\n")
	}
	fmt.Fprintf(&b, "go       %s\n", bi.GoVersion)
	return b.String()
}

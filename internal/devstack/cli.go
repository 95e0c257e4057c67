package devstack

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/kapok-dev/kapok/control"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// httpBase is where `kapok dev` serves (listen in configs/kapok.yaml).
const httpBase = "http://127.0.0.1:8080"

// wirePort is the port of wire_listen in configs/kapok.yaml.
const wirePort = "6543"

const cliUsage = `usage: kapok dev [up|down|clean|status] [flags]

  (none)   start the stack, load the demo data, serve Kapok on it until Ctrl-C, then stop the stack;
           in a project folder (kapok init) it serves ./kapok.yaml, applies migrations/ as files
           appear (printing what changed) and runs seed.sql; a mail sink keeps the mails Kapok
           Auth sends (SMTP 127.0.0.1:54325, mailbox http://127.0.0.1:54326)
  up       start the stack and load the data, print its URLs and exit (it keeps running)
  down     stop PgBouncer and PostgreSQL (the data stays)
  clean    stop them and delete the stack directory
  status   say what runs and what is loaded (exit status 1 when not up)

flags:
`

// RunCLI implements `kapok dev`. serve runs Kapok on the started stack until its context
// ends (Ctrl-C or SIGTERM); nil just waits for that. It returns the process exit status;
// -h prints the usage to stderr and returns 0.
func RunCLI(ctx context.Context, args []string, stdout, stderr io.Writer, serve func(ctx context.Context, st *Stack) error) int {
	fs := flag.NewFlagSet("kapok dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, cliUsage)
		fs.PrintDefaults()
	}
	dir := fs.String("dir", DefaultDir, "stack directory")
	scaleFlag := fs.String("scale", "small", "workload scale: small (the demo, database kapok), full (benchmarks: database kapok_bench, a minute or more to load) or a fraction")
	pgPort := fs.Int("pg-port", DefaultPGPort, "PostgreSQL port")
	poolerPort := fs.Int("pooler-port", DefaultPoolerPort, "PgBouncer port")

	sub, err := parseCLI(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "kapok dev:", err)
		return 2
	}
	scale, err := parseScale(*scaleFlag)
	if err != nil {
		fmt.Fprintln(stderr, "kapok dev:", err)
		return 2
	}
	opts := Options{Dir: *dir, Scale: scale, Out: stdout, PGPort: *pgPort, PoolerPort: *poolerPort}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "kapok dev:", err)
		return 1
	}

	switch sub {
	case "up":
		st, err := Up(ctx, opts)
		if err != nil {
			return fail(err)
		}
		printStack(stdout, st)
		fmt.Fprintln(stdout, "\nServe it with `kapok dev` (make run); stop it with `kapok dev down` (make down).")
		return 0
	case "down":
		if err := Down(*dir); err != nil {
			return fail(err)
		}
		fmt.Fprintln(stdout, "dev stack stopped")
		return 0
	case "clean":
		if err := Clean(*dir); err != nil {
			return fail(err)
		}
		fmt.Fprintln(stdout, "dev stack stopped and deleted")
		return 0
	case "status":
		rep, err := Status(ctx, *dir)
		if err != nil {
			return fail(err)
		}
		fmt.Fprint(stdout, rep)
		if !rep.Up() {
			return 1
		}
		return 0
	case "":
		return runServing(ctx, opts, serve, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "kapok dev: unknown command %q; see 'kapok dev --help'\n", sub)
		return 2
	}
}

// runServing starts the stack, serves on it until SIGINT/SIGTERM, then stops the stack.
func runServing(ctx context.Context, opts Options, serve func(context.Context, *Stack) error, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := Up(ctx, opts)
	if err != nil {
		fmt.Fprintln(stderr, "kapok dev:", err)
		if ctx.Err() != nil { // interrupted while starting: leave nothing running
			_ = Down(opts.Dir)
		}
		return 1
	}
	printStack(stdout, st)
	mailURL, stopMail := startMail(st.Dir, MailSMTPAddr, MailHTTPAddr, stderr)
	defer stopMail()
	printTry(stdout, st, mailURL)
	status := 0
	if serve == nil {
		<-ctx.Done()
	} else if err := serve(ctx, st); err != nil {
		fmt.Fprintln(stderr, "kapok dev:", err)
		status = 1
	}
	stop()
	t := time.Now()
	fmt.Fprintln(stdout, "stopping PgBouncer and PostgreSQL")
	if err := Down(st.Dir); err != nil {
		fmt.Fprintln(stderr, "kapok dev:", err)
		return 1
	}
	fmt.Fprintf(stdout, "dev stack stopped in %s\n", time.Since(t).Round(time.Millisecond))
	return status
}

// parseCLI accepts the flags before and after the subcommand.
func parseCLI(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() == 0 {
		return "", nil
	}
	sub := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return sub, nil
}

func parseScale(s string) (float64, error) {
	switch s {
	case "small", "":
		return SmallScale, nil
	case "full":
		return FullScale, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("--scale %q: want small, full or a number such as 0.1", s)
	}
	return f, checkScale(f)
}

func printStack(w io.Writer, st *Stack) {
	fmt.Fprintf(w, "\nPostgreSQL  %s\nPgBouncer   %s\n", st.DirectURL, st.PoolerURL)
	if st.BenchDirectURL != "" {
		fmt.Fprintf(w, "benchmark   %s\n            %s\n", st.BenchDirectURL, st.BenchPoolerURL)
	}
	fmt.Fprintf(w, "psql        psql %q\n", st.DirectURL)
}

// printTry names the endpoints every served config has; the caller's serve prints what
// its own tenants answer. mailURL is the mail sink's mailbox ("" when it is not running).
func printTry(w io.Writer, st *Stack, mailURL string) {
	fmt.Fprintf(w, `
Kapok on %[1]s:
  curl %[1]s/readyz
  curl %[1]s/metrics
  curl %[1]s/ai-spec.md        (the API of the default tenant's tables)
Kapok's Postgres wire port (password: an API key, a JWT or the admin key of the tenant):
  psql "host=127.0.0.1 port=%[2]s user=token.<tenant> sslmode=verify-full sslrootcert=%[3]s"
`, httpBase, wirePort, st.TLS.CA)
	if mailURL != "" {
		fmt.Fprintf(w, `Mail that Kapok Auth sends (auth.users.smtp: {host: 127.0.0.1, port: %[1]s, tls: none}):
  open %[2]s        (or curl %[2]s/api/messages)
`, MailSMTPPort, mailURL)
	}
	fmt.Fprint(w, "Ctrl-C stops Kapok, PgBouncer and PostgreSQL.\n\n")
}

// PrintDemoTry prints requests that the demo configuration (configs/kapok.yaml, cfg) answers.
func PrintDemoTry(w io.Writer, cfg *control.Config) {
	fmt.Fprintf(w, `Try the demo (tenant demo by default; /t/acme/... or the header X-Kapok-Tenant: acme for tenant acme):
  curl %[1]s/v1/graphql -H 'Content-Type: application/json' -d '{"query":"{ customers_by_pk(id: 1) { id name email country } }"}'
  curl '%[1]s/rest/v1/orders?select=id,status,total&customer_id=eq.10&order=created_at.desc&limit=5'
  curl %[1]s/rest/v1/
  curl %[1]s/t/acme/rest/v1/customers
  curl -H 'X-Kapok-Tenant: acme' '%[1]s/rest/v1/projects?select=name,tickets(title,status)'

`, httpBase)
	for _, tc := range cfg.Tenants {
		if tc.Auth == nil || tc.Auth.Users == nil {
			continue
		}
		keys, err := control.KeysFor(tc.Name, tc.Auth)
		if err != nil {
			continue
		}
		fmt.Fprintf(w, `Tenant %[2]s has Kapok Auth: sign up, then confirm with the mail's link or code (supabase-js: createClient('%[1]s/t/%[2]s', ANON_KEY)):
  ANON_KEY=%[3]s
  curl %[1]s/t/%[2]s/auth/v1/signup -H "apikey: $ANON_KEY" -H 'Content-Type: application/json' -d '{"email":"ada@example.com","password":"correct horse"}'
  curl '%[1]s/t/%[2]s/auth/v1/token?grant_type=password' -H "apikey: $ANON_KEY" -H 'Content-Type: application/json' -d '{"email":"ada@example.com","password":"correct horse"}'
  curl %[1]s/t/%[2]s/rest/v1/ -H "apikey: $ANON_KEY" -H "Authorization: Bearer $ACCESS_TOKEN"   (then its tables, as that user)

`, httpBase, tc.Name, keys.Anon)
	}
}

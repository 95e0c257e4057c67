package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

const usage = `usage: kapok bench <command> [flags]

commands:
  run            drive a target with a scenario (closed loop, or open loop with --rate)
  list           list the built-in scenarios
  baseline       serve the workload with hand-written SQL on one pgx pool (the physical limit)
  setup-tenants  create the bench_tNNN tenant schemas and roles and print their tenants config
  suite          Kapok vs baseline on every scenario, gated by bench/thresholds.json
  subscriptions  many GraphQL subscriptions over WebSocket under a stream of writes
  realtime       many Supabase Realtime postgres_changes subscribers under a stream of writes
  share          Kapok with and without shared reads, the baseline and pgbench, interleaved
  tenants        many tenants: Kapok vs baseline per tenant count, connections, memory, a noisy neighbour
  wire           pgbench through Kapok's Postgres wire port and through PgBouncer, interleaved
  echo           serve a fixed body as fast as possible (measures the generator itself)

Run 'kapok bench <command> -h' for its flags.
`

// Main runs `kapok bench`: args are what follows "bench" on the command line. It returns the
// process exit code: 0 on success, 1 when a run failed or the suite's gate did not pass,
// 2 for bad usage.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) int{
		"run":           cmdRun,
		"list":          cmdList,
		"baseline":      cmdBaseline,
		"setup-tenants": cmdSetupTenants,
		"suite":         cmdSuite,
		"subscriptions": cmdSubscriptions,
		"realtime":      cmdRealtime,
		"share":         cmdShare,
		"tenants":       cmdTenants,
		"wire":          cmdWire,
		"echo":          cmdEcho,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "kapok bench: unknown command %q\n%s", args[0], usage)
		return 2
	}
	return cmd(ctx, args[1:], stdout, stderr)
}

// parseFlags parses args into fs; it returns an exit code and false when the caller should stop.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kapok bench %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return 2, false
	}
	return 0, true
}

// isTerminal reports whether w is a character device, where a rewritten progress line makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// scenarioFlags are the flags that pick and shape scenarios, shared by run and suite.
type scenarioFlags struct {
	tenant string
	scale  float64
	sets   multiFlag
}

func (f *scenarioFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.tenant, "tenant", "bench", "tenant of the single-tenant built-in scenarios (their {{tenant}})")
	fs.Float64Var(&f.scale, "scale", 1, "dataset scale factor: shrinks the id ranges marked scale (0.01 for the small demo dataset)")
	fs.Var(&f.sets, "set", "name=value: fix a scenario variable to one value (repeatable)")
}

// load reads the scenarios named in list (comma-separated built-in names or files) and applies the flags.
func (f *scenarioFlags) load(list string) ([]*Scenario, error) {
	var out []*Scenario
	for _, n := range strings.Split(list, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		s, err := LoadScenario(n)
		if err != nil {
			return nil, err
		}
		if v, ok := s.Vars["tenant"]; ok && len(v.List) == 1 {
			s.Override("tenant", f.tenant)
		}
		s.ScaleRanges(f.scale)
		for _, kv := range f.sets {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("--set %q: want name=value", kv)
			}
			s.Override(k, v)
		}
		if _, err := compileScenario(s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, errors.New("no scenario given")
	}
	return out, nil
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var cfg LoadConfig
	var sf scenarioFlags
	sf.register(fs)
	scenarios := fs.String("scenario", "", "built-in scenario names or scenario files (YAML/JSON), comma-separated")
	fs.StringVar(&cfg.Target, "target", "http://127.0.0.1:8080", "base URL of the server under test")
	fs.IntVar(&cfg.Connections, "c", 16, "connections")
	fs.IntVar(&cfg.Connections, "connections", 16, "connections (same as -c)")
	fs.IntVar(&cfg.Workers, "workers", 0, "open loop: sending goroutines (default: connections)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open loop at this many requests/s, latency from each scheduled send (0: closed loop)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured duration")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "warm-up before measuring")
	fs.Int64Var(&cfg.Requests, "requests", 0, "measure exactly this many requests instead of a duration")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Second, "per-request timeout")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the variable values (0: from the clock)")
	asJSON := fs.Bool("json", false, "print results as JSON instead of a table")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	list, err := sf.load(*scenarios)
	if err != nil {
		fmt.Fprintf(stderr, "kapok bench run: %v\n", err)
		return 2
	}
	if isTerminal(stderr) {
		cfg.Progress = stderr
	}
	var results []*Result
	for _, s := range list {
		res, err := Run(ctx, cfg, s)
		if err != nil {
			fmt.Fprintf(stderr, "kapok bench run %s: %v\n", s.Name, err)
			return 1
		}
		results = append(results, res)
	}
	if *asJSON {
		if len(results) == 1 {
			_ = WriteJSON(stdout, results[0])
		} else {
			_ = WriteJSON(stdout, results)
		}
	} else {
		WriteTable(stdout, results)
	}
	for _, r := range results {
		if r.OK == 0 {
			fmt.Fprintf(stderr, "kapok bench run %s: no request succeeded (errors %s)\n", r.Scenario, errorSummary(r.Errors))
			return 1
		}
	}
	return 0
}

func cmdList(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	for _, n := range BuiltinNames() {
		s, err := LoadScenario(n)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "%-14s %s\n", n, s.Description)
	}
	return 0
}

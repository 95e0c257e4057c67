package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Exit codes of the admin commands.
const (
	exitOK       = 0
	exitFailed   = 1 // the server refused or failed the operation, or could not be reached
	exitUsage    = 2
	exitNotFound = 3 // the tenant does not exist
)

const tenantUsage = `usage:
  kapok tenant create NAME [--mode schema|database] [--template NAME]
  kapok tenant list
  kapok tenant show NAME
  kapok tenant keys NAME       (the anon and service_role keys, for supabase-js)
  kapok tenant move NAME --to database [--database DB]   (live: requests pause under a second)
  kapok tenant delete NAME --yes

flags (every command): --url (or KAPOK_URL, default http://127.0.0.1:8080), --admin-key (or KAPOK_ADMIN_KEY), --json
`

const migrateUsage = `usage:
  kapok migrate up       --tenant T --dir migrations/ [--dry-run]
  kapok migrate status   --tenant T --dir migrations/
  kapok migrate rollback --tenant T [--to VERSION]   (VERSION 0 rolls back everything)

The directory holds versioned scripts: 0001_create_users.up.sql and, to allow a rollback,
0001_create_users.down.sql. Each runs in one transaction on the server.

flags (every command): --url (or KAPOK_URL, default http://127.0.0.1:8080), --admin-key (or KAPOK_ADMIN_KEY), --json
`

// adminClient talks to the admin API.
type adminClient struct {
	base, key string
	http      *http.Client
	stdout    io.Writer
	stderr    io.Writer
	json      bool
}

// apiError is an error answer of the admin API.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"error"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
}

func (e *apiError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d %s)", e.Message, e.Status, e.Code)
}

// commonFlags registers the flags every admin command takes.
func commonFlags(fs *flag.FlagSet, c *adminClient) {
	def := os.Getenv("KAPOK_URL")
	if def == "" {
		def = "http://127.0.0.1:8080"
	}
	fs.StringVar(&c.base, "url", def, "Kapok's base URL")
	fs.StringVar(&c.key, "admin-key", os.Getenv("KAPOK_ADMIN_KEY"), "the admin key (default $KAPOK_ADMIN_KEY)")
	fs.BoolVar(&c.json, "json", false, "print the API's JSON answers")
}

// parseInterspersed parses flags wherever they appear among the positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (c *adminClient) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.base, "/")+"/admin/v1"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("X-Kapok-Admin-Key", c.key)
	req.Header.Set("Content-Type", "application/json")
	if u := os.Getenv("USER"); u != "" {
		req.Header.Set("X-Kapok-Actor", u+"@kapok-cli")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach Kapok at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		e := &apiError{Status: resp.StatusCode}
		_ = json.Unmarshal(b, e)
		if e.Message == "" {
			e.Message = strings.TrimSpace(string(b))
		}
		return e
	}
	if c.json {
		var buf bytes.Buffer
		if json.Indent(&buf, b, "", "  ") == nil {
			fmt.Fprintln(c.stdout, buf.String())
		}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// fail prints err and returns the exit code it deserves.
func (c *adminClient) fail(err error) int {
	fmt.Fprintln(c.stderr, "kapok:", err)
	var e *apiError
	if errors.As(err, &e) {
		if e.Line > 0 {
			fmt.Fprintf(c.stderr, "  at line %d, column %d\n", e.Line, e.Column)
		}
		if e.Status == http.StatusNotFound && e.Code == "tenant-not-found" {
			return exitNotFound
		}
	}
	return exitFailed
}

func newAdminClient(stdout, stderr io.Writer) *adminClient {
	return &adminClient{http: &http.Client{Timeout: 10 * time.Minute}, stdout: stdout, stderr: stderr}
}

type tenantView struct {
	Name          string          `json:"name"`
	Source        string          `json:"source"`
	Mode          string          `json:"mode"`
	Database      string          `json:"database"`
	Schemas       []string        `json:"schemas"`
	Template      string          `json:"template"`
	Pool          json.RawMessage `json:"pool"`
	Limits        json.RawMessage `json:"limits"`
	SchemaVersion string          `json:"schema_version"`
	Ready         bool            `json:"ready"`
	State         string          `json:"state"`
	LoadError     string          `json:"load_error"`
	CreatedAt     *time.Time      `json:"created_at"`
}

func short(v string) string {
	if len(v) > 12 {
		return v[:12]
	}
	return v
}

// tenantCommand runs `kapok tenant …`.
func tenantCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, tenantUsage)
		return exitOK
	}
	sub, args := args[0], args[1:]
	if sub == "keys" {
		return tenantKeysCommand(ctx, args, stdout, stderr)
	}
	c := newAdminClient(stdout, stderr)
	fs := flag.NewFlagSet("tenant "+sub, flag.ContinueOnError)
	usageHint(fs, stderr, "kapok tenant "+sub)
	commonFlags(fs, c)
	var mode, template string
	var yes bool
	if sub == "create" {
		fs.StringVar(&mode, "mode", "schema", "schema (a schema in the shared database) or database (its own database)")
		fs.StringVar(&template, "template", "", "template to start from (default: default)")
	}
	if sub == "delete" {
		fs.BoolVar(&yes, "yes", false, "really drop the tenant's schema or database and all its data")
	}
	var to, database string
	if sub == "move" {
		fs.StringVar(&to, "to", "", "where the tenant goes: database (a database of its own)")
		fs.StringVar(&database, "database", "", "the new database's name (default: the tenant's name with '-' as '_')")
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	needName := func() (string, bool) {
		if len(pos) != 1 {
			fmt.Fprintf(stderr, "kapok tenant %s: give exactly one tenant name\n\n%s", sub, tenantUsage)
			return "", false
		}
		return pos[0], true
	}
	switch sub {
	case "create":
		name, ok := needName()
		if !ok {
			return exitUsage
		}
		var out struct {
			Tenant      tenantView `json:"tenant"`
			ProvisionMS float64    `json:"provision_ms"`
			TotalMS     float64    `json:"total_ms"`
		}
		req := map[string]any{"name": name, "mode": mode}
		if template != "" {
			req["template"] = template
		}
		if err := c.call(ctx, "POST", "/tenants", req, &out); err != nil {
			return c.fail(err)
		}
		if !c.json {
			where := "schema " + strings.Join(out.Tenant.Schemas, ",")
			if out.Tenant.Mode == "database" {
				where = "database " + out.Tenant.Database
			}
			fmt.Fprintf(stdout, "created tenant %s (%s) in %.1f ms; serving at %s/t/%s/v1/graphql\n",
				name, where, out.TotalMS, strings.TrimRight(c.base, "/"), name)
		}
		return exitOK
	case "list":
		var out struct {
			Tenants []tenantView `json:"tenants"`
		}
		if err := c.call(ctx, "GET", "/tenants", nil, &out); err != nil {
			return c.fail(err)
		}
		if !c.json {
			w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tMODE\tWHERE\tSOURCE\tSCHEMA VERSION\tSTATE\tREADY")
			for _, t := range out.Tenants {
				where := strings.Join(t.Schemas, ",")
				if t.Mode == "database" {
					where = t.Database
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%v\n", t.Name, t.Mode, where, t.Source, short(t.SchemaVersion), t.State, t.Ready)
			}
			w.Flush()
		}
		return exitOK
	case "show":
		name, ok := needName()
		if !ok {
			return exitUsage
		}
		var t tenantView
		if err := c.call(ctx, "GET", "/tenants/"+url.PathEscape(name), nil, &t); err != nil {
			return c.fail(err)
		}
		if !c.json {
			w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "name\t%s\nsource\t%s\nmode\t%s\n", t.Name, t.Source, t.Mode)
			if t.Database != "" {
				fmt.Fprintf(w, "database\t%s\n", t.Database)
			}
			fmt.Fprintf(w, "schemas\t%s\nschema version\t%s\nstate\t%s\nready\t%v\npool\t%s\nlimits\t%s\n",
				strings.Join(t.Schemas, ", "), t.SchemaVersion, t.State, t.Ready, t.Pool, t.Limits)
			if t.Template != "" {
				fmt.Fprintf(w, "template\t%s\n", t.Template)
			}
			if t.CreatedAt != nil {
				fmt.Fprintf(w, "created\t%s\n", t.CreatedAt.Format(time.RFC3339))
			}
			if t.LoadError != "" {
				fmt.Fprintf(w, "load error\t%s\n", t.LoadError)
			}
			w.Flush()
		}
		return exitOK
	case "move":
		name, ok := needName()
		if !ok {
			return exitUsage
		}
		if to != "database" {
			fmt.Fprintf(stderr, "kapok tenant move: give --to database (a tenant moves from its schema to a database of its own)\n\n%s", tenantUsage)
			return exitUsage
		}
		var out struct {
			Tenant    tenantView `json:"tenant"`
			Database  string     `json:"database"`
			Tables    int        `json:"tables"`
			CopyMS    float64    `json:"copy_ms"`
			CatchUpMS float64    `json:"catch_up_ms"`
			PauseMS   float64    `json:"pause_ms"`
			TotalMS   float64    `json:"total_ms"`
			Warnings  []string   `json:"warnings"`
		}
		req := map[string]any{"mode": to}
		if database != "" {
			req["database"] = database
		}
		if err := c.call(ctx, "POST", "/tenants/"+url.PathEscape(name)+"/move", req, &out); err != nil {
			return c.fail(err)
		}
		if !c.json {
			fmt.Fprintf(stdout, "moved tenant %s to database %s (%d tables): copy %.0f ms, catch-up %.1f ms, requests paused %.1f ms, total %.0f ms\n",
				name, out.Database, out.Tables, out.CopyMS, out.CatchUpMS, out.PauseMS, out.TotalMS)
			for _, w := range out.Warnings {
				fmt.Fprintf(stdout, "warning: %s\n", w)
			}
		}
		return exitOK
	case "delete":
		name, ok := needName()
		if !ok {
			return exitUsage
		}
		if !yes {
			fmt.Fprintf(stderr, "kapok: deleting tenant %s drops its schema or database and all its data; add --yes to confirm\n", name)
			return exitUsage
		}
		if err := c.call(ctx, "DELETE", "/tenants/"+url.PathEscape(name)+"?confirm="+url.QueryEscape(name), nil, nil); err != nil {
			return c.fail(err)
		}
		if !c.json {
			fmt.Fprintf(stdout, "deleted tenant %s\n", name)
		}
		return exitOK
	}
	fmt.Fprintf(stderr, "kapok tenant: unknown command %q\n\n%s", sub, tenantUsage)
	return exitUsage
}

// migrationFile is one version of a migrations directory.
type migrationFile struct {
	Version  int
	Name     string // the file name without .up.sql, e.g. 0001_create_users: the name logged
	Up, Down string
}

var migrationFileRE = regexp.MustCompile(`^(\d+)_([A-Za-z0-9_\-]+)\.(up|down)\.sql$`)

// readMigrations reads dir's versioned scripts in version order.
func readMigrations(dir string) ([]*migrationFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	byName := map[string]*migrationFile{}
	versions := map[int]string{}
	for _, e := range entries {
		m := migrationFileRE.FindStringSubmatch(e.Name())
		if e.IsDir() || m == nil {
			continue
		}
		v, _ := strconv.Atoi(m[1])
		name := m[1] + "_" + m[2]
		if prev, ok := versions[v]; ok && prev != name {
			return nil, fmt.Errorf("version %d is used twice: %s and %s", v, prev, name)
		}
		versions[v] = name
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		f := byName[name]
		if f == nil {
			f = &migrationFile{Version: v, Name: name}
			byName[name] = f
		}
		if m[3] == "up" {
			f.Up = string(b)
		} else {
			f.Down = string(b)
		}
	}
	out := make([]*migrationFile, 0, len(byName))
	for _, f := range byName {
		if strings.TrimSpace(f.Up) == "" {
			return nil, fmt.Errorf("%s has no (or an empty) %s.up.sql", f.Name, f.Name)
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

type logEntry struct {
	ID           int64      `json:"id"`
	Name         string     `json:"name"`
	Up           string     `json:"up"`
	Down         *string    `json:"down"`
	AppliedAt    time.Time  `json:"applied_at"`
	AppliedBy    string     `json:"applied_by"`
	Outcome      string     `json:"outcome"`
	Error        *string    `json:"error"`
	RolledBackAt *time.Time `json:"rolled_back_at"`
}

// applied returns the migrations in effect (applied and not rolled back), by name.
func applied(log []logEntry) map[string]logEntry {
	out := map[string]logEntry{}
	for _, e := range log {
		if e.Outcome == "applied" && e.RolledBackAt == nil {
			out[e.Name] = e
		}
	}
	return out
}

type migrateResult struct {
	ID         int64   `json:"id"`
	DurationMS float64 `json:"duration_ms"`
	Diff       struct {
		TablesAdded    []string `json:"tables_added"`
		TablesDropped  []string `json:"tables_dropped"`
		TablesChanged  []string `json:"tables_changed"`
		ColumnsAdded   []column `json:"columns_added"`
		ColumnsDropped []column `json:"columns_dropped"`
		ColumnsChanged []column `json:"columns_changed"`
	} `json:"diff"`
	RolledBack []int64 `json:"rolled_back"`
}

type column struct {
	Table  string `json:"table"`
	Column string `json:"column"`
	Type   string `json:"type"`
}

func (r *migrateResult) summary() string {
	var parts []string
	add := func(verb string, items []string) {
		if len(items) > 0 {
			parts = append(parts, verb+" "+strings.Join(items, ", "))
		}
	}
	cols := func(cs []column) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Table+"."+c.Column+" "+c.Type)
		}
		return out
	}
	d := r.Diff
	add("tables added:", d.TablesAdded)
	add("tables dropped:", d.TablesDropped)
	add("tables changed:", d.TablesChanged)
	add("columns added:", cols(d.ColumnsAdded))
	add("columns dropped:", cols(d.ColumnsDropped))
	add("columns changed:", cols(d.ColumnsChanged))
	if len(parts) == 0 {
		return "no table or column changes"
	}
	return strings.Join(parts, "; ")
}

// migrateCommand runs `kapok migrate …`.
func migrateCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, migrateUsage)
		return exitOK
	}
	sub, args := args[0], args[1:]
	c := newAdminClient(stdout, stderr)
	fs := flag.NewFlagSet("migrate "+sub, flag.ContinueOnError)
	usageHint(fs, stderr, "kapok migrate "+sub)
	commonFlags(fs, c)
	var tenant, dir, to string
	var dry bool
	fs.StringVar(&tenant, "tenant", "", "the tenant to migrate")
	fs.StringVar(&dir, "dir", "migrations", "directory of NNNN_name.up.sql / .down.sql files")
	fs.BoolVar(&dry, "dry-run", false, "run each pending migration and roll it back: show what it would change")
	fs.StringVar(&to, "to", "", "rollback: undo every migration after this version (0 = all)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	if tenant == "" || len(pos) > 0 {
		fmt.Fprintf(stderr, "kapok migrate %s: --tenant is required and no positional arguments are taken\n\n%s", sub, migrateUsage)
		return exitUsage
	}
	base := "/tenants/" + url.PathEscape(tenant) + "/migrations"
	var log []logEntry
	switch sub {
	case "up", "status":
		files, err := readMigrations(dir)
		if err != nil && !(sub == "status" && errors.Is(err, os.ErrNotExist)) {
			// status without a migrations directory still lists what the tenant's log holds
			fmt.Fprintln(stderr, "kapok:", err)
			return exitUsage
		}
		quiet := *c
		quiet.json = false
		if err := quiet.getLogInto(ctx, base, &log); err != nil {
			return c.fail(err)
		}
		done := applied(log)
		if sub == "status" {
			if c.json {
				return c.printJSON(map[string]any{"files": files, "log": log})
			}
			w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "VERSION\tNAME\tSTATUS\tAPPLIED AT\tBY")
			for _, f := range files {
				e, ok := done[f.Name]
				switch {
				case !ok:
					fmt.Fprintf(w, "%04d\t%s\tpending\t\t\n", f.Version, f.Name)
				case e.Up != f.Up:
					fmt.Fprintf(w, "%04d\t%s\tapplied, file changed since\t%s\t%s\n", f.Version, f.Name, e.AppliedAt.Format(time.RFC3339), e.AppliedBy)
				default:
					fmt.Fprintf(w, "%04d\t%s\tapplied\t%s\t%s\n", f.Version, f.Name, e.AppliedAt.Format(time.RFC3339), e.AppliedBy)
				}
			}
			for _, e := range log {
				if e.Outcome == "applied" && e.RolledBackAt == nil && !hasFile(files, e.Name) {
					fmt.Fprintf(w, "\t%s\tapplied, no file in %s\t%s\t%s\n", e.Name, dir, e.AppliedAt.Format(time.RFC3339), e.AppliedBy)
				}
			}
			w.Flush()
			return exitOK
		}
		n := 0
		for _, f := range files {
			if e, ok := done[f.Name]; ok {
				if e.Up != f.Up {
					fmt.Fprintf(stderr, "kapok: warning: %s changed since it was applied (the applied version stays)\n", f.Name)
				}
				continue
			}
			var res migrateResult
			req := map[string]any{"name": f.Name, "up": f.Up, "dry_run": dry}
			if strings.TrimSpace(f.Down) != "" {
				req["down"] = f.Down
			}
			if err := c.call(ctx, "POST", base, req, &res); err != nil {
				fmt.Fprintf(stderr, "kapok: %s failed; nothing of it was applied\n", f.Name)
				return c.fail(err)
			}
			n++
			if !c.json {
				verb := "applied"
				if dry {
					verb = "dry run of"
				}
				fmt.Fprintf(stdout, "%s %s in %.1f ms: %s\n", verb, f.Name, res.DurationMS, res.summary())
			}
		}
		if n == 0 && !c.json {
			fmt.Fprintf(stdout, "tenant %s is up to date (%d migrations)\n", tenant, len(files))
		}
		return exitOK
	case "rollback":
		req := map[string]any{}
		if to != "" {
			v, err := strconv.Atoi(to)
			if err != nil {
				fmt.Fprintf(stderr, "kapok: --to %q is not a version number\n", to)
				return exitUsage
			}
			if v == 0 {
				req["to"] = 0
			} else {
				quiet := *c
				quiet.json = false
				if err := quiet.getLogInto(ctx, base, &log); err != nil {
					return c.fail(err)
				}
				id := int64(-1)
				for _, e := range log {
					if e.Outcome == "applied" && e.RolledBackAt == nil && versionOf(e.Name) == v {
						id = e.ID
					}
				}
				if id < 0 {
					fmt.Fprintf(stderr, "kapok: version %d is not an applied migration of tenant %s\n", v, tenant)
					return exitFailed
				}
				req["to"] = id
			}
		}
		var res migrateResult
		if err := c.call(ctx, "POST", base+"/rollback", req, &res); err != nil {
			return c.fail(err)
		}
		if !c.json {
			fmt.Fprintf(stdout, "rolled back %d migration(s) in %.1f ms: %s\n", len(res.RolledBack), res.DurationMS, res.summary())
		}
		return exitOK
	}
	fmt.Fprintf(stderr, "kapok migrate: unknown command %q\n\n%s", sub, migrateUsage)
	return exitUsage
}

func (c *adminClient) getLogInto(ctx context.Context, path string, dst *[]logEntry) error {
	var out struct {
		Migrations []logEntry `json:"migrations"`
	}
	if err := c.call(ctx, "GET", path, nil, &out); err != nil {
		return err
	}
	*dst = out.Migrations
	return nil
}

func (c *adminClient) printJSON(v any) int {
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintln(c.stdout, string(b))
	return exitOK
}

func hasFile(files []*migrationFile, name string) bool {
	for _, f := range files {
		if f.Name == name {
			return true
		}
	}
	return false
}

func versionOf(name string) int {
	i := strings.IndexByte(name, '_')
	if i < 0 {
		return -1
	}
	v, err := strconv.Atoi(name[:i])
	if err != nil {
		return -1
	}
	return v
}

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

const eventsUsage = `usage:
  kapok events triggers        --tenant T
  kapok events create-trigger  --tenant T --name N --table [SCHEMA.]TABLE --on insert,update,delete
                               --webhook URL [--columns a,b (update)] [--header 'K: V'] [--header-env K=ENV]
                               [--secret S | --secret-env ENV] [--retries N] [--interval 10s] [--timeout 60s] [--manual] [--ordered]
  kapok events create-trigger  --tenant T --file trigger.json    (Hasura's create_event_trigger body)
  kapok events delete-trigger  --tenant T NAME
  kapok events pause|resume    --tenant T NAME
  kapok events invoke          --tenant T NAME --pk id=1[,col=value]
  kapok events list            --tenant T [--state pending|delivered|dead] [--kind trigger|scheduled|cron] [--trigger N] [--limit N]
  kapok events show            --tenant T EVENT_ID          (every attempt: request and response)
  kapok events redeliver       --tenant T EVENT_ID
  kapok events schedule        --tenant T --at 2030-01-01T12:00:00Z --webhook URL [--payload JSON]
  kapok events cron            --tenant T                   (list cron triggers)
  kapok events create-cron     --tenant T --name N --schedule '*/5 * * * *' --webhook URL [--payload JSON]
  kapok events delete-cron     --tenant T NAME

Webhooks are signed when a secret is set: X-Kapok-Signature-256: sha256=hex(HMAC-SHA256(secret, body)).
flags (every command): --url (or KAPOK_URL, default http://127.0.0.1:8080), --admin-key (or KAPOK_ADMIN_KEY), --json
`

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// eventsCommand runs `kapok events …`.
func eventsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, eventsUsage)
		return exitOK
	}
	sub, args := args[0], args[1:]
	c := newAdminClient(stdout, stderr)
	fs := flag.NewFlagSet("events "+sub, flag.ContinueOnError)
	usageHint(fs, stderr, "kapok events "+sub)
	commonFlags(fs, c)
	var tenant, name, table, on, columns, webhook, secret, secretEnv, file, pk, state, kind, trigger, at, payload, schedule string
	var retries, limit int
	var interval, timeout time.Duration
	var manual, ordered bool
	var headers, headerEnvs listFlag
	fs.StringVar(&tenant, "tenant", "", "the tenant")
	switch sub {
	case "create-trigger", "create-cron", "schedule":
		fs.StringVar(&name, "name", "", "trigger name (letters, digits, _ and -)")
		fs.StringVar(&table, "table", "", "[schema.]table")
		fs.StringVar(&on, "on", "", "operations: insert,update,delete")
		fs.StringVar(&columns, "columns", "", "update: fire only when one of these columns changes")
		fs.StringVar(&webhook, "webhook", "", "the URL events are POSTed to")
		fs.Var(&headers, "header", "a header sent with every event, 'Name: value' (repeatable)")
		fs.Var(&headerEnvs, "header-env", "a header read from the server's environment, Name=ENV_VAR (repeatable)")
		fs.StringVar(&secret, "secret", "", "HMAC-SHA256 signing secret")
		fs.StringVar(&secretEnv, "secret-env", "", "read the signing secret from this environment variable of the server")
		fs.IntVar(&retries, "retries", 0, "retries after a failed delivery before the event is dead")
		fs.DurationVar(&interval, "interval", 10*time.Second, "wait before the first retry (doubles after each)")
		fs.DurationVar(&timeout, "timeout", 60*time.Second, "timeout of one delivery")
		fs.BoolVar(&manual, "manual", false, "allow manual invocation on a row")
		fs.BoolVar(&ordered, "ordered", false, "deliver each row's events one at a time, in commit order (needs a primary key)")
		fs.StringVar(&file, "file", "", "a JSON definition (Hasura's format) instead of the flags")
		fs.StringVar(&at, "at", "", "schedule: when (RFC 3339)")
		fs.StringVar(&payload, "payload", "", "schedule, create-cron: the JSON payload")
		fs.StringVar(&schedule, "schedule", "", "create-cron: a five-field cron expression (UTC)")
	case "invoke":
		fs.StringVar(&pk, "pk", "", "the row: col=value[,col=value]")
	case "list":
		fs.StringVar(&state, "state", "", "pending, delivered or dead")
		fs.StringVar(&kind, "kind", "", "trigger, scheduled or cron")
		fs.StringVar(&trigger, "trigger", "", "only this trigger's events")
		fs.IntVar(&limit, "limit", 50, "at most this many (newest first)")
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	if tenant == "" {
		fmt.Fprintf(stderr, "kapok events %s: --tenant is required\n\n%s", sub, eventsUsage)
		return exitUsage
	}
	base := "/tenants/" + url.PathEscape(tenant) + "/events"
	one := func(what string) (string, bool) {
		if len(pos) != 1 {
			fmt.Fprintf(stderr, "kapok events %s: give exactly one %s\n\n%s", sub, what, eventsUsage)
			return "", false
		}
		return pos[0], true
	}
	delivery := func(def map[string]any) bool {
		def["webhook"] = webhook
		if secret != "" {
			def["secret"] = secret
		}
		if secretEnv != "" {
			def["secret_from_env"] = secretEnv
		}
		var hs []map[string]string
		for _, h := range headers {
			k, v, ok := strings.Cut(h, ":")
			if !ok {
				fmt.Fprintf(stderr, "kapok: --header %q: want 'Name: value'\n", h)
				return false
			}
			hs = append(hs, map[string]string{"name": strings.TrimSpace(k), "value": strings.TrimSpace(v)})
		}
		for _, h := range headerEnvs {
			k, v, ok := strings.Cut(h, "=")
			if !ok {
				fmt.Fprintf(stderr, "kapok: --header-env %q: want Name=ENV_VAR\n", h)
				return false
			}
			hs = append(hs, map[string]string{"name": k, "value_from_env": v})
		}
		if len(hs) > 0 {
			def["headers"] = hs
		}
		def["retry_conf"] = map[string]any{"num_retries": retries, "interval_sec": interval.Seconds(), "timeout_sec": timeout.Seconds()}
		return true
	}
	rawPayload := func(def map[string]any) bool {
		if payload == "" {
			return true
		}
		if !json.Valid([]byte(payload)) {
			fmt.Fprintln(stderr, "kapok: --payload is not valid JSON")
			return false
		}
		def["payload"] = json.RawMessage(payload)
		return true
	}
	post := func(path string, body any, done string) int {
		var out map[string]any
		if err := c.call(ctx, "POST", path, body, &out); err != nil {
			return c.fail(err)
		}
		if !c.json {
			if id, ok := out["event_id"]; ok {
				done += fmt.Sprintf(" (event %v)", id)
			}
			fmt.Fprintln(stdout, done)
		}
		return exitOK
	}

	switch sub {
	case "triggers":
		var out struct {
			Triggers []struct {
				Def struct {
					Name    string          `json:"name"`
					Table   json.RawMessage `json:"table"`
					Insert  any             `json:"insert"`
					Update  any             `json:"update"`
					Delete  any             `json:"delete"`
					Webhook string          `json:"webhook"`
					FromEnv string          `json:"webhook_from_env"`
				} `json:"definition"`
				Paused bool `json:"paused"`
			} `json:"triggers"`
		}
		if err := c.call(ctx, "GET", base+"/triggers", nil, &out); err != nil {
			return c.fail(err)
		}
		if !c.json {
			w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tTABLE\tON\tWEBHOOK\tPAUSED")
			for _, tr := range out.Triggers {
				var tbl struct{ Schema, Name string }
				_ = json.Unmarshal(tr.Def.Table, &tbl)
				var ops []string
				for op, v := range map[string]any{"insert": tr.Def.Insert, "update": tr.Def.Update, "delete": tr.Def.Delete} {
					if v != nil {
						ops = append(ops, op)
					}
				}
				sort.Strings(ops)
				hook := tr.Def.Webhook
				if hook == "" {
					hook = "$" + tr.Def.FromEnv
				}
				fmt.Fprintf(w, "%s\t%s.%s\t%s\t%s\t%v\n", tr.Def.Name, tbl.Schema, tbl.Name, strings.Join(ops, ","), hook, tr.Paused)
			}
			w.Flush()
		}
		return exitOK
	case "create-trigger":
		var def map[string]any
		if file != "" {
			b, err := os.ReadFile(file)
			if err == nil {
				err = json.Unmarshal(b, &def)
			}
			if err != nil {
				fmt.Fprintln(stderr, "kapok: --file:", err)
				return exitUsage
			}
		} else {
			if name == "" || table == "" || on == "" || webhook == "" {
				fmt.Fprintf(stderr, "kapok events create-trigger: --name, --table, --on and --webhook are required (or --file)\n\n%s", eventsUsage)
				return exitUsage
			}
			def = map[string]any{"name": name, "enable_manual": manual, "ordered": ordered}
			schema, tbl, ok := strings.Cut(table, ".")
			if !ok {
				schema, tbl = "", table
			}
			def["table"] = map[string]string{"schema": schema, "name": tbl}
			for _, op := range strings.Split(on, ",") {
				op = strings.ToLower(strings.TrimSpace(op))
				if op != "insert" && op != "update" && op != "delete" {
					fmt.Fprintf(stderr, "kapok: --on %q: operations are insert, update and delete\n", op)
					return exitUsage
				}
				var cols any = "*"
				if op == "update" && columns != "" {
					cols = strings.Split(columns, ",")
				}
				def[op] = map[string]any{"columns": cols}
			}
			if !delivery(def) {
				return exitUsage
			}
		}
		return post(base+"/triggers", def, fmt.Sprintf("created event trigger %v", def["name"]))
	case "delete-trigger", "delete-cron":
		n, ok := one("name")
		if !ok {
			return exitUsage
		}
		coll := map[string]string{"delete-trigger": "/triggers/", "delete-cron": "/cron/"}[sub]
		if err := c.call(ctx, "DELETE", base+coll+url.PathEscape(n), nil, nil); err != nil {
			return c.fail(err)
		}
		if !c.json {
			fmt.Fprintf(stdout, "deleted %s\n", n)
		}
		return exitOK
	case "pause", "resume":
		n, ok := one("trigger name")
		if !ok {
			return exitUsage
		}
		return post(base+"/triggers/"+url.PathEscape(n)+"/"+sub, nil, sub+"d "+n)
	case "invoke":
		n, ok := one("trigger name")
		if !ok {
			return exitUsage
		}
		key := map[string]any{}
		for _, kv := range strings.Split(pk, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				fmt.Fprintf(stderr, "kapok events invoke: --pk col=value[,col=value] names the row\n")
				return exitUsage
			}
			key[k] = v
		}
		return post(base+"/triggers/"+url.PathEscape(n)+"/invoke", map[string]any{"pk": key}, "invoked "+n)
	case "list":
		q := url.Values{}
		for k, v := range map[string]string{"state": state, "kind": kind, "trigger": trigger} {
			if v != "" {
				q.Set(k, v)
			}
		}
		q.Set("limit", strconv.Itoa(limit))
		var out struct {
			Events []eventView `json:"events"`
		}
		if err := c.call(ctx, "GET", base+"?"+q.Encode(), nil, &out); err != nil {
			return c.fail(err)
		}
		if !c.json {
			w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tKIND\tTRIGGER\tOP\tSTATE\tTRIES\tLAST STATUS\tCREATED")
			for _, e := range out.Events {
				status := ""
				if e.LastStatus != nil {
					status = strconv.Itoa(*e.LastStatus)
				} else if e.LastError != nil {
					status = "error"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.ID, e.Kind, e.Trigger, e.Op, e.State, e.Tries, status, e.CreatedAt.Format(time.RFC3339))
			}
			w.Flush()
		}
		return exitOK
	case "show":
		id, ok := one("event id")
		if !ok {
			return exitUsage
		}
		var e eventView
		if err := c.call(ctx, "GET", base+"/"+url.PathEscape(id), nil, &e); err != nil {
			return c.fail(err)
		}
		if !c.json {
			fmt.Fprintf(stdout, "event %s (%s %s %s): %s after %d tries\n", e.ID, e.Kind, e.Trigger, e.Op, e.State, e.Tries)
			for _, a := range e.Attempts {
				status := "no response"
				if a.Status != nil {
					status = strconv.Itoa(*a.Status)
				}
				fmt.Fprintf(stdout, "\ntry %d by %s at %s: %s in %.1f ms\n", a.Try, a.Worker, a.StartedAt.Format(time.RFC3339Nano), status, a.DurationMS)
				if a.Error != nil {
					fmt.Fprintf(stdout, "  error: %s\n", *a.Error)
				}
				fmt.Fprintf(stdout, "  request: %s\n", a.Request)
				if a.ResponseBody != nil {
					fmt.Fprintf(stdout, "  response: %s\n", *a.ResponseBody)
				}
			}
		}
		return exitOK
	case "redeliver":
		id, ok := one("event id")
		if !ok {
			return exitUsage
		}
		return post(base+"/"+url.PathEscape(id)+"/redeliver", nil, "redelivering "+id)
	case "schedule":
		if at == "" || webhook == "" {
			fmt.Fprintf(stderr, "kapok events schedule: --at and --webhook are required\n\n%s", eventsUsage)
			return exitUsage
		}
		def := map[string]any{"schedule_at": at}
		if !delivery(def) || !rawPayload(def) {
			return exitUsage
		}
		return post(base+"/scheduled", def, "scheduled an event at "+at)
	case "cron":
		var out struct {
			Cron []struct {
				Def struct {
					Name, Schedule, Webhook string
				} `json:"definition"`
				Paused   bool      `json:"paused"`
				NextTick time.Time `json:"next_tick"`
			} `json:"cron_triggers"`
		}
		if err := c.call(ctx, "GET", base+"/cron", nil, &out); err != nil {
			return c.fail(err)
		}
		if !c.json {
			w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tSCHEDULE\tWEBHOOK\tPAUSED\tNEXT TICK")
			for _, ct := range out.Cron {
				fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\n", ct.Def.Name, ct.Def.Schedule, ct.Def.Webhook, ct.Paused, ct.NextTick.Format(time.RFC3339))
			}
			w.Flush()
		}
		return exitOK
	case "create-cron":
		if name == "" || schedule == "" || webhook == "" {
			fmt.Fprintf(stderr, "kapok events create-cron: --name, --schedule and --webhook are required\n\n%s", eventsUsage)
			return exitUsage
		}
		def := map[string]any{"name": name, "schedule": schedule}
		if !delivery(def) || !rawPayload(def) {
			return exitUsage
		}
		return post(base+"/cron", def, "created cron trigger "+name)
	}
	fmt.Fprintf(stderr, "kapok events: unknown command %q\n\n%s", sub, eventsUsage)
	return exitUsage
}

type eventView struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	Trigger    string    `json:"trigger"`
	Op         string    `json:"op"`
	State      string    `json:"state"`
	Tries      int       `json:"tries"`
	LastStatus *int      `json:"last_status"`
	LastError  *string   `json:"last_error"`
	CreatedAt  time.Time `json:"created_at"`
	Attempts   []struct {
		Try          int             `json:"try"`
		Worker       string          `json:"worker"`
		StartedAt    time.Time       `json:"started_at"`
		DurationMS   float64         `json:"duration_ms"`
		Request      json.RawMessage `json:"request"`
		Status       *int            `json:"status"`
		ResponseBody *string         `json:"response_body"`
		Error        *string         `json:"error"`
	} `json:"attempts"`
}

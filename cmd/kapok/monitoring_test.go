package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gopkg.in/yaml.v3"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

var (
	dashboardFile = filepath.Join("..", "..", "configs", "grafana", "kapok.json")
	alertsFile    = filepath.Join("..", "..", "configs", "prometheus", "alerts.yml")
)

// onlyAfterTheirEvent are the series that exist only once what they count has happened
// (a dead event, a replication stream, a tenant's first webhook): the test's traffic does
// not make them, so for these the names are checked against Kapok's source instead of
// /metrics, and their panels may be empty.
var onlyAfterTheirEvent = map[string]bool{
	"kapok_events_delivered_total":       true,
	"kapok_events_failed_attempts_total": true,
	"kapok_events_dead_total":            true,
	"kapok_events_pending":               true,
	"kapok_events_dead":                  true,
	"kapok_realtime_slot_lag_bytes":      true,
}

func TestTheAlertRulesPassPromtool(t *testing.T) {
	promtool := testenv.AptTool(t, "prometheus", "promtool")
	dir := filepath.Dir(alertsFile)
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// Every alert has a case where it fires.
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, filepath.Join(dir, "alerts_test.yml"), &tests)
	fires := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	for _, name := range alertNames(t) {
		if !fires[name] {
			t.Errorf("alerts_test.yml has no case where %s fires", name)
		}
	}
}

type alertRules struct {
	Groups []struct {
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func alertNames(t *testing.T) []string {
	var rules alertRules
	readYAML(t, alertsFile, &rules)
	var names []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
		}
	}
	return names
}

// dashboardTarget is one query of the dashboard.
type dashboardTarget struct {
	panel, expr string
}

func dashboardQueries(t *testing.T) (targets []dashboardTarget, variables []string) {
	t.Helper()
	var d struct {
		SchemaVersion int `json:"schemaVersion"`
		Panels        []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion %d, want at least 39", d.SchemaVersion)
	}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			targets = append(targets, dashboardTarget{p.Title, tg.Expr})
		}
	}
	hasDatasource := false
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			hasDatasource = true
		case "query":
			var q struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Fatalf("variable %s: %v", v.Name, err)
			}
			variables = append(variables, q.Query)
		}
	}
	if !hasDatasource {
		t.Error("the dashboard has no data source variable")
	}
	return targets, variables
}

// grafanaVars stands in for Grafana's variables: every tenant, the scrape job, and rate
// windows that hold several of the test's 1s scrapes.
var grafanaVars = strings.NewReplacer(
	"${tenant}", ".*", "$tenant", ".*",
	"${job}", "kapok", "$job", "kapok",
	"$__rate_interval", "10s", "$__interval", "2s", "$__range", "1m",
	"${datasource}", "", "$datasource", "",
)

var metricName = regexp.MustCompile(`\b((?:kapok|go|process)_[a-z0-9_]+|up)\b`)

func TestEveryDashboardQueryRunsOnAPrometheusScrapingKapok(t *testing.T) {
	prometheus := testenv.AptTool(t, "prometheus", "prometheus")
	targets, variables := dashboardQueries(t)
	kapok, wireAddr := serveForMonitoring(t)
	send := func() { monitoringTraffic(t, kapok, wireAddr) }
	send()

	prom := startPrometheus(t, prometheus, kapok)
	prom.waitScrapes(t, 2)
	send() // between scrapes, so the rates are not zero
	prom.waitScrapes(t, 5)

	status, metrics := get(kapok + "/metrics")
	if status != 200 {
		t.Fatalf("/metrics: %d %s", status, metrics)
	}
	exposed := map[string]bool{}
	for _, line := range strings.Split(metrics, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		exposed[name] = true
	}
	exposed["up"] = true // Prometheus's own

	checked := map[string]bool{}
	checkName := func(name, where string) {
		if checked[name] {
			return
		}
		checked[name] = true
		if onlyAfterTheirEvent[name] {
			if !inKapokSource(t, name) {
				t.Errorf("%s uses %s, which no Kapok code registers", where, name)
			}
			return
		}
		if !exposed[name] {
			t.Errorf("%s uses %s, which Kapok's /metrics does not have", where, name)
		}
	}
	for _, tg := range targets {
		expr := grafanaVars.Replace(tg.expr)
		if strings.Contains(expr, "$") {
			t.Errorf("panel %q: a variable the test does not know: %s", tg.panel, tg.expr)
			continue
		}
		conditional := false
		for _, m := range metricName.FindAllString(expr, -1) {
			checkName(m, fmt.Sprintf("panel %q", tg.panel))
			conditional = conditional || onlyAfterTheirEvent[m]
		}
		n, err := prom.query(expr)
		switch {
		case err != nil:
			t.Errorf("panel %q: %s: %v", tg.panel, expr, err)
		case n == 0 && !conditional:
			t.Errorf("panel %q: %s: no series", tg.panel, expr)
		}
	}
	for _, v := range variables {
		m := regexp.MustCompile(`^label_values\((.+), *([a-z_]+)\)$`).FindStringSubmatch(grafanaVars.Replace(v))
		if m == nil {
			t.Errorf("variable query %q is not label_values(selector, label)", v)
			continue
		}
		checkName(metricName.FindString(m[1]), "a variable")
		values := prom.labelValues(t, m[2], m[1])
		if len(values) == 0 || (m[2] == "tenant" && !contains(values, "monitoring-t")) || (m[2] == "job" && !contains(values, "kapok")) {
			t.Errorf("variable %q gives %v", v, values)
		}
	}
	var rules alertRules
	readYAML(t, alertsFile, &rules)
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			for _, m := range metricName.FindAllString(r.Expr, -1) {
				checkName(m, "alert "+r.Alert)
			}
		}
	}
	// Prometheus loaded the rules and evaluated each without error.
	prom.checkRules(t, len(alertNames(t)))
}

// inKapokSource reports whether name is registered as a metric name in the repository's
// Go code (a quoted string literal outside tests).
func inKapokSource(t *testing.T, name string) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(filepath.Join("..", ".."), func(p string, d os.DirEntry, err error) error {
		if err != nil || found {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || d.Name() == ".kapok") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), `"`+name+`"`) {
			found = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// serveForMonitoring runs `kapok serve` with one tenant and the wire port, and returns its
// HTTP base URL and wire address.
func serveForMonitoring(t *testing.T) (string, string) {
	t.Helper()
	testenv.FreshSchema(t, "monitoring_t", "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'a'), (2, 'b')")
	cfg := &control.Config{
		Listen: "127.0.0.1:0", WireListen: "127.0.0.1:0", AdminKey: "monitoring-t-admin",
		Upstreams: map[string]*control.Upstream{"dev": {URL: testenv.DirectURL(), Pooler: testenv.PoolerURL()}},
		Tenants: []*control.TenantConfig{{Name: "monitoring-t", Schemas: []string{"monitoring_t"},
			Limits: &control.Limits{MaxBodyBytes: 4096}}},
		Events: control.EventsConfig{Disabled: true},
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)), nil) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	addrs := regexp.MustCompile(`http=(http://127\.0\.0\.1:\d+) wire=(127\.0\.0\.1:\d+)`)
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if m := addrs.FindStringSubmatch(logs.String()); m != nil {
			return m[1], m[2]
		}
	}
	t.Fatalf("serve logged no addresses:\n%s", logs)
	return "", ""
}

// monitoringTraffic sends what the request panels show: GraphQL and REST that succeed,
// client errors, a refused oversized body, and a wire-port session.
func monitoringTraffic(t *testing.T, base, wireAddr string) {
	t.Helper()
	admin := http.Header{"X-Kapok-Admin-Key": {"monitoring-t-admin"}, "Content-Type": {"application/json"}}
	do := func(method, path, body string, want int) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = admin.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
		}
	}
	for i := 0; i < 5; i++ {
		do("POST", "/t/monitoring-t/v1/graphql", `{"query":"{ items { id name } }"}`, 200)
		do("GET", "/t/monitoring-t/rest/v1/items?id=eq.1", "", 200)
	}
	do("POST", "/t/monitoring-t/v1/graphql", `{"query":"{ nope }"}`, 200) // a validation error
	do("GET", "/t/monitoring-t/rest/v1/nope", "", 404)
	do("POST", "/t/monitoring-t/v1/graphql", `{"query":"{ items { id } }","x":"`+strings.Repeat("x", 5000)+`"}`, 413)

	host, port, _ := net.SplitHostPort(wireAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(ctx, fmt.Sprintf("host=%s port=%s user=token.monitoring-t password=monitoring-t-admin sslmode=disable", host, port))
	if err != nil {
		t.Fatalf("wire port: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "SELECT count(*) FROM items").ReadAll(); err != nil {
		t.Fatalf("wire query: %v", err)
	}
}

// promServer is a Prometheus started for one test.
type promServer struct {
	url string
}

// startPrometheus runs Debian's prometheus scraping target every second, with Kapok's
// alert rules loaded, on a free port and a fresh storage directory, until the test ends.
func startPrometheus(t *testing.T, bin, target string) *promServer {
	t.Helper()
	dir := t.TempDir()
	rules, err := filepath.Abs(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(target)
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: kapok
    static_configs:
      - targets: [%q]
`, rules, u.Host)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logs := &syncBuffer{}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	p := &promServer{url: "http://" + addr}
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("prometheus exited:\n%s", logs)
		default:
		}
		if resp, err := http.Get(p.url + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(end) {
			t.Fatalf("prometheus not ready on %s:\n%s", addr, logs)
		}
	}
}

// api calls Prometheus's HTTP API and decodes its data.
func (p *promServer) api(path string, params url.Values, data any) error {
	resp, err := http.Get(p.url + path + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return err
	}
	if out.Status != "success" {
		return fmt.Errorf("%s: %s", out.Status, out.Error)
	}
	return json.Unmarshal(out.Data, data)
}

// query runs an instant query and returns the number of series (or 1 for a scalar).
func (p *promServer) query(expr string) (int, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.api("/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return 0, err
	}
	if data.ResultType != "vector" && data.ResultType != "matrix" {
		return 1, nil
	}
	var series []json.RawMessage
	err := json.Unmarshal(data.Result, &series)
	return len(series), err
}

func (p *promServer) labelValues(t *testing.T, label, match string) []string {
	t.Helper()
	var values []string
	if err := p.api("/api/v1/label/"+label+"/values", url.Values{"match[]": {match}}, &values); err != nil {
		t.Fatalf("label values of %s for %s: %v", label, match, err)
	}
	return values
}

// waitScrapes waits until Prometheus holds n samples of Kapok's up series, all 1.
func (p *promServer) waitScrapes(t *testing.T, n int) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		var data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		}
		if err := p.api("/api/v1/query", url.Values{"query": {`count_over_time(up{job="kapok"}[5m]) * (min_over_time(up{job="kapok"}[5m]) == 1)`}}, &data); err == nil && len(data.Result) == 1 {
			if s, ok := data.Result[0].Value[1].(string); ok {
				if v, err := strconv.ParseFloat(s, 64); err == nil && v >= float64(n) {
					return
				}
			}
		}
	}
	t.Fatalf("Prometheus did not scrape Kapok %d times", n)
}

// checkRules asserts that Prometheus loaded want alerting rules and evaluated every one
// without error.
func (p *promServer) checkRules(t *testing.T, want int) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var data struct {
			Groups []struct {
				Rules []struct {
					Name           string `json:"name"`
					Health         string `json:"health"`
					LastError      string `json:"lastError"`
					LastEvaluation string `json:"lastEvaluation"`
				} `json:"rules"`
			} `json:"groups"`
		}
		if err := p.api("/api/v1/rules", url.Values{"type": {"alert"}}, &data); err != nil {
			t.Fatal(err)
		}
		var bad []string
		n := 0
		for _, g := range data.Groups {
			for _, r := range g.Rules {
				n++
				if r.Health != "ok" {
					bad = append(bad, fmt.Sprintf("%s: %s %s", r.Name, r.Health, r.LastError))
				}
			}
		}
		sort.Strings(bad)
		if n == want && len(bad) == 0 {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("Prometheus has %d alerting rules of %d; not evaluated cleanly: %v", n, want, bad)
		}
	}
}

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/valyala/fasthttp"
)

// Targets of the create phase: a new tenant served, p99, while others are under load.
const (
	createSchemaTarget   = 100 * time.Millisecond
	createDatabaseTarget = 500 * time.Millisecond
)

// createAdminKey is the admin key of the Kapok the create phase starts.
const createAdminKey = "bench-create-admin-key"

// createLoadTenants are the tenants under load while others are created.
const createLoadTenants = 100

// TenantCreation is how long creating a tenant through the admin API takes, from the warm
// template to served (its catalog loaded), while other tenants are under load.
type TenantCreation struct {
	Schema   Creations `json:"schema"`
	Database Creations `json:"database"`
	Load     *Side     `json:"load"`                // the tenants under load meanwhile
	LoadRate float64   `json:"load_rate,omitempty"` // its open-loop rate (0: a closed loop)
	// FlatOut: the load was a closed loop as fast as it goes, the machine saturated; the
	// targets are for a load it serves with room to spare, so this run is reported, not
	// judged.
	FlatOut bool   `json:"flat_out,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Creations are the times of one kind of creation, as the client saw them (request to
// 201), in milliseconds; Provision is Kapok's own figure for copying the template.
type Creations struct {
	N            int     `json:"n"`
	Failed       int     `json:"failed"`
	P50          float64 `json:"p50_ms,omitempty"`
	P99          float64 `json:"p99_ms,omitempty"`
	Max          float64 `json:"max_ms,omitempty"`
	ProvisionP99 float64 `json:"provision_p99_ms,omitempty"`
	// FromSpare counts the schema tenants made by renaming a spare schema.
	FromSpare  int    `json:"from_spare,omitempty"`
	FirstError string `json:"first_error,omitempty"`
}

// create creates o.createSchemas schema tenants and o.createDBs database tenants, one at a
// time, while createLoadTenants tenants are driven at rate requests/s (0: a closed loop as
// fast as it goes), then deletes them.
func (r *tenantsRun) create(ctx context.Context, rate float64) (*TenantCreation, error) {
	o := r.o
	c := &TenantCreation{Load: &Side{}, LoadRate: rate, FlatOut: rate == 0}
	so, err := o.kapok(len(o.counts)+2, createLoadTenants)
	if err != nil {
		return nil, err
	}
	so.adminKey = createAdminKey
	stop, url, _, err := r.startKapok(ctx, "Kapok (admin API)", so)
	if err != nil {
		c.Error = err.Error()
		r.logf("create: %v", err)
		return c, nil
	}
	defer stop()
	s, err := r.scenario(0, createLoadTenants-1)
	if err != nil {
		return nil, err
	}
	// With an admin key set, a tenant without credentials of its own answers only
	// authenticated requests: the load authenticates as the admin, who runs as the tenant's
	// default role, like an anonymous request without the key.
	for i := range s.Requests {
		h := map[string]string{"X-Kapok-Admin-Key": createAdminKey}
		for k, v := range s.Requests[i].Headers {
			h[k] = v
		}
		s.Requests[i].Headers = h
	}
	if t, err := touchTenants(ctx, url, s, tenantsOf(s), o.connections); err != nil {
		return nil, err
	} else if t.Failed > 0 {
		c.Error = fmt.Sprintf("%d first requests to the loaded tenants failed", t.Failed)
		return c, nil
	}
	client := &fasthttp.Client{ReadTimeout: time.Minute, WriteTimeout: time.Minute}
	prefix := fmt.Sprintf("bench-c%d", os.Getpid())
	var made []string
	defer func() {
		for _, name := range made {
			if _, _, err := adminCall(client, "DELETE", url+"/admin/v1/tenants/"+name+"?confirm="+name, nil); err != nil {
				r.logf("create: deleting %s: %v", name, err)
			}
		}
	}()
	// One of each first, not counted: the templates are kept warm from then on.
	for _, mode := range []string{"schema", "database"} {
		name := fmt.Sprintf("%s-warm-%s", prefix, mode[:1])
		if _, _, err := createTenant(client, url, name, mode); err != nil {
			c.Error = fmt.Sprintf("warming the %s template: %v", mode, err)
			return c, nil
		}
		made = append(made, name)
	}
	// The load runs past the creations: under a tenth of a second for a schema tenant,
	// under a third for a database tenant, with room to spare.
	loadFor := time.Duration(o.createSchemas)*100*time.Millisecond + time.Duration(o.createDBs)*300*time.Millisecond + 3*time.Second
	loaded := make(chan error, 1)
	go func() {
		res, err := Run(ctx, LoadConfig{Target: url, Connections: o.connections / 2, Rate: rate, Duration: loadFor, Timeout: 5 * time.Second, Seed: 7}, s)
		if err == nil {
			c.Load.add(res)
			c.Load.finish()
		}
		loaded <- err
	}()
	time.Sleep(time.Second) // the load under way first
	measure := func(kind string, n int, into *Creations) {
		var took, prov Histogram
		for i := range n {
			name := fmt.Sprintf("%s-%s%03d", prefix, kind[:1], i)
			start := time.Now()
			p, spare, err := createTenant(client, url, name, kind)
			into.N++
			if err != nil {
				into.Failed++
				if into.FirstError == "" {
					into.FirstError = err.Error()
				}
				continue
			}
			made = append(made, name)
			if spare {
				into.FromSpare++
			}
			took.Record(time.Since(start))
			prov.Record(time.Duration(p * float64(time.Millisecond)))
		}
		into.P50, into.P99, into.Max = ms(took.Quantile(0.50)), ms(took.Quantile(0.99)), ms(took.Max())
		into.ProvisionP99 = ms(prov.Quantile(0.99))
	}
	measure("schema", o.createSchemas, &c.Schema)
	measure("database", o.createDBs, &c.Database)
	if err := <-loaded; err != nil {
		return nil, err
	}
	if c.Load.errorCount() > 0 {
		c.Error = fmt.Sprintf("the load meanwhile had %d failed requests (%s)", c.Load.errorCount(), errorSummary(c.Load.Errors))
	}
	r.logf("create: schema p99 %.0f ms, database p99 %.0f ms, under %.0f req/s", c.Schema.P99, c.Database.P99, c.Load.RPS)
	return c, nil
}

// createTenant creates a tenant through the admin API and returns Kapok's provisioning time
// (ms) and whether the tenant's schema was a spare renamed.
func createTenant(client *fasthttp.Client, url, name, mode string) (float64, bool, error) {
	body, _ := json.Marshal(map[string]string{"name": name, "mode": mode})
	status, resp, err := adminCall(client, "POST", url+"/admin/v1/tenants", body)
	if err != nil {
		return 0, false, err
	}
	if status != fasthttp.StatusCreated {
		return 0, false, fmt.Errorf("create %s tenant %s: %d %s", mode, name, status, briefly(string(resp)))
	}
	var out struct {
		ProvisionMS float64 `json:"provision_ms"`
		FromSpare   bool    `json:"from_spare"`
	}
	_ = json.Unmarshal(resp, &out)
	return out.ProvisionMS, out.FromSpare, nil
}

func adminCall(client *fasthttp.Client, method, url string, body []byte) (int, []byte, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	req.Header.SetMethod(method)
	req.Header.Set("X-Kapok-Admin-Key", createAdminKey)
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBody(body)
	}
	if err := client.DoTimeout(req, resp, time.Minute); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode(), append([]byte(nil), resp.Body()...), nil
}

func writeCreation(w io.Writer, c *TenantCreation) {
	load := "a closed loop as fast as it goes"
	if c.LoadRate > 0 {
		load = fmt.Sprintf("%.0f req/s, open loop", c.LoadRate)
	}
	fmt.Fprintf(w, "\ntenant creation through the admin API, one at a time, while %d tenants are under load (%s; targets: schema p99 < %s, database p99 < %s)\n",
		createLoadTenants, load, createSchemaTarget, createDatabaseTarget)
	if c.Error != "" {
		fmt.Fprintf(w, "  not measured: %s\n", briefly(c.Error))
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\ttenants\tfailed\tfrom spares\tp50\tp99\tmax\tprovision p99\tload req/s\t")
	for _, row := range []struct {
		mode   string
		c      Creations
		target time.Duration
	}{{"schema", c.Schema, createSchemaTarget}, {"database", c.Database, createDatabaseTarget}} {
		verdict := "met"
		if row.c.Failed > 0 {
			verdict = "failed: " + briefly(row.c.FirstError)
		} else if c.FlatOut {
			verdict = "not judged: the machine saturated"
		} else if row.c.P99 >= float64(row.target.Milliseconds()) {
			verdict = fmt.Sprintf("missed: p99 %.0f ms ≥ %s", row.c.P99, row.target)
		}
		spares := "-"
		if row.mode == "schema" {
			spares = strconv.Itoa(row.c.FromSpare)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%.0fms\t%.0fms\t%.0fms\t%.0fms\t%.0f\t  %s\n", row.mode, row.c.N, row.c.Failed, spares, row.c.P50, row.c.P99, row.c.Max,
			row.c.ProvisionP99, c.Load.RPS, verdict)
	}
	tw.Flush()
}

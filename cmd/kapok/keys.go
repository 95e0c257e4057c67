package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
)

// tenantKeysCommand prints a tenant's anon and service_role keys (GET
// /admin/v1/tenants/{name}/keys), the two keys supabase-js's createClient takes.
func tenantKeysCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newAdminClient(stdout, stderr)
	fs := flag.NewFlagSet("tenant keys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	commonFlags(fs, c)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "kapok tenant keys: give exactly one tenant name\n\n%s", tenantUsage)
		return exitUsage
	}
	var k struct {
		Tenant      string `json:"tenant"`
		Anon        string `json:"anon_key"`
		ServiceRole string `json:"service_role_key"`
	}
	if err := c.call(ctx, "GET", "/tenants/"+url.PathEscape(pos[0])+"/keys", nil, &k); err != nil {
		return c.fail(err)
	}
	if c.json {
		return c.printJSON(k)
	}
	fmt.Fprintf(stdout, "anon key          %s\nservice_role key  %s\n\n", k.Anon, k.ServiceRole)
	fmt.Fprintf(stdout, "The anon key runs as the tenant's anonymous role; the service_role key runs as the\ntenant's own role (full access to its schemas): keep it on servers, never in a browser.\n")
	return exitOK
}

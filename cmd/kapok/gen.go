package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"

	"github.com/kapok-dev/kapok/planner/catalog"
	"github.com/kapok-dev/kapok/planner/gqlschema"
	"github.com/kapok-dev/kapok/planner/typescript"
)

const genUsage = `usage:
  kapok gen types --lang typescript [--tenant T]   the Database type for createClient<Database>() (supabase-js)
  kapok gen types --lang graphql    [--tenant T]   the GraphQL SDL of /v1/graphql (for graphql-codegen)

The tenant's catalog is read from a running server's admin API (GET /admin/v1/tenants/T/schema);
--tenant may be left out when the server has one tenant.

flags: --url (or KAPOK_URL, default http://127.0.0.1:8080), --admin-key (or KAPOK_ADMIN_KEY)
`

// genCommand writes types generated from a tenant's catalog to stdout.
func genCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, genUsage)
		return exitOK
	}
	if args[0] != "types" {
		fmt.Fprintf(stderr, "kapok gen: unknown command %q\n\n%s", args[0], genUsage)
		return exitUsage
	}
	c := newAdminClient(stdout, stderr)
	fs := flag.NewFlagSet("gen types", flag.ContinueOnError)
	fs.SetOutput(stderr)
	commonFlags(fs, c)
	lang := fs.String("lang", "typescript", "typescript or graphql")
	tenant := fs.String("tenant", "", "the tenant (default: the server's only tenant)")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return exitUsage
	}
	if len(pos) != 0 || (*lang != "typescript" && *lang != "graphql") {
		fmt.Fprintf(stderr, "kapok gen types: --lang is typescript or graphql, and no other argument is taken\n\n%s", genUsage)
		return exitUsage
	}
	name := *tenant
	if name == "" {
		var list struct {
			Tenants []tenantView `json:"tenants"`
		}
		if err := c.call(ctx, "GET", "/tenants", nil, &list); err != nil {
			return c.fail(err)
		}
		if len(list.Tenants) != 1 {
			fmt.Fprintf(stderr, "kapok gen types: the server has %d tenants: name one with --tenant\n", len(list.Tenants))
			return exitUsage
		}
		name = list.Tenants[0].Name
	}
	var cat catalog.Schema
	if err := c.call(ctx, "GET", "/tenants/"+url.PathEscape(name)+"/schema", nil, &cat); err != nil {
		return c.fail(err)
	}
	cat.Index()
	if *lang == "graphql" {
		s, err := gqlschema.Build(&cat, gqlschema.Options{})
		if err != nil {
			fmt.Fprintf(stderr, "kapok gen types: %v\n", err)
			return exitFailed
		}
		fmt.Fprint(stdout, s.SDL)
		return exitOK
	}
	_, _ = stdout.Write(typescript.Generate(&cat))
	return exitOK
}

// Package console owns Kapok's web console: the single-page app built from this folder's
// TypeScript sources (src/, by `make build`: npm ci, then vite build into dist/app) and
// embedded into the binary, and the HTTP handler that serves it under /console.
//
// The console is a client of Kapok's own APIs (the admin API and each tenant's REST and
// GraphQL APIs), so permissions apply to whatever it shows or changes: this package must not
// reach the control plane, a tenant or the database itself, and imports nothing of Kapok.
package console

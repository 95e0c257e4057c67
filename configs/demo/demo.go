// Package demo holds the SQL of the dev stack's datasets, embedded so the kapok binary can
// load them from anywhere: Workload (the benchmark workload's tables, tenant demo, with a
// scale factor) and Acme (a small second tenant). Each script creates its tables in the first
// schema of search_path and nothing else there; internal/devstack decides where and when.
package demo

import _ "embed"

// Workload creates and fills customers, products, orders and order_items at the scale given
// by the setting kapok.scale (1 = the full benchmark size).
//
//go:embed workload.sql
var Workload string

// Acme creates and fills tenant acme's customers, projects and tickets.
//
//go:embed acme.sql
var Acme string

// Notes creates tenant notes's table, its row-level security on auth.uid() and its roles
// notes_anon and notes_user.
//
//go:embed notes.sql
var Notes string

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/kapok-dev/kapok/control"
)

// migrationWatcher applies a project's migrations/ to one tenant as files appear, the way
// `kapok migrate up` does (same file rules, same server-side Store.Migrate, same summary),
// without the admin API: `kapok dev` runs it in-process.
type migrationWatcher struct {
	store  *control.Store
	reg    *control.Registry
	tenant string
	dir    string
	out    io.Writer
	// failed remembers a file that failed with its content, so a broken file is reported
	// once, and again only when it changes.
	failed map[string]string
}

// apply applies every pending migration once; it returns how many it applied.
func (w *migrationWatcher) apply(ctx context.Context) (int, error) {
	files, err := readMigrations(w.dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	t := w.reg.Tenant(w.tenant)
	if t == nil {
		return 0, fmt.Errorf("no tenant %q to migrate", w.tenant)
	}
	recs, err := w.store.Migrations(ctx, w.tenant)
	if err != nil {
		return 0, err
	}
	var log []logEntry
	for _, r := range recs {
		log = append(log, logEntry{ID: r.ID, Name: r.Name, Up: r.Up, Outcome: r.Outcome, RolledBackAt: r.RolledBackAt})
	}
	done := applied(log)
	n := 0
	for _, f := range files {
		if _, ok := done[f.Name]; ok {
			continue
		}
		if w.failed[f.Name] == f.Up+"\x00"+f.Down {
			continue
		}
		res, err := w.store.Migrate(ctx, t, &control.Migration{Name: f.Name, Up: f.Up, Down: f.Down, AppliedBy: "kapok dev"})
		if err != nil {
			w.failed[f.Name] = f.Up + "\x00" + f.Down
			fmt.Fprintf(w.out, "migration %s failed; nothing of it was applied: %v\n", f.Name, err)
			var se *control.SQLError
			if errors.As(err, &se) && se.Line > 0 {
				fmt.Fprintf(w.out, "  at line %d, column %d\n", se.Line, se.Column)
			}
			// Later versions wait for this one: they may depend on it.
			return n, nil
		}
		delete(w.failed, f.Name)
		n++
		fmt.Fprintf(w.out, "applied %s in %.1f ms: %s\n", f.Name, res.DurationMS, diffSummary(res))
	}
	return n, nil
}

// watch applies pending migrations now and then every interval until ctx ends.
func (w *migrationWatcher) watch(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if _, err := w.apply(ctx); err != nil && ctx.Err() == nil {
			fmt.Fprintf(w.out, "migrations: %v\n", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// diffSummary words a migration's schema diff as `kapok migrate up` prints it.
func diffSummary(res *control.MigrationResult) string {
	b, err := json.Marshal(res)
	if err != nil {
		return ""
	}
	var r migrateResult
	if err := json.Unmarshal(b, &r); err != nil {
		return ""
	}
	return r.summary()
}

package wire

import "testing"

// A tenant moved to another database (control.Store.OnMove) has its sessions closed, the
// idle ones at once and the others when their transaction ends; its clients reconnect.
func TestDrainTenantClosesItsSessionsAndLetsNewOnesIn(t *testing.T) {
	f := newFixture(t, 2, "")
	ctx := ctxT(t)
	idle, busy := f.connect("idle"), f.connect("busy")
	tx, err := busy.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	f.e.DrainTenant("another-tenant")
	if _, err := idle.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("another tenant's drain closed a session: %v", err)
	}
	f.e.DrainTenant(f.tenant.Name)
	if _, err := idle.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("an idle session survived its tenant's drain")
	} else if code := pgCode(err); code != "57P01" && !idle.IsClosed() {
		t.Fatalf("idle session after the drain: %v", err)
	}
	if _, err := tx.Exec(ctx, "SELECT 2"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := busy.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("a session survived the end of its transaction after its tenant's drain")
	}
	// Unlike a shutdown's drain, the tenant's new sessions are served.
	if _, err := f.connect("again").Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("a new session after the drain: %v", err)
	}
}

package control

import (
	"strings"
	"testing"
)

func TestAMovesReplicationObjectsAreNamedAfterTheTenantWithinPostgresLimits(t *testing.T) {
	if got := moveName("shop-eu"); got != "kapok_move_shop_eu" {
		t.Fatalf("moveName: %q", got)
	}
	long := strings.Repeat("a", 60) + "-b"
	got := moveName(long)
	if len(got) != 63 || !strings.HasPrefix(got, "kapok_move_aaaa") || got == moveName(strings.Repeat("a", 60)+"-c") {
		t.Fatalf("moveName of a long tenant name: %q (%d bytes)", got, len(got))
	}
}

func TestTheRestoreListLeavesTheChosenTriggersOut(t *testing.T) {
	list := `;
; Archive created at 2026-01-01 00:00:00 UTC
;
214; 2615 16400 SCHEMA - shop postgres
215; 1259 16401 TABLE shop todos postgres
3380; 2620 16720 TRIGGER shop todos kapok_changes postgres
3381; 2620 16721 TRIGGER shop todos audit postgres
3382; 1259 16720 TABLE shop other postgres
`
	got := filterTOC(list, map[uint32]bool{16720: true})
	want := strings.Replace(list, "3380; 2620 16720 TRIGGER", ";3380; 2620 16720 TRIGGER", 1)
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestAMoveSaysWhichPgDumpItCouldNotUse(t *testing.T) {
	_, _, err := moveTools("/nonexistent/pg_dump", 15)
	if err == nil || !strings.Contains(err.Error(), "tenancy.pg_dump /nonexistent/pg_dump") {
		t.Fatalf("%v", err)
	}
	if _, _, err := moveTools("", 99); err == nil || !strings.Contains(err.Error(), "pg_dump and pg_restore 99 or newer") {
		t.Fatalf("%v", err)
	}
}

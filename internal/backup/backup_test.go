package backup

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestSettingsReadBackWhatSetupWrites(t *testing.T) {
	for _, set := range []Settings{
		{Stanza: "kapok", Repo: "/b/repo", Compress: "zst", RetentionFull: 2, PGPath: "/d/pg", PGPort: 54320, PGUser: "postgres"},
		{Stanza: "main", Repo: "/b/repo", Compress: "lz4", RetentionFull: 7, PGPath: "/d/pg", PGPort: 5433, SocketPath: "/run/postgresql", PGUser: "admin"},
	} {
		conf := set.render("/b")
		got, err := parseSettings(conf, set.Stanza)
		if err != nil {
			t.Fatal(err)
		}
		if got != set {
			t.Errorf("read back %+v\nfrom %s\nwant %+v", got, conf, set)
		}
		if strings.Contains(conf, "pg1-socket-path") != (set.SocketPath != "") {
			t.Errorf("pg1-socket-path written for socket %q:\n%s", set.SocketPath, conf)
		}
	}
	if _, err := parseSettings("[global]\nrepo1-path=/r\n[other]\npg1-path=/x\n", "kapok"); err == nil {
		t.Error("a stanza the file does not configure was read")
	}
}

func TestInfoSummarizesPgBackRestJSON(t *testing.T) {
	data, err := os.ReadFile("testdata/info.json")
	if err != nil {
		t.Fatal(err)
	}
	info, err := parseInfo(data, "kapok")
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != "ok" || len(info.Backups) != 2 || info.WALMin != "000000010000000000000001" || info.WALMax != "000000010000000000000005" {
		t.Fatalf("info: %+v", info)
	}
	full, incr := info.Backups[0], info.Backups[1]
	if full.Type != "full" || full.Size != 22992553 || full.RepoSize != 2811854 || full.WALStart != "000000010000000000000002" {
		t.Errorf("full: %+v", full)
	}
	if incr.Type != "incr" || incr.Prior != full.Label || incr.RepoDelta != 386 || !incr.Stop.Equal(time.Unix(1796533605, 0)) {
		t.Errorf("incr: %+v", incr)
	}
	if !info.Earliest.Equal(full.Stop.Add(time.Second)) {
		t.Errorf("earliest restorable %s, want the second after the full backup's end %s", info.Earliest, full.Stop)
	}
	if _, err := parseInfo(data, "other"); err == nil {
		t.Error("a stanza pgbackrest info does not list was summarized")
	}
}

func TestParseTimeTakesRFC3339AndPostgresText(t *testing.T) {
	want := time.Date(2025, 3, 1, 14, 5, 0, 123456000, time.UTC)
	for _, s := range []string{"2025-03-01T14:05:00.123456Z", "2025-03-01 14:05:00.123456+00", "2025-03-01 15:05:00.123456+01:00", "2025-03-01T16:05:00.123456+02:00"} {
		got, err := ParseTime(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %s, %v; want %s", s, got, err, want)
		}
	}
	local, err := ParseTime("2025-03-01 14:05:00")
	if err != nil || !local.Equal(time.Date(2025, 3, 1, 14, 5, 0, 0, time.Local)) {
		t.Errorf("a time without a zone: %s, %v", local, err)
	}
	if _, err := ParseTime("yesterday"); err == nil {
		t.Error("ParseTime accepted yesterday")
	}
	if got := pgTime(want.In(time.FixedZone("x", 3600))); got != "2025-03-01 14:05:00.123456+00" {
		t.Errorf("pgTime = %s", got)
	}
}

func TestAsideNamesFitPostgresIdentifiers(t *testing.T) {
	if got := asideName("one", "20250301T140500"); got != "one_before_restore_20250301t140500" {
		t.Errorf("asideName = %s", got)
	}
	long := strings.Repeat("x", 63)
	if got := asideName(long, "20250301T140500"); len(got) != 63 || !strings.HasSuffix(got, "_before_restore_20250301t140500") {
		t.Errorf("asideName of 63 bytes = %s (%d)", got, len(got))
	}
}

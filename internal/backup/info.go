package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Backup is one backup in the repository.
type Backup struct {
	Label string `json:"label"`
	Type  string `json:"type"` // full, diff or incr
	// Prior is the backup a diff or incr builds on.
	Prior       string    `json:"prior,omitempty"`
	Start, Stop time.Time `json:"-"`
	// Size is the cluster's size; Delta what this backup copied of it. RepoSize and
	// RepoDelta are the same, compressed, as stored.
	Size, Delta, RepoSize, RepoDelta int64 `json:"-"`
	// WALStart and WALStop are the segments the backup needs to be consistent.
	WALStart, WALStop string `json:"-"`
}

// MarshalJSON spells out the fields for `kapok backup list --json`.
func (b Backup) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Label     string    `json:"label"`
		Type      string    `json:"type"`
		Prior     string    `json:"prior,omitempty"`
		Start     time.Time `json:"start"`
		Stop      time.Time `json:"stop"`
		Size      int64     `json:"size"`
		Delta     int64     `json:"delta"`
		RepoSize  int64     `json:"repo_size"`
		RepoDelta int64     `json:"repo_delta"`
		WALStart  string    `json:"wal_start"`
		WALStop   string    `json:"wal_stop"`
	}{b.Label, b.Type, b.Prior, b.Start.UTC(), b.Stop.UTC(), b.Size, b.Delta, b.RepoSize, b.RepoDelta, b.WALStart, b.WALStop})
}

// Info summarizes a stanza's repository.
type Info struct {
	Stanza  string   `json:"stanza"`
	Status  string   `json:"status"` // pgBackRest's: "ok", "no valid backups", …
	Backups []Backup `json:"backups"`
	// WALMin and WALMax bound the archived WAL.
	WALMin string `json:"wal_min,omitempty"`
	WALMax string `json:"wal_max,omitempty"`
	// Earliest is the earliest restorable time: the second after the oldest backup ended
	// (pgBackRest keeps whole seconds and picks a backup that ended before the target's).
	Earliest time.Time `json:"earliest_restorable"`
	// LastArchived is when the server archived its last WAL segment, LastArchivedWAL
	// (pg_stat_archiver; zero when the cluster did not answer). Commits up to that segment
	// are restorable; a restore first archives the current one, so while the cluster runs
	// any time up to the restore's start is.
	LastArchived    time.Time `json:"last_archived"`
	LastArchivedWAL string    `json:"last_archived_wal,omitempty"`
	// ArchiveFailing: archive_command failed after the last segment it archived.
	ArchiveFailing bool `json:"archive_failing"`
}

// infoJSON is the part of `pgbackrest info --output=json` Info reads.
type infoJSON struct {
	Name   string `json:"name"`
	Status struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
	Archive []struct {
		Min string `json:"min"`
		Max string `json:"max"`
	} `json:"archive"`
	Backup []struct {
		Label   string `json:"label"`
		Type    string `json:"type"`
		Prior   string `json:"prior"`
		Archive struct {
			Start string `json:"start"`
			Stop  string `json:"stop"`
		} `json:"archive"`
		Info struct {
			Size       int64 `json:"size"`
			Delta      int64 `json:"delta"`
			Repository struct {
				Size  int64 `json:"size"`
				Delta int64 `json:"delta"`
			} `json:"repository"`
		} `json:"info"`
		Timestamp struct {
			Start int64 `json:"start"`
			Stop  int64 `json:"stop"`
		} `json:"timestamp"`
		Error bool `json:"error"`
	} `json:"backup"`
}

// parseInfo reads pgbackrest info's JSON for one stanza.
func parseInfo(data []byte, stanza string) (*Info, error) {
	var all []infoJSON
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, fmt.Errorf("pgbackrest info: %w", err)
	}
	i := slices.IndexFunc(all, func(s infoJSON) bool { return s.Name == stanza })
	if i < 0 {
		return nil, fmt.Errorf("pgbackrest info does not know stanza %q", stanza)
	}
	s := all[i]
	info := &Info{Stanza: s.Name, Status: s.Status.Message, Backups: []Backup{}}
	for _, a := range s.Archive {
		if a.Min != "" && (info.WALMin == "" || a.Min < info.WALMin) {
			info.WALMin = a.Min
		}
		if a.Max > info.WALMax {
			info.WALMax = a.Max
		}
	}
	for _, b := range s.Backup {
		if b.Error {
			continue
		}
		info.Backups = append(info.Backups, Backup{
			Label: b.Label, Type: b.Type, Prior: b.Prior,
			Start: time.Unix(b.Timestamp.Start, 0), Stop: time.Unix(b.Timestamp.Stop, 0),
			Size: b.Info.Size, Delta: b.Info.Delta, RepoSize: b.Info.Repository.Size, RepoDelta: b.Info.Repository.Delta,
			WALStart: b.Archive.Start, WALStop: b.Archive.Stop,
		})
	}
	if len(info.Backups) > 0 {
		info.Earliest = info.Backups[0].Stop.Add(time.Second)
	}
	return info, nil
}

// Info reads the repository's backups and, when the cluster answers, its archiver's state.
func (s *Stanza) Info(ctx context.Context) (*Info, error) {
	out, err := s.pgBackRest(ctx, "info", "--output=json")
	if err != nil {
		return nil, err
	}
	info, err := parseInfo([]byte(out), s.Stanza)
	if err != nil {
		return nil, err
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if c, err := pgx.Connect(actx, s.connURL("postgres")); err == nil {
		defer c.Close(context.Background())
		var wal *string
		var at *time.Time
		if err := c.QueryRow(actx, `SELECT last_archived_wal, last_archived_time,
  coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false) FROM pg_stat_archiver`).
			Scan(&wal, &at, &info.ArchiveFailing); err == nil && wal != nil && at != nil {
			info.LastArchivedWAL, info.LastArchived = *wal, *at
		}
	}
	return info, nil
}

// BackupTypes are the types Run accepts: a full copy, the changes since the last full, or
// since the last backup of any type.
var BackupTypes = []string{"full", "diff", "incr"}

// Run takes a backup of type typ and returns it as the repository lists it. A diff or incr
// without a full backup to build on becomes a full one. Backups beyond the retention
// expire, with the WAL only they needed.
func (s *Stanza) Run(ctx context.Context, typ string) (*Backup, error) {
	if !slices.Contains(BackupTypes, typ) {
		return nil, fmt.Errorf("backup type %q is not one of full, diff, incr", typ)
	}
	if _, err := s.pgBackRest(ctx, "backup", "--type="+typ); err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	if len(info.Backups) == 0 {
		return nil, errors.New("pgbackrest backup succeeded but the repository lists no backup")
	}
	b := info.Backups[len(info.Backups)-1]
	return &b, nil
}

// archiveNow makes everything committed so far restorable: a transaction commits (recovery
// to a time stops at the first commit after it, and fails when the WAL ends before one),
// the server switches to a new WAL segment, and archiveNow waits until the archiver has
// pushed the finished one into the repository.
func archiveNow(ctx context.Context, url string, within time.Duration) error {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	// txid_current assigns a transaction id, so the statement's commit is a WAL record.
	if _, err := c.Exec(ctx, "SELECT txid_current()"); err != nil {
		return err
	}
	var seg string
	if err := c.QueryRow(ctx, "SELECT pg_walfile_name(pg_switch_wal())").Scan(&seg); err != nil {
		return fmt.Errorf("switching WAL segments: %w", err)
	}
	deadline := time.Now().Add(within)
	for {
		// The archiver marks a segment it pushed .done, one it has yet to push .ready (until
		// a checkpoint recycles it: then a later segment was archived).
		var done bool
		var failed *string
		if err := c.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_ls_archive_statusdir() WHERE name = $1 || '.done')
  OR NOT EXISTS (SELECT FROM pg_ls_archive_statusdir() WHERE name = $1 || '.ready')
     AND left(coalesce(last_archived_wal, ''), 24) >= $1, last_failed_wal FROM pg_stat_archiver`, seg).Scan(&done, &failed); err != nil {
			return err
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			why := ""
			if failed != nil {
				why = fmt.Sprintf(" (archive_command last failed on %s: see the server's log and %s)", *failed, "pgBackRest's log")
			}
			return fmt.Errorf("WAL segment %s was not archived within %s%s", seg, within, why)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

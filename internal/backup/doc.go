// Package backup is Kapok's side of pgBackRest: it configures a stanza for the PostgreSQL
// cluster Kapok serves (WAL archiving included), takes and lists backups, and restores to a
// point in time, either the whole cluster or one tenant.
//
// Everything about one stanza lives in one directory (the backup directory):
//
//	pgbackrest.conf   the stanza's settings: repository, compression, retention, the cluster
//	repo/             pgBackRest's repository: backups and archived WAL
//	log/  lock/       pgBackRest's logs and locks
//	restore-<time>/   a scratch cluster while one tenant is being restored (removed after)
//
// The cluster must run on this machine: pgBackRest reads its data directory and the
// server's archive_command calls pgBackRest. Its tools run as the OS user that owns the data
// directory (as root, through runuser), so whatever they write stays the server's.
//
// A tenant is restored without touching the others: the cluster is restored to the time
// into a scratch data directory, started on a private Unix socket, and the tenant's schemas
// (or its database) are copied back into the live cluster in one transaction (a database
// tenant: into a new database swapped in by name). What was live is kept aside under a
// *_before_restore_<time> name unless asked to drop it. Roles are cluster-wide and stay.
//
// backup must never be part of `kapok serve`: it runs operators' commands, which may stop
// a tenant's sessions and rename its objects.
package backup

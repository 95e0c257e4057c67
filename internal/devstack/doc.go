// Package devstack runs the private PostgreSQL + PgBouncer that `kapok dev`, `make run` and
// `make test` use, and loads the demo datasets into it.
//
// It owns one directory (default ./.kapok):
//
//	pg/              the PostgreSQL cluster (initdb; 127.0.0.1:54320, no unix socket, fsync off)
//	pg.log           PostgreSQL's log
//	pgbouncer.ini    PgBouncer's config (127.0.0.1:64320, transaction pooling, trust + auth_query)
//	userlist.txt     PgBouncer's auth_file (only the auth_user)
//	pgbouncer.pid    pgbouncer.log
//	tls/             ca.pem, server.pem, server-key.pem: a local CA and the certificate it
//	                 signed for 127.0.0.1/localhost, which Kapok's wire port presents
//	                 (psql "... sslmode=verify-full sslrootcert=.kapok/tls/ca.pem")
//	mail/            the mails the mail sink received, as <id>.eml
//	backup/          pgBackRest's configuration and repository, once `kapok backup setup
//	                 --dev` turned WAL archiving on (package internal/backup)
//
// While `kapok dev` serves, its process also runs a mail sink (package mailsink): SMTP on
// 127.0.0.1:54325 and a mailbox on http://127.0.0.1:54326, where Kapok Auth's mails land
// for tenants whose auth.users.smtp names it. It is not one of the stack's processes:
// `kapok dev up` starts none, and it stops with Kapok.
//
// Up is idempotent: it adopts whatever of the stack already runs, checks that it answers and
// starts what is stopped. When the ports are served by the dev stack of another directory
// (another checkout), Up uses that stack rather than fail.
//
// The binaries come from the machine (pg_config --bindir, else the highest
// /usr/lib/postgresql/*/bin); when they are missing, Up installs them with apt-get as root and
// otherwise stops with the command to run. PostgreSQL and PgBouncer refuse to run as root, so
// as root they run as the OS user postgres; when that user cannot enter the directory (say it
// is under /root), the stack lives in /var/tmp/kapok-<hash> and the directory becomes a link
// to it. The ports are never 5432/6432, so a distribution's own cluster or PgBouncer does not
// matter.
//
// The datasets (SQL in configs/demo) go into database kapok: the benchmark workload at a small
// scale in schema demo (tenant demo), a help desk in schema acme (tenant acme) and a notes app
// in schema notes (tenant notes, whose users sign up through Kapok Auth: the roles notes_anon
// and notes_user, and auth.uid() installed before the script names it). A larger
// scale goes into schema demo of database kapok_bench, so tests keep the small data. Each
// schema's comment records what was loaded; a dataset is reloaded only when that differs.
//
// This package is for development and tests: it must never be part of `kapok serve`, and it
// creates nothing in a tenant schema beyond the dataset's own tables.
package devstack

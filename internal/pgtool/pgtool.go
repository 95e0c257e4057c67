// Package pgtool owns how Kapok hands a database URL to PostgreSQL's client tools (psql,
// pg_dump, pg_restore): the URL without its password as -d, and the password in PGPASSWORD,
// so that neither an error message nor the process list shows it. It runs nothing itself.
package pgtool

import "net/url"

// Connect returns args preceded by -d and dbURL without its password, and the environment
// entries the tool needs besides (PGPASSWORD when the URL has a password).
func Connect(dbURL string, args []string) (withDB, env []string) {
	dsn, password := SplitPassword(dbURL)
	withDB = append([]string{"-d", dsn}, args...)
	if password != "" {
		env = []string{"PGPASSWORD=" + password}
	}
	return withDB, env
}

// SplitPassword takes the password out of a URL.
func SplitPassword(raw string) (dsn, password string) {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw, ""
	}
	password, ok := u.User.Password()
	if !ok {
		return raw, ""
	}
	u.User = url.User(u.User.Username())
	return u.String(), password
}

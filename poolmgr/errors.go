package poolmgr

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Sentinel errors; match them with errors.Is. The HTTP status each should map to is in the
// package documentation.
var (
	ErrTooManyRequests = errors.New("poolmgr: too many requests in flight for this tenant")
	ErrServerBusy      = errors.New("poolmgr: too many concurrent requests")
	ErrAcquireTimeout  = errors.New("poolmgr: timed out waiting for a database connection")
	ErrRequestTimeout  = errors.New("poolmgr: request timed out")
	ErrResultShape     = errors.New("poolmgr: statement did not return one row with one column")
	ErrClosed          = errors.New("poolmgr: manager closed")
	// ErrUnavailable matches every failure to reach the database or to keep talking to it
	// (see UnavailableError), and a pool closed under a request.
	ErrUnavailable = errors.New("poolmgr: database unavailable")
	// ErrSessionRole is a Session.Role that set_config('role', …) would not switch to but
	// reset to the login role ("none"; "default" too): refused before anything is sent. The
	// proxy never passes one (it checks roles against the tenant's); this is a second fence.
	ErrSessionRole = errors.New("poolmgr: session role would reset the role")
)

// Reason says why a request was rejected before it reached Postgres; it is also the value
// of the reason label of kapok_pool_rejected_total.
type Reason string

const (
	ReasonTenantInFlight Reason = "tenant_in_flight"
	ReasonGlobalClients  Reason = "global_clients"
	ReasonAcquireTimeout Reason = "acquire_timeout"
)

var reasons = [...]Reason{ReasonTenantInFlight, ReasonGlobalClients, ReasonAcquireTimeout}

// RejectedError is returned when admission or the connection wait fails. It matches
// ErrTooManyRequests, ErrServerBusy or ErrAcquireTimeout with errors.Is.
type RejectedError struct {
	Tenant string
	Reason Reason
	// Waited is how long the request queued before giving up.
	Waited time.Duration
}

func (e *RejectedError) Error() string {
	return e.sentinel().Error() + " (tenant " + e.Tenant + ")"
}

func (e *RejectedError) sentinel() error {
	switch e.Reason {
	case ReasonTenantInFlight:
		return ErrTooManyRequests
	case ReasonGlobalClients:
		return ErrServerBusy
	default:
		return ErrAcquireTimeout
	}
}

// Unwrap lets errors.Is match the sentinel of the reason.
func (e *RejectedError) Unwrap() error { return e.sentinel() }

// PgError is an error Postgres returned while running a request. Its fields come from the
// server's ErrorResponse for this statement only: nothing is added from elsewhere, so the
// names in it are the tenant's own objects. The raw error is Err (also via errors.As on
// *pgconn.PgError).
type PgError struct {
	// Statement is the index in Request.Statements of the failing statement, or -1 when the
	// session prelude (role, claims, settings) failed, e.g. for an unknown role.
	Statement int
	Err       *pgconn.PgError
}

func (e *PgError) Error() string { return e.Err.Error() }
func (e *PgError) Unwrap() error { return e.Err }

// SQLState is the five-character SQLSTATE code, e.g. "23505".
func (e *PgError) SQLState() string { return e.Err.Code }

// StatementIndex is Statement: the failing statement's index, -1 for the prelude.
func (e *PgError) StatementIndex() int { return e.Statement }

// Message is the primary human-readable message.
func (e *PgError) Message() string { return e.Err.Message }

// Detail is the optional secondary message.
func (e *PgError) Detail() string { return e.Err.Detail }

// Hint is the optional suggestion.
func (e *PgError) Hint() string { return e.Err.Hint }

// ConstraintName names the violated constraint, if any.
func (e *PgError) ConstraintName() string { return e.Err.ConstraintName }

// Position is the 1-based character position of the error in the statement text (0 = none).
func (e *PgError) Position() int32 { return e.Err.Position }

// UnavailableError is a request that failed because the database (or the pooler in front
// of it) could not be reached or dropped the session: connection refused or reset, a login
// refused, too many connections, the server shutting down (57P01), any 08xxx, any FATAL
// error. The request itself is not at fault and may succeed when retried later. It matches
// ErrUnavailable with errors.Is.
type UnavailableError struct {
	Tenant string
	// Connect is true when no session could be opened, so the request never reached the
	// database; false when an open session broke during the request, whose effects were
	// then rolled back by the server (one transaction per request).
	Connect bool
	// SQLState is the code the server or the pooler gave, when it gave one.
	SQLState string
	Err      error
}

func (e *UnavailableError) Error() string {
	what := "connection lost"
	if e.Connect {
		what = "cannot connect"
	}
	return "poolmgr: database unavailable for tenant " + e.Tenant + ": " + what + ": " + e.Err.Error()
}

// Unwrap lets errors.Is match ErrUnavailable and errors.As reach the driver's error.
func (e *UnavailableError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// Reason says in a few words what went wrong, for clients: the kind of failure the
// server's or pooler's SQLSTATE names, or the kind of network failure. Unlike Error it never
// holds addresses, user or database names (PgBouncer's messages quote them).
func (e *UnavailableError) Reason() string {
	var pe *pgconn.PgError
	if errors.As(e.Err, &pe) {
		what := "the session was ended"
		switch c := pe.Code; {
		case c == "57P01", c == "57P02":
			what = "the server is shutting down"
		case c == "57P03":
			what = "the server is starting up"
		case c == "53300":
			what = "too many connections"
		case strings.HasPrefix(c, "28"):
			what = "the login was refused"
		case strings.HasPrefix(c, "08"):
			what = "connection failure"
		}
		return what + " (SQLSTATE " + pe.Code + ")"
	}
	var errno syscall.Errno
	switch {
	case errors.As(e.Err, &errno):
		return errno.Error()
	case errors.Is(e.Err, io.EOF), errors.Is(e.Err, io.ErrUnexpectedEOF):
		return "the server closed the connection"
	case pgconn.Timeout(e.Err):
		return "timed out"
	}
	var ne net.Error
	if errors.As(e.Err, &ne) {
		return "network error"
	}
	if e.Connect {
		return "could not connect"
	}
	return "the connection was lost"
}

// unavailableState reports SQLSTATEs that say the session or the server is gone, not that
// the statement is wrong: connection exceptions (08), invalid authorization (28: a login
// refused), too_many_connections, and the shutdown family 57P01–57P03.
func unavailableState(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "28"):
		return true
	}
	switch code {
	case "53300", "57P01", "57P02", "57P03":
		return true
	}
	return false
}

// asUnavailable returns err as an *UnavailableError when it says the database is out of
// reach rather than that the request failed: a server error of unavailableState or of
// FATAL severity (the session is over), or an error that is not the server's at all on a
// connection that is now closed (the network broke). Context errors are the caller's
// deadline, not the database's, and stay as they are.
func asUnavailable(tenant string, err error, connClosed, connect bool) (*UnavailableError, bool) {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil, false
	}
	var ue *UnavailableError
	if errors.As(err, &ue) {
		return ue, true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if unavailableState(pe.Code) || pe.Severity == "FATAL" || pe.Severity == "PANIC" {
			return &UnavailableError{Tenant: tenant, Connect: connect, SQLState: pe.Code, Err: err}, true
		}
		return nil, false
	}
	if errors.Is(err, ErrResultShape) {
		return nil, false
	}
	var ne net.Error
	if connect || connClosed || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &UnavailableError{Tenant: tenant, Connect: connect, Err: err}, true
	}
	return nil, false
}

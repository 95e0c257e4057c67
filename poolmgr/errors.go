package poolmgr

import (
	"errors"
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
	// ErrUnavailable wraps failures to reach the database (connect, network).
	ErrUnavailable = errors.New("poolmgr: database unavailable")
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

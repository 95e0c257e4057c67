package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/kapok-dev/kapok/control"
)

// Typed errors; the admin API maps them (with control.ErrInvalid and control.ErrConflict)
// to statuses.
var (
	// ErrNotFound: no trigger, cron trigger or event of that name or id for the tenant.
	ErrNotFound = errors.New("not found")
	// ErrExists: a trigger or cron trigger of that name already exists for the tenant.
	ErrExists = errors.New("already exists")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", control.ErrInvalid, fmt.Sprintf(format, args...))
}

// nameRE is Hasura's rule for trigger names; it keeps Postgres trigger names (prefix and
// suffix included) under 63 bytes.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,42}$`)

// Header is one header sent with every delivery: a literal value or one read from the
// environment of the delivering process at delivery time.
type Header struct {
	Name         string `json:"name"`
	Value        string `json:"value,omitempty"`
	ValueFromEnv string `json:"value_from_env,omitempty"`
}

// RetryConf accepts both Hasura spellings: interval_sec/timeout_sec (event triggers) and
// retry_interval_seconds/timeout_seconds (scheduled events and cron triggers).
type RetryConf struct {
	NumRetries           int     `json:"num_retries"`
	IntervalSec          float64 `json:"interval_sec,omitempty"`
	TimeoutSec           float64 `json:"timeout_sec,omitempty"`
	RetryIntervalSeconds float64 `json:"retry_interval_seconds,omitempty"`
	TimeoutSeconds       float64 `json:"timeout_seconds,omitempty"`
	// ToleranceSeconds (scheduled events and cron triggers): an event not delivered this
	// long after its scheduled time is dead, not sent late (default 21600, six hours).
	ToleranceSeconds float64 `json:"tolerance_seconds,omitempty"`
}

// Tolerance is how late a scheduled event may still be sent.
func (r RetryConf) Tolerance() time.Duration {
	if r.ToleranceSeconds <= 0 {
		return 6 * time.Hour
	}
	return secs(r.ToleranceSeconds)
}

// Interval is the wait before the first retry; each later one doubles it.
func (r RetryConf) Interval() time.Duration { return secs(r.IntervalSec) }

// Timeout bounds one delivery attempt.
func (r RetryConf) Timeout() time.Duration { return secs(r.TimeoutSec) }

func secs(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func (r *RetryConf) normalize() error {
	if r.IntervalSec == 0 {
		r.IntervalSec = r.RetryIntervalSeconds
	}
	if r.TimeoutSec == 0 {
		r.TimeoutSec = r.TimeoutSeconds
	}
	r.RetryIntervalSeconds, r.TimeoutSeconds = 0, 0
	if r.IntervalSec == 0 {
		r.IntervalSec = 10
	}
	if r.TimeoutSec == 0 {
		r.TimeoutSec = 60
	}
	switch {
	case r.NumRetries < 0 || r.NumRetries > 100:
		return invalid("retry_conf.num_retries must be between 0 and 100")
	case r.IntervalSec < 0.001 || r.IntervalSec > 86400:
		return invalid("retry_conf interval must be between 0.001 and 86400 seconds")
	case r.TimeoutSec < 0.001 || r.TimeoutSec > 3600:
		return invalid("retry_conf timeout must be between 0.001 and 3600 seconds")
	case r.ToleranceSeconds < 0:
		return invalid("retry_conf.tolerance_seconds must not be negative")
	}
	return nil
}

// Delivery is where and how an event is sent; triggers, cron triggers and one-off
// scheduled events all carry one.
type Delivery struct {
	Webhook        string    `json:"webhook,omitempty"`
	WebhookFromEnv string    `json:"webhook_from_env,omitempty"`
	Headers        []Header  `json:"headers,omitempty"`
	RetryConf      RetryConf `json:"retry_conf"`
	// Secret keys the HMAC-SHA256 signature of each request body (header
	// X-Kapok-Signature-256: sha256=<hex>); SecretFromEnv reads it from the environment.
	Secret        string `json:"secret,omitempty"`
	SecretFromEnv string `json:"secret_from_env,omitempty"`
}

func (d *Delivery) normalize() error {
	switch {
	case d.Webhook == "" && d.WebhookFromEnv == "":
		return invalid("webhook (or webhook_from_env) is required")
	case d.Webhook != "" && d.WebhookFromEnv != "":
		return invalid("give webhook or webhook_from_env, not both")
	case d.Secret != "" && d.SecretFromEnv != "":
		return invalid("give secret or secret_from_env, not both")
	}
	if d.Webhook != "" {
		if err := checkWebhookURL(d.Webhook); err != nil {
			return err
		}
	}
	for i, h := range d.Headers {
		if h.Name == "" || strings.ContainsAny(h.Name, " :\r\n\t") {
			return invalid("headers[%d]: %q is not a header name", i, h.Name)
		}
		if (h.Value == "") == (h.ValueFromEnv == "") {
			return invalid("headers[%d] (%s): give value or value_from_env", i, h.Name)
		}
		if strings.ContainsAny(h.Value, "\r\n") {
			return invalid("headers[%d] (%s): the value has a line break", i, h.Name)
		}
	}
	return d.RetryConf.normalize()
}

func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid("webhook %q is not an http(s) URL", raw)
	}
	return nil
}

// masked returns d with its literal secret hidden, for answers of the admin API.
func (d Delivery) masked() Delivery {
	if d.Secret != "" {
		d.Secret = "********"
	}
	return d
}

// Columns is "*" (every column) or a list of column names.
type Columns []string

// UnmarshalJSON reads "*" as every column.
func (c *Columns) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte(`"*"`)) {
		*c = nil
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New(`columns must be "*" or a list of column names`)
	}
	*c = list
	return nil
}

// MarshalJSON writes every column as "*".
func (c Columns) MarshalJSON() ([]byte, error) {
	if c == nil {
		return []byte(`"*"`), nil
	}
	return json.Marshal([]string(c))
}

// OpSpec enables an operation; for UPDATE, Columns are the ones whose change fires it.
type OpSpec struct {
	Columns Columns `json:"columns"`
}

// TableRef names a table of the tenant.
type TableRef struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
}

// TriggerDef is an event trigger, in the shape of Hasura's create_event_trigger.
type TriggerDef struct {
	Name         string   `json:"name"`
	Table        TableRef `json:"table"`
	Insert       *OpSpec  `json:"insert,omitempty"`
	Update       *OpSpec  `json:"update,omitempty"`
	Delete       *OpSpec  `json:"delete,omitempty"`
	EnableManual bool     `json:"enable_manual"`
	// Ordered delivers the events of one row (by primary key) one at a time, in commit
	// order: a later event waits until the earlier one is delivered or dead.
	Ordered bool `json:"ordered,omitempty"`
	Delivery
	// Replace redefines an existing trigger of that name instead of failing.
	Replace bool `json:"replace,omitempty"`
}

func (d *TriggerDef) normalize(t *control.Tenant) error {
	if !nameRE.MatchString(d.Name) {
		return invalid("trigger name %q: use 1 to 42 letters, digits, '_' or '-'", d.Name)
	}
	if d.Table.Name == "" {
		return invalid("table.name is required")
	}
	if d.Table.Schema == "" {
		d.Table.Schema = t.Config.Schemas[0]
	}
	if !contains(t.Config.Schemas, d.Table.Schema) {
		return invalid("schema %q is not one of tenant %s's schemas", d.Table.Schema, t.Name)
	}
	if d.Insert == nil && d.Update == nil && d.Delete == nil {
		return invalid("enable at least one of insert, update, delete")
	}
	d.Replace = false
	return d.Delivery.normalize()
}

// CronDef is a cron trigger, in the shape of Hasura's create_cron_trigger.
type CronDef struct {
	Name     string          `json:"name"`
	Schedule string          `json:"schedule"`
	Payload  json.RawMessage `json:"payload,omitempty"`
	Comment  string          `json:"comment,omitempty"`
	Delivery
	Replace bool `json:"replace,omitempty"`
}

// ScheduledDef is a one-off scheduled event, in the shape of Hasura's
// create_scheduled_event.
type ScheduledDef struct {
	ScheduleAt time.Time       `json:"schedule_at"`
	Payload    json.RawMessage `json:"payload,omitempty"`
	Comment    string          `json:"comment,omitempty"`
	Delivery
}

func normalizePayload(p *json.RawMessage) error {
	if len(bytes.TrimSpace(*p)) == 0 {
		*p = json.RawMessage("null")
		return nil
	}
	if !json.Valid(*p) {
		return invalid("payload is not valid JSON")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

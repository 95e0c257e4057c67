package auth

import (
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Rate limits are token buckets in this process, one per tenant, kind and key (a client
// address, an account, the tenant): a bucket holds the kind's limit and refills at the
// limit per window, so a burst up to the limit passes and a steady client gets the limit
// per window. The buckets live in an LRU, so memory stays bounded whatever the number
// of addresses; a bucket evicted is a client forgiven early, never one refused wrongly.
// Each replica counts alone: N replicas let up to N times the limit through.

// maxBuckets bounds the buckets kept across tenants.
const maxBuckets = 100_000

type bucket struct {
	tokens float64
	at     time.Time
}

type limiter struct {
	mu      sync.Mutex
	buckets *lru.Cache[string, *bucket]
}

func newLimiter() *limiter {
	c, err := lru.New[string, *bucket](maxBuckets)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return &limiter{buckets: c}
}

// take refills key's bucket to now and, when consume is set, takes one token from it. It
// reports whether a token was (or would be) there, and otherwise when one will be.
func (l *limiter) take(key string, limit int, window time.Duration, now time.Time, consume bool) (bool, time.Duration) {
	rate := float64(limit) / window.Seconds() // tokens a second
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets.Get(key)
	if !ok {
		b = &bucket{tokens: float64(limit), at: now}
		if consume {
			l.buckets.Add(key, b)
		}
	}
	if elapsed := now.Sub(b.at).Seconds(); elapsed > 0 {
		b.tokens = min(float64(limit), b.tokens+elapsed*rate)
		b.at = now
	}
	if b.tokens >= 1 {
		if consume {
			b.tokens--
		}
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / rate * float64(time.Second))
}

// limitOf is a kind's limit (negative: none) and window.
func limitOf(tn *tenantCtx, kind string) (int, time.Duration) {
	rl := tn.cfg.RateLimits
	switch kind {
	case "signin_ip":
		return rl.SignInPerIP, 5 * time.Minute
	case "signin_account":
		return rl.SignInPerAccount, 5 * time.Minute
	case "refresh_ip":
		return rl.TokenRefresh, 5 * time.Minute
	case "otp_ip":
		return rl.OTPPerIP, time.Hour
	case "email_tenant":
		return rl.EmailSent, time.Hour
	}
	return -1, 0
}

// allow counts one request of kind (signin_ip, signin_account, otp_ip, email_tenant,
// refresh_ip) for key in tn: false, and how long to wait, when it is over the limit.
func (s *Service) allow(tn *tenantCtx, kind, key string) (ok bool, retryAfter time.Duration) {
	return s.rateCheck(tn, kind, key, true)
}

// blocked reports whether the next request of kind for key would be refused, without
// counting one: sign-in counts only failures per account, but refuses every attempt
// once they are over the limit.
func (s *Service) blocked(tn *tenantCtx, kind, key string) (bool, time.Duration) {
	ok, retry := s.rateCheck(tn, kind, key, false)
	return !ok, retry
}

func (s *Service) rateCheck(tn *tenantCtx, kind, key string, consume bool) (bool, time.Duration) {
	limit, window := limitOf(tn, kind)
	if limit < 0 || window <= 0 {
		return true, 0
	}
	ok, retry := s.limits.take(tn.t.Name+"\x00"+kind+"\x00"+key, limit, window, s.now(), consume)
	if !ok {
		s.met.rateLimited(kind)
	}
	return ok, retry
}

// rateLimited is the 429 answer to a request over kind's limit.
func rateLimited(kind string, retry time.Duration) *Response {
	if kind == "email_tenant" {
		return tooManyRequests("over_email_send_rate_limit", "Email rate limit exceeded", retry)
	}
	return tooManyRequests("over_request_rate_limit", "Request rate limit reached", retry)
}

package wire

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/xdg-go/scram"
	"golang.org/x/sync/singleflight"
)

// verifier is a role's SCRAM-SHA-256 secret as pg_authid keeps it.
type verifier struct {
	creds scram.StoredCredentials
	// expired: rolvaliduntil has passed; PostgreSQL refuses the password then.
	expired bool
}

// parseVerifier reads pg_authid.rolpassword's
// SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> (base64 parts).
func parseVerifier(s string) (*verifier, error) {
	rest, ok := strings.CutPrefix(s, "SCRAM-SHA-256$")
	if !ok {
		return nil, errors.New("not a SCRAM-SHA-256 verifier")
	}
	factors, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return nil, errors.New("SCRAM verifier without keys")
	}
	iters, salt64, ok1 := strings.Cut(factors, ":")
	stored64, server64, ok2 := strings.Cut(keys, ":")
	if !ok1 || !ok2 {
		return nil, errors.New("malformed SCRAM verifier")
	}
	n, err := strconv.Atoi(iters)
	if err != nil || n <= 0 {
		return nil, errors.New("malformed SCRAM verifier iteration count")
	}
	salt, err1 := base64.StdEncoding.DecodeString(salt64)
	stored, err2 := base64.StdEncoding.DecodeString(stored64)
	server, err3 := base64.StdEncoding.DecodeString(server64)
	if err := errors.Join(err1, err2, err3); err != nil || len(stored) != sha256.Size || len(server) != sha256.Size {
		return nil, errors.New("malformed SCRAM verifier keys")
	}
	return &verifier{creds: scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(salt), Iters: n},
		StoredKey:  stored,
		ServerKey:  server,
	}}, nil
}

// verifierTTL is how long a role's verifier (or its absence) is trusted: a changed
// password takes effect on the wire port within it.
const verifierTTL = 10 * time.Second

// verifiers reads roles' SCRAM verifiers from pg_authid, with the upstream's own login (the
// tenant's direct URL: only a superuser may read pg_authid), and caches them.
type verifiers struct {
	log   *slog.Logger
	ttl   time.Duration
	group singleflight.Group

	mu      sync.Mutex
	entries map[verifierKey]verifierEntry
}

type verifierKey struct{ url, role string }

type verifierEntry struct {
	v  *verifier // nil: the role has no SCRAM verifier (or it cannot be read)
	at time.Time
}

func newVerifiers(log *slog.Logger) *verifiers {
	return &verifiers{log: log, ttl: verifierTTL, entries: map[verifierKey]verifierEntry{}}
}

// get returns role's verifier, or nil when it has none Kapok can read.
func (vs *verifiers) get(ctx context.Context, directURL, role string) *verifier {
	k := verifierKey{directURL, role}
	vs.mu.Lock()
	e, ok := vs.entries[k]
	vs.mu.Unlock()
	if ok && time.Since(e.at) < vs.ttl {
		return e.v
	}
	res, _, _ := vs.group.Do(directURL+"\x00"+role, func() (any, error) {
		v, err := readVerifier(ctx, directURL, role)
		if err != nil {
			// No verifier to check against: the client is asked for a token instead.
			vs.log.Debug("wire: role verifier unavailable", "role", role, "err", err)
		}
		vs.mu.Lock()
		defer vs.mu.Unlock()
		if len(vs.entries) > 10000 {
			clear(vs.entries)
		}
		vs.entries[k] = verifierEntry{v: v, at: time.Now()}
		return v, nil
	})
	v, _ := res.(*verifier)
	return v
}

func readVerifier(ctx context.Context, directURL, role string) (*verifier, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, directURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	var pw *string
	var expired bool
	err = conn.QueryRow(ctx,
		`SELECT rolpassword, coalesce(rolvaliduntil < now(), false) FROM pg_catalog.pg_authid WHERE rolname = $1`,
		role).Scan(&pw, &expired)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && pw == nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(*pw, "SCRAM-SHA-256$") {
		return nil, nil // an MD5 hash cannot answer SCRAM
	}
	v, err := parseVerifier(*pw)
	if err != nil {
		return nil, fmt.Errorf("role %q: %w", role, err)
	}
	v.expired = expired
	return v, nil
}

// endpointBinding is the tls-server-end-point channel binding data of a certificate (RFC
// 5929): its hash, by the hash of its signature algorithm, SHA-256 for MD5 and SHA-1.
func endpointBinding(cert *x509.Certificate) []byte {
	var h hash.Hash
	switch cert.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		h = sha512.New384()
	case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		h = sha512.New()
	default:
		h = sha256.New()
	}
	h.Write(cert.Raw)
	return h.Sum(nil)
}

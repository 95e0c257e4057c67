package control

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer is the iss claim of the keys Kapok signs; the proxy reads the roles anon and
// service_role specially only in tokens with this issuer.
const Issuer = "kapok"

// Supabase's key roles, as supabase-js and its users name them.
const (
	KeyRoleAnon    = "anon"
	KeyRoleService = "service_role"
)

// RoleAuthenticated is the role claim of the access tokens Kapok Auth issues to signed-in
// users, as Supabase's say; such a token of the tenant runs as its auth.authenticated_role.
const RoleAuthenticated = "authenticated"

// The keys' validity: fixed instants, so that a tenant's keys do not change from one
// call to the next (they change only with the tenant's secret), and long-lived, as
// Supabase's are.
var (
	keyIssuedAt = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	keyExpires  = time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC)
)

// TenantKeys are a tenant's API keys in Supabase's model.
type TenantKeys struct {
	Tenant string `json:"tenant"`
	// Anon runs as the tenant's anonymous role (auth.anon_role).
	Anon string `json:"anon_key"`
	// ServiceRole runs as the tenant's own role, as the admin key does for this tenant
	// alone: full access to the tenant's schemas, never past them.
	ServiceRole string `json:"service_role_key"`
}

// ErrNoKeySecret is returned for a tenant whose JWT secret is not a shared (HMAC) secret.
var ErrNoKeySecret = errors.New("the tenant has no keys: it has no shared JWT secret (auth.jwt_secret) to sign them with; without an admin key and auth settings it is open and takes any key as anon, and with a public key or JWKS its tokens come from their issuer")

// SharedSecret is the tenant's HMAC secret (auth.jwt_secret), which signs its keys and, without
// auth.users.signing_key, its users' tokens; ok is false when it has none, or a PEM public key
// instead.
func SharedSecret(ac *AuthConfig) (secret []byte, ok bool) {
	if ac == nil || ac.JWTSecret == "" || strings.Contains(ac.JWTSecret, "-----BEGIN") {
		return nil, false
	}
	return []byte(ac.JWTSecret), true
}

// KeysFor signs the anon and service_role keys of a tenant with its JWT secret (HS256).
func KeysFor(tenant string, ac *AuthConfig) (TenantKeys, error) {
	secret, ok := SharedSecret(ac)
	if !ok {
		return TenantKeys{}, ErrNoKeySecret
	}
	sign := func(role string) (string, error) {
		claims := jwt.MapClaims{
			"iss":  Issuer,
			"ref":  tenant,
			"role": role,
			"iat":  keyIssuedAt.Unix(),
			"exp":  keyExpires.Unix(),
		}
		return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	}
	k := TenantKeys{Tenant: tenant}
	var err error
	if k.Anon, err = sign(KeyRoleAnon); err != nil {
		return TenantKeys{}, err
	}
	if k.ServiceRole, err = sign(KeyRoleService); err != nil {
		return TenantKeys{}, err
	}
	return k, nil
}

// ParseSigningKey reads auth.users.signing_key: a PEM RSA key (PKCS #1 or #8) of at least
// 2048 bits, which signs RS256, or an EC P-256 key (SEC 1 or PKCS #8), which signs ES256.
// Kapok Auth signs its access tokens with it, and the proxy checks them with its public half.
func ParseSigningKey(s string) (crypto.Signer, error) {
	blk, _ := pem.Decode([]byte(s))
	if blk == nil {
		return nil, errors.New("not a PEM block")
	}
	var key any
	var err error
	switch blk.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(blk.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("a %q PEM block is not a private key", blk.Type)
	}
	if err != nil {
		return nil, err
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("an RSA key of %d bits is too short (2048 at least)", k.N.BitLen())
		}
		return k, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("EC keys must be on P-256 (ES256), not %s", k.Curve.Params().Name)
		}
		return k, nil
	}
	return nil, fmt.Errorf("a %T is neither an RSA nor an EC key", key)
}

// SigningKeyID is the kid of tokens signed with a key whose public half is pub: the first
// 16 hex digits of the SHA-256 of its DER (PKIX) encoding, as Kapok Auth's JWKS lists it.
func SigningKeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])[:16], nil
}

// MaxTokenLifetime bounds the tokens MintToken signs.
const MaxTokenLifetime = 24 * time.Hour

// MintToken signs a token of the tenant for role with extra claims (HS256, the tenant's JWT
// secret): what an app's own sign-in would issue, for trying the APIs as that role. The
// role goes where the tenant reads it (auth.role_claim); claims may not override iss, ref,
// iat or exp.
func MintToken(tenant string, ac *AuthConfig, role string, extra map[string]any, ttl time.Duration) (string, time.Time, error) {
	secret, ok := SharedSecret(ac)
	if !ok {
		return "", time.Time{}, ErrNoKeySecret
	}
	if ttl <= 0 || ttl > MaxTokenLifetime {
		return "", time.Time{}, fmt.Errorf("%w: expires_in must be between 1 and %d seconds", ErrInvalid, int(MaxTokenLifetime.Seconds()))
	}
	if role == "" {
		return "", time.Time{}, fmt.Errorf("%w: role is required", ErrInvalid)
	}
	now := time.Now()
	claims := jwt.MapClaims{}
	for k, v := range extra {
		claims[k] = v
	}
	if err := setClaim(claims, ac.RoleClaim, role); err != nil {
		return "", time.Time{}, err
	}
	if ac.JWTAudience != "" {
		if _, ok := claims["aud"]; !ok {
			claims["aud"] = ac.JWTAudience
		}
	}
	exp := now.Add(ttl)
	claims["iss"], claims["ref"], claims["iat"], claims["exp"] = Issuer, tenant, now.Unix(), exp.Unix()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	return s, exp, err
}

// setClaim sets a claim at a dot-separated path (auth.role_claim), creating the objects on
// the way; a key with dots that the path names whole (Hasura's namespace URL) is one key.
func setClaim(claims map[string]any, path, v string) error {
	if path == "" {
		path = "role"
	}
	m := claims
	for path != "" {
		if _, ok := m[path]; ok || !strings.Contains(path, ".") {
			m[path] = v
			return nil
		}
		head, rest, _ := strings.Cut(path, ".")
		if strings.HasPrefix(path, "https://") || strings.HasPrefix(path, "http://") {
			// A URL key: its dots are its own, up to the last segment.
			i := strings.LastIndex(path, ".")
			head, rest = path[:i], path[i+1:]
		}
		next, ok := m[head].(map[string]any)
		if !ok {
			if m[head] != nil {
				return fmt.Errorf("%w: claim %q is not an object", ErrInvalid, head)
			}
			next = map[string]any{}
			m[head] = next
		}
		m, path = next, rest
	}
	return nil
}

// RotateKeySecret gives a tenant of the control tables a new random JWT secret, keeping its
// other auth settings: every key and token signed with the old one stops working at once,
// on every replica. The tenant must have a shared secret already.
func (s *Store) RotateKeySecret(ctx context.Context, name string) (*Tenant, error) {
	t := s.reg.Tenant(name)
	if t == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownTenant, name)
	}
	ac := t.Config.Auth
	if _, ok := SharedSecret(ac); !ok {
		return nil, fmt.Errorf("%w: %s", ErrConflict, ErrNoKeySecret.Error())
	}
	secret, err := randomSecret()
	if err != nil {
		return nil, err
	}
	next := *ac
	next.JWTSecret = secret
	raw, err := EncodeSection(&next)
	if err != nil {
		return nil, err
	}
	return s.UpdateTenant(ctx, name, &TenantPatch{Auth: raw})
}

// randomSecret is a new JWT secret: 256 random bits.
func randomSecret() (string, error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(buf), nil
}

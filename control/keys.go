package control

import (
	"errors"
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

// KeysFor signs the anon and service_role keys of a tenant with its JWT secret (HS256).
func KeysFor(tenant string, ac *AuthConfig) (TenantKeys, error) {
	if ac == nil || ac.JWTSecret == "" || strings.Contains(ac.JWTSecret, "-----BEGIN") {
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
		return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(ac.JWTSecret))
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

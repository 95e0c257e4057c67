package control

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
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

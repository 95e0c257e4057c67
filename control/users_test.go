package control

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/internal/testenv"
)

func TestKapokAuthSettingsAreRefusedWithAReason(t *testing.T) {
	cfg := &Config{Upstreams: map[string]*Upstream{"u": {URL: "postgres://x@h/db"}}}
	rsaKey := pemKey(t, "RSA PRIVATE KEY", func() []byte {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return x509.MarshalPKCS1PrivateKey(k)
	})
	ecKey := pemKey(t, "EC PRIVATE KEY", func() []byte {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		b, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
	p384Key := pemKey(t, "PRIVATE KEY", func() []byte {
		k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		b, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
	shortRSA := pemKey(t, "RSA PRIVATE KEY", func() []byte {
		k, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		return x509.MarshalPKCS1PrivateKey(k)
	})
	const publicPEM = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----"
	const secret = "control-t-users-secret-0123456789abcdef"

	accepted := []struct {
		name string
		auth AuthConfig
	}{
		{"a shared secret signs HS256", AuthConfig{JWTSecret: secret, AuthenticatedRole: "app_user", Users: &UsersConfig{}}},
		{"an RSA key signs RS256", AuthConfig{AuthenticatedRole: "app_user", Users: &UsersConfig{SigningKey: rsaKey}}},
		{"a P-256 key signs ES256, beside a public key for other issuers' tokens", AuthConfig{JWTSecret: publicPEM, AuthenticatedRole: "app_user", Users: &UsersConfig{SigningKey: ecKey}}},
		{"the audience may be authenticated", AuthConfig{JWTSecret: secret, JWTAudience: "authenticated", AuthenticatedRole: "app_user", Users: &UsersConfig{}}},
		{"authenticated_role without users is just a role", AuthConfig{AuthenticatedRole: "app_user"}},
	}
	for _, c := range accepted {
		t.Run(c.name, func(t *testing.T) {
			a := c.auth
			tc := TenantConfig{Name: "a", Auth: &a}
			if err := cfg.NormalizeTenant(&tc); err != nil {
				t.Fatal(err)
			}
		})
	}

	refused := []struct {
		name, want string
		auth       AuthConfig
	}{
		{"users without an authenticated role", "needs auth.authenticated_role",
			AuthConfig{JWTSecret: secret, Users: &UsersConfig{}}},
		{"a Kapok tenant role as the authenticated role", `auth.authenticated_role "kapok_t_b" is reserved`,
			AuthConfig{JWTSecret: secret, AuthenticatedRole: "kapok_t_b", Users: &UsersConfig{}}},
		{"a predefined role as the authenticated role", `auth.authenticated_role "pg_read_all_data" is reserved`,
			AuthConfig{JWTSecret: secret, AuthenticatedRole: "pg_read_all_data", Users: &UsersConfig{}}},
		{"none as the authenticated role", `auth.authenticated_role "NONE" is reserved`,
			AuthConfig{JWTSecret: secret, AuthenticatedRole: "NONE", Users: &UsersConfig{}}},
		{"users without any key to sign with", "needs a key to sign its users' tokens",
			AuthConfig{AuthenticatedRole: "app_user", Users: &UsersConfig{}}},
		{"users with only a public key, which cannot sign", "needs a key to sign its users' tokens",
			AuthConfig{JWTSecret: publicPEM, AuthenticatedRole: "app_user", Users: &UsersConfig{}}},
		{"users with only a JWKS URL", "needs a key to sign its users' tokens",
			AuthConfig{JWKSURL: "https://issuer.example/jwks.json", AuthenticatedRole: "app_user", Users: &UsersConfig{}}},
		{"a signing key that is not PEM", "auth.users.signing_key: not a PEM block",
			AuthConfig{AuthenticatedRole: "app_user", Users: &UsersConfig{SigningKey: secret}}},
		{"a public key as the signing key", "is not a private key",
			AuthConfig{AuthenticatedRole: "app_user", Users: &UsersConfig{SigningKey: publicPEM}}},
		{"an EC key off P-256", "must be on P-256",
			AuthConfig{AuthenticatedRole: "app_user", Users: &UsersConfig{SigningKey: p384Key}}},
		{"a short RSA key", "too short",
			AuthConfig{AuthenticatedRole: "app_user", Users: &UsersConfig{SigningKey: shortRSA}}},
		{"an audience users' tokens do not carry", `auth.jwt_audience "app" would refuse`,
			AuthConfig{JWTSecret: secret, JWTAudience: "app", AuthenticatedRole: "app_user", Users: &UsersConfig{}}},
	}
	for _, c := range refused {
		t.Run(c.name+" is refused", func(t *testing.T) {
			a := c.auth
			tc := TenantConfig{Name: "a", Auth: &a}
			err := cfg.NormalizeTenant(&tc)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `tenant "a"`) {
				t.Fatalf("NormalizeTenant = %v, want an error about the tenant saying %q", err, c.want)
			}
		})
	}
}

func pemKey(t *testing.T, typ string, der func() []byte) string {
	t.Helper()
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der()}))
}

func TestSigningKeyIDsAreStableAndDistinct(t *testing.T) {
	k1, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a, err := SigningKeyID(k1.Public())
	if err != nil {
		t.Fatal(err)
	}
	again, _ := SigningKeyID(&k1.PublicKey)
	b, _ := SigningKeyID(k2.Public())
	if len(a) != 16 || a != again || a == b {
		t.Fatalf("kids %q %q %q: want 16 hex digits, the same for one key, distinct for two", a, again, b)
	}
}

// The authenticated role is granted to the tenant's role like the anonymous one, so a
// signed-in user's token may run as it; a reserved name or a role reaching past the tenant
// is never granted.
func TestTheAuthenticatedRoleIsGrantedToTheTenantRole(t *testing.T) {
	ctx := context.Background()
	conn := testenv.Conn(t)
	testenv.Exec(t, `
DO $$BEGIN CREATE ROLE control_t_au_user NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
DO $$BEGIN CREATE ROLE control_t_au_bypass NOLOGIN BYPASSRLS; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
`)
	for _, c := range []struct {
		tenant, role string
		want         bool
	}{
		{"control-t-au", "control_t_au_user", true},
		{"control-t-au-bypass", "control_t_au_bypass", false},
	} {
		tc := &TenantConfig{Name: c.tenant, Isolation: IsolationRole, Auth: &AuthConfig{AuthenticatedRole: c.role}}
		role, err := EnsureTenantRole(ctx, conn, tc, "postgres")
		if err != nil {
			t.Fatal(err)
		}
		var granted bool
		if err := conn.QueryRow(ctx, "SELECT pg_has_role($1::text, $2::text, 'MEMBER')", role, c.role).Scan(&granted); err != nil {
			t.Fatal(err)
		}
		if granted != c.want {
			t.Errorf("%s granted to %s: %v, want %v", c.role, role, granted, c.want)
		}
		rr, err := LoadRequestRoles(ctx, conn, tc, "postgres")
		if err != nil {
			t.Fatal(err)
		}
		if _, usable := rr.Usable[c.role]; usable != c.want {
			t.Errorf("%s usable by tenant %s: %v, want %v", c.role, c.tenant, usable, c.want)
		}
	}
}

package proxy

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/poolmgr"
)

// principal is who a request runs as.
type principal struct {
	// Admin requests run with the tenant's own connection role and bypass API roles.
	Admin bool
	// Role is the Postgres role to SET for the request ("" = the connection's own role).
	// Taken from a credential, it is only a candidate: guard.authenticate refuses it unless
	// it is one of the tenant's usable roles.
	Role string
	// Claims is the JWT payload (JSON), exposed to SQL as request.jwt.claims.
	Claims []byte
	// SchemaRole is the role whose privileges shape the API's schema (introspection,
	// validation); "" = the whole schema, for admin requests not acting as a role.
	SchemaRole string
}

// withSession reports whether p's statements run with a role and request settings: all
// but the admin key's without a role, which run as the pool's own role.
func (p principal) withSession() bool { return !p.Admin || p.Role != "" }

// session is p's role and claims with the request's method and path.
func (p principal) session(method, path string) poolmgr.Session {
	return poolmgr.Session{Role: p.Role, Claims: p.Claims, Method: method, Path: path}
}

// authError is a refused credential; status is 401 or 403.
type authError struct {
	status  int
	message string
}

func (e *authError) Error() string { return e.message }

var (
	errNoCredentials = &authError{fasthttp.StatusUnauthorized, "no credentials: send an API key or a JWT (Authorization: Bearer …)"}
	errBadKey        = &authError{fasthttp.StatusUnauthorized, "invalid API key"}
)

// tenantAuth checks a tenant's credentials. It is built once per tenant config.
type tenantAuth struct {
	tenant    string // the name Kapok's own keys must carry as ref
	adminKey  string
	cfg       control.AuthConfig
	required  bool
	hmacKey   []byte
	staticKey any // *rsa.PublicKey or *ecdsa.PublicKey from a PEM secret
	// usersKey is the public half of auth.users.signing_key, which signs the tenant's
	// Kapok Auth tokens (kid usersKid).
	usersKey any
	usersKid string
	jwks     *jwksCache
	parser   *jwt.Parser
	// verified caches tokens already checked, until they expire: a client sends the same
	// token many times, and verifying an RS256 signature costs far more than a lookup. It is
	// keyed by a hash of the token, so a lookup does not copy the token out of the request;
	// the entry keeps the token, compared in full on every hit.
	verified *lru.Cache[uint64, verifiedToken]
}

type verifiedToken struct {
	tok string
	p   principal
	exp time.Time
}

// newTenantAuth builds the check of a tenant's credentials; open (control.Config.OpenTenant)
// lets requests without any through.
func newTenantAuth(tenant, adminKey string, ac *control.AuthConfig, open bool, httpc *http.Client) (*tenantAuth, error) {
	a := &tenantAuth{tenant: tenant, adminKey: adminKey, required: !open}
	if ac != nil {
		a.cfg = *ac
	}
	if a.cfg.RoleClaim == "" {
		a.cfg.RoleClaim = "role"
	}
	methods := []string{}
	if s := a.cfg.JWTSecret; s != "" {
		if strings.Contains(s, "-----BEGIN") {
			k, err := parsePublicKeyPEM([]byte(s))
			if err != nil {
				return nil, fmt.Errorf("jwt_secret: %w", err)
			}
			a.staticKey = k
			methods = append(methods, "RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
		} else {
			a.hmacKey = []byte(s)
			methods = append(methods, "HS256", "HS384", "HS512")
		}
	}
	if a.cfg.JWKSURL != "" {
		a.jwks = &jwksCache{url: a.cfg.JWKSURL, client: httpc, keys: map[string]any{}}
		methods = append(methods, "RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
	}
	if u := a.cfg.Users; u != nil && u.SigningKey != "" {
		k, err := control.ParseSigningKey(u.SigningKey)
		if err != nil {
			return nil, fmt.Errorf("auth.users.signing_key: %w", err)
		}
		a.usersKey = k.Public()
		if a.usersKid, err = control.SigningKeyID(a.usersKey); err != nil {
			return nil, fmt.Errorf("auth.users.signing_key: %w", err)
		}
		if _, ok := k.(*rsa.PrivateKey); ok {
			methods = append(methods, "RS256")
		} else {
			methods = append(methods, "ES256")
		}
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithLeeway(5 * time.Second)}
	if a.cfg.JWTAudience != "" {
		opts = append(opts, jwt.WithAudience(a.cfg.JWTAudience))
	}
	a.parser = jwt.NewParser(opts...)
	a.verified, _ = lru.New[uint64, verifiedToken](4096)
	return a, nil
}

// authenticate resolves the request's credentials. Order: admin key (X-Kapok-Admin-Key or
// Hasura's x-hasura-admin-secret, or as the bearer/apikey), then the bearer token, then
// the apikey header (supabase-js sends both: the anon key as apikey, the user's JWT as
// bearer), then the anonymous role.
func (a *tenantAuth) authenticate(ctx *fasthttp.RequestCtx) (principal, error) {
	h := &ctx.Request.Header
	if a.adminKey != "" {
		for _, v := range [][]byte{h.Peek("X-Kapok-Admin-Key"), h.Peek("X-Hasura-Admin-Secret")} {
			if len(v) > 0 {
				if subtle.ConstantTimeCompare(v, []byte(a.adminKey)) == 1 {
					return principal{Admin: true, Role: roleOverride(h)}, nil
				}
				return principal{}, &authError{fasthttp.StatusUnauthorized, "invalid admin key"}
			}
		}
	}
	if !a.required {
		// An open tenant (no admin key, no auth settings) has no secret to check a key
		// against: every key is the anonymous key, as supabase-js needs one to send.
		return principal{Admin: true}, nil
	}
	bearer := bearerToken(h.Peek("Authorization"))
	if len(bearer) > 0 {
		return a.credential(bearer, h)
	}
	if k := h.Peek("apikey"); len(k) > 0 {
		return a.credential(k, h)
	}
	if a.cfg.AnonRole != "" {
		return principal{Role: a.cfg.AnonRole}, nil
	}
	return principal{}, errNoCredentials
}

// roleOverride lets an admin act as a role, as Hasura's x-hasura-role does; the role is
// checked like any credential's (guard.authenticate).
func roleOverride(h *fasthttp.RequestHeader) string {
	return string(h.Peek("X-Hasura-Role"))
}

func bearerToken(v []byte) []byte {
	if len(v) > 7 && bytes.EqualFold(v[:7], []byte("bearer ")) {
		return bytes.TrimSpace(v[7:])
	}
	return nil
}

// credential checks one presented secret: the admin key, an API key, or a JWT.
func (a *tenantAuth) credential(tok []byte, h *fasthttp.RequestHeader) (principal, error) {
	if a.adminKey != "" && subtle.ConstantTimeCompare(tok, []byte(a.adminKey)) == 1 {
		return principal{Admin: true, Role: roleOverride(h)}, nil
	}
	if role, ok := a.cfg.APIKeys[string(tok)]; ok {
		return principal{Role: role}, nil
	}
	if bytes.Count(tok, []byte{'.'}) != 2 {
		return principal{}, errBadKey
	}
	return a.jwt(tok, h)
}

func (a *tenantAuth) jwt(raw []byte, h *fasthttp.RequestHeader) (principal, error) {
	sum := xxhash.Sum64(raw)
	if v, ok := a.verified.Get(sum); ok && v.tok == string(raw) && time.Now().Before(v.exp) {
		return a.withRequestedRole(v.p, h)
	}
	tok := string(raw)
	if a.hmacKey == nil && a.staticKey == nil && a.jwks == nil && a.usersKey == nil {
		return principal{}, &authError{fasthttp.StatusUnauthorized, "JWT authentication is not configured for this tenant"}
	}
	claims := jwt.MapClaims{}
	_, err := a.parser.ParseWithClaims(tok, claims, a.key)
	if err != nil {
		return principal{}, &authError{fasthttp.StatusUnauthorized, jwtMessage(err)}
	}
	payload, err := jwtPayload(tok)
	if err != nil {
		return principal{}, &authError{fasthttp.StatusUnauthorized, "JWT payload is not valid JSON"}
	}
	p := principal{Claims: payload, Role: a.roleFromClaims(claims)}
	if iss, _ := claims["iss"].(string); iss == control.Issuer {
		// Kapok's own keys (control.KeysFor) and Kapok Auth's access tokens name
		// Supabase's roles, which are no Postgres roles here: anon is the tenant's
		// anonymous role, authenticated its auth.authenticated_role, and service_role the
		// tenant's own role, as with the admin key; guard.authenticate applies the usual
		// checks to all three. Tenants may share a secret: a token is good only for the
		// tenant it was issued for.
		if ref, _ := claims["ref"].(string); ref != a.tenant {
			return principal{}, &authError{fasthttp.StatusUnauthorized, "the key was issued for another tenant"}
		}
		switch role, _ := claims["role"].(string); role {
		case control.KeyRoleAnon:
			if a.cfg.AnonRole == "" {
				return principal{}, &authError{fasthttp.StatusUnauthorized, "the anon key is refused: the tenant has no anonymous role (auth.anon_role)"}
			}
			p.Role = a.cfg.AnonRole
		case control.RoleAuthenticated:
			if a.cfg.AuthenticatedRole == "" {
				return principal{}, &authError{fasthttp.StatusUnauthorized, "a signed-in user's token is refused: the tenant has no authenticated role (auth.authenticated_role)"}
			}
			p.Role = a.cfg.AuthenticatedRole
		case control.KeyRoleService:
			p = principal{Admin: true, Claims: payload}
		}
	}
	if p.Role == "" && !p.Admin {
		p.Role = a.cfg.AnonRole
	}
	if p.Role == "" && !p.Admin {
		return principal{}, &authError{fasthttp.StatusUnauthorized, fmt.Sprintf("JWT has no %q claim and the tenant has no anonymous role", a.cfg.RoleClaim)}
	}
	exp := time.Now().Add(time.Hour)
	if e, err := claims.GetExpirationTime(); err == nil && e != nil && e.Before(exp) {
		exp = e.Time
	}
	a.verified.Add(sum, verifiedToken{tok: tok, p: p, exp: exp})
	return a.withRequestedRole(p, h)
}

// withRequestedRole applies Hasura's x-hasura-role header: a JWT may pick any role listed in
// its x-hasura-allowed-roles that the tenant may use (guard.authenticate checks it).
func (a *tenantAuth) withRequestedRole(p principal, h *fasthttp.RequestHeader) (principal, error) {
	want := string(h.Peek("X-Hasura-Role"))
	if want == "" || want == p.Role {
		return p, nil
	}
	if p.Admin {
		p.Role = want
		return p, nil
	}
	var c struct {
		Hasura struct {
			Allowed []string `json:"x-hasura-allowed-roles"`
		} `json:"https://hasura.io/jwt/claims"`
	}
	_ = json.Unmarshal(p.Claims, &c)
	for _, r := range c.Hasura.Allowed {
		if r == want {
			p.Role = want
			return p, nil
		}
	}
	return principal{}, &authError{fasthttp.StatusForbidden, fmt.Sprintf("role %q is not in the JWT's x-hasura-allowed-roles", want)}
}

// roleFromClaims follows the configured claim path (dot-separated; a key containing dots,
// like Hasura's namespace URL, is matched whole first), then Hasura's claims.
func (a *tenantAuth) roleFromClaims(c jwt.MapClaims) string {
	if v, ok := lookupClaim(map[string]any(c), a.cfg.RoleClaim); ok {
		if s, ok := v.(string); ok {
			return s
		}
	}
	if ns, ok := c["https://hasura.io/jwt/claims"].(map[string]any); ok {
		if s, ok := ns["x-hasura-default-role"].(string); ok {
			return s
		}
	}
	return ""
}

func lookupClaim(m map[string]any, path string) (any, bool) {
	if v, ok := m[path]; ok {
		return v, true
	}
	head, rest, found := strings.Cut(path, ".")
	if !found {
		return nil, false
	}
	sub, ok := m[head].(map[string]any)
	if !ok {
		return nil, false
	}
	return lookupClaim(sub, rest)
}

func jwtMessage(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "JWT expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "JWT not valid yet (nbf)"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "JWT audience does not match"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "JWT signature is invalid"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "JWT cannot be verified: " + rootMessage(err)
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "JWT is malformed"
	}
	return "invalid JWT: " + rootMessage(err)
}

func rootMessage(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			es := j.Unwrap()
			return es[len(es)-1].Error()
		}
		err = u
	}
}

func jwtPayload(tok string) ([]byte, error) {
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil || !json.Valid(b) {
		return nil, errors.New("bad payload")
	}
	return b, nil
}

// key picks the verification key for a token's algorithm (golang-jwt has already refused
// algorithms not in WithValidMethods, "none" included).
func (a *tenantAuth) key(t *jwt.Token) (any, error) {
	switch t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		if a.hmacKey == nil {
			return nil, errors.New("HMAC tokens are not accepted")
		}
		return a.hmacKey, nil
	case *jwt.SigningMethodRSA, *jwt.SigningMethodECDSA:
		kid, _ := t.Header["kid"].(string)
		if a.usersKey != nil && (kid == a.usersKid || a.jwks == nil && a.staticKey == nil) {
			return a.usersKey, nil
		}
		if a.jwks != nil {
			return a.jwks.key(kid)
		}
		if a.staticKey == nil {
			return nil, errors.New("asymmetric tokens are not accepted")
		}
		return a.staticKey, nil
	}
	return nil, fmt.Errorf("algorithm %v is not accepted", t.Header["alg"])
}

func parsePublicKeyPEM(b []byte) (any, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("not PEM")
	}
	if k, err := x509.ParsePKIXPublicKey(blk.Bytes); err == nil {
		return k, nil
	}
	if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
		return c.PublicKey, nil
	}
	return x509.ParsePKCS1PublicKey(blk.Bytes)
}

// jwksCache fetches a JWKS document and refreshes it when a token names an unknown key id,
// at most once a second, so key rotation is picked up without a restart.
type jwksCache struct {
	url    string
	client *http.Client

	mu      sync.Mutex
	keys    map[string]any
	fetched time.Time
}

func (c *jwksCache) key(kid string) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok := c.keys[kid]; ok {
		return k, nil
	}
	if time.Since(c.fetched) < time.Second {
		return nil, fmt.Errorf("unknown key id %q", kid)
	}
	if err := c.refreshLocked(); err != nil {
		return nil, err
	}
	if k, ok := c.keys[kid]; ok {
		return k, nil
	}
	if kid == "" && len(c.keys) == 1 {
		for _, k := range c.keys {
			return k, nil
		}
	}
	return nil, fmt.Errorf("unknown key id %q", kid)
}

func (c *jwksCache) refreshLocked() error {
	c.fetched = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("JWKS fetch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("JWKS fetch: HTTP %d", resp.StatusCode)
	}
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return fmt.Errorf("JWKS: %w", err)
	}
	keys := map[string]any{}
	for _, k := range doc.Keys {
		if pk, err := k.publicKey(); err == nil {
			keys[k.Kid] = pk
		}
	}
	c.keys = keys
	return nil
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

func (k jwk) publicKey() (any, error) {
	dec := func(s string) (*big.Int, error) {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
		if err != nil {
			return nil, err
		}
		return new(big.Int).SetBytes(b), nil
	}
	switch k.Kty {
	case "RSA":
		n, err := dec(k.N)
		if err != nil {
			return nil, err
		}
		e, err := dec(k.E)
		if err != nil {
			return nil, err
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("curve %q", k.Crv)
		}
		size := (curve.Params().BitSize + 7) / 8
		x, err := dec(k.X)
		if err != nil {
			return nil, err
		}
		y, err := dec(k.Y)
		if err != nil {
			return nil, err
		}
		if len(x.Bytes()) > size || len(y.Bytes()) > size {
			return nil, fmt.Errorf("EC key coordinates do not fit %s", k.Crv)
		}
		point := make([]byte, 1+2*size)
		point[0] = 4 // uncompressed
		x.FillBytes(point[1 : 1+size])
		y.FillBytes(point[1+size:])
		return ecdsa.ParseUncompressedPublicKey(curve, point)
	}
	return nil, fmt.Errorf("key type %q", k.Kty)
}

// reason is the kapok_rejected_requests_total label of a refused credential.
func (e *authError) reason() string {
	if e.status == fasthttp.StatusForbidden {
		return "forbidden"
	}
	return "unauthenticated"
}

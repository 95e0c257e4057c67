// Package oidctest runs a small but real OpenID Connect provider on 127.0.0.1, for tests
// of Kapok Auth's sign-in through OAuth providers. It is for tests only.
//
// One server speaks two dialects, so both kinds of provider Kapok knows are exercised
// over real HTTP with real tokens:
//
//   - OpenID Connect: discovery (/.well-known/openid-configuration), a JWKS with an RSA
//     key made at start, /authorize, /token (authorization_code grant, client_secret_basic
//     and client_secret_post, PKCE) returning an RS256 ID token, and /userinfo.
//   - GitHub's OAuth2 apps: /login/oauth/authorize, /login/oauth/access_token (JSON when
//     asked for with Accept: application/json, a form otherwise, as GitHub answers), and
//     the API's /user and /user/emails.
//
// There is no login page: /authorize signs in the user the test set with SetUser and
// redirects at once, as a browser with a live session at the provider would see. Tests
// change what the provider does with Deny (an error redirect) and OverrideClaims (ID
// tokens that a relying party must refuse), and read what it was sent with
// LastAuthorize and LastTokenAuth.
//
// The package must not be imported outside tests.
package oidctest

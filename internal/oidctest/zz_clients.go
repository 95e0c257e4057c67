package oidctest

// Stand-in for the OpenID Connect provider's API that proxy's auth-js test uses; the
// integrator deletes it.

import "testing"

type User struct {
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	Picture       string
	Login         string
}

type Provider struct{ URL, ClientID, ClientSecret string }

func Start(t testing.TB) *Provider {
	t.Fatal("oidctest: stand-in")
	return nil
}

func (p *Provider) AllowRedirect(uris ...string) {}
func (p *Provider) SetUser(u User)               {}

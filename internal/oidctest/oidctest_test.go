package oidctest

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

const redirectURI = "http://client.test/callback"

// code runs an authorization request with opts and returns the code the provider sent back.
func code(t *testing.T, p *Provider, conf *oauth2.Config, opts ...oauth2.AuthCodeOption) string {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(conf.AuthCodeURL("st", opts...))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || res.StatusCode != http.StatusFound || loc.Query().Get("state") != "st" || loc.Query().Get("code") == "" {
		t.Fatalf("authorize answered %s to %s", res.Status, loc)
	}
	return loc.Query().Get("code")
}

func TestProviderRefusals(t *testing.T) {
	p := Start(t)
	p.AllowRedirect(redirectURI)
	conf := &oauth2.Config{ClientID: p.ClientID, ClientSecret: p.ClientSecret, RedirectURL: redirectURI, Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: p.URL + "/authorize", TokenURL: p.URL + "/token", AuthStyle: oauth2.AuthStyleInHeader}}
	ctx := context.Background()

	t.Run("a code with a PKCE challenge needs its verifier", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		c := code(t, p, conf, oauth2.S256ChallengeOption(v))
		if _, err := conf.Exchange(ctx, c, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("another verifier: %v", err)
		}
		c = code(t, p, conf, oauth2.S256ChallengeOption(v))
		tok, err := conf.Exchange(ctx, c, oauth2.VerifierOption(v))
		if err != nil || tok.Extra("id_token") == nil {
			t.Errorf("the right verifier: %v", err)
		}
	})

	t.Run("a wrong client secret is refused", func(t *testing.T) {
		bad := *conf
		bad.ClientSecret = "wrong"
		if _, err := bad.Exchange(ctx, code(t, p, conf)); err == nil || !strings.Contains(err.Error(), "invalid_client") {
			t.Errorf("exchange: %v", err)
		}
	})

	t.Run("an unregistered redirect_uri is not redirected to", func(t *testing.T) {
		bad := *conf
		bad.RedirectURL = "http://evil.test/callback"
		res, err := http.Get(bad.AuthCodeURL("st"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("authorize answered %s", res.Status)
		}
	})

	t.Run("a GitHub code is not redeemed at the OpenID Connect token endpoint", func(t *testing.T) {
		gh := *conf
		gh.Endpoint.AuthURL = p.URL + "/login/oauth/authorize"
		if _, err := conf.Exchange(ctx, code(t, p, &gh)); err == nil {
			t.Error("exchanged")
		}
	})
}

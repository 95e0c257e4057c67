package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/certfile"
)

// httpsFront is what `kapok serve` needs to serve the HTTP listener over HTTPS (the tls
// section): the TLS config of every connection, and the plain HTTP listeners beside it that
// answer ACME's HTTP-01 challenges and redirect everything else to HTTPS.
type httpsFront struct {
	cfg  control.TLSConfig
	log  *slog.Logger
	tls  *tls.Config
	acme *autocert.Manager // nil: certificate files

	plain []*http.Server
	wg    sync.WaitGroup
}

// newHTTPSFront loads the certificate files, or prepares the ACME client, before anything
// listens: a missing file or an unusable cache directory stops `kapok serve` at once.
func newHTTPSFront(cfg control.TLSConfig, log *slog.Logger) (*httpsFront, error) {
	f := &httpsFront{cfg: cfg, log: log}
	// fasthttp speaks HTTP/1.1 only: offering h2 would break the clients that pick it.
	f.tls = &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	if cfg.ACME == nil {
		src, err := certfile.Open(cfg.CertFile, cfg.KeyFile, certfile.Options{Interval: cfg.ReloadInterval.D(), Log: log, Name: "HTTPS"})
		if err != nil {
			return nil, err
		}
		f.tls.GetCertificate = src.GetCertificate
		return f, nil
	}
	m, err := acmeManager(cfg.ACME)
	if err != nil {
		return nil, err
	}
	f.acme = m
	// The CA's TLS-ALPN-01 validation connects to this listener offering only acme-tls/1.
	f.tls.NextProtos = append(f.tls.NextProtos, acme.ALPNProto)
	first := cfg.ACME.Domains[0]
	f.tls.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if hello.ServerName == "" {
			// A client that dialled an address sends no name (a health check on the pod's IP):
			// it gets the first domain's certificate rather than a failed handshake.
			named := *hello
			named.ServerName = first
			hello = &named
		}
		return m.GetCertificate(hello)
	}
	return f, nil
}

// acmeManager is autocert's Manager for a: only a's domains, the account and certificates
// kept in a's cache directory, the CA's own TLS checked against the system's roots and a's
// extra ones.
func acmeManager(a *control.ACMEConfig) (*autocert.Manager, error) {
	if err := os.MkdirAll(a.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("tls.acme: cache_dir: %w", err)
	}
	probe, err := os.CreateTemp(a.CacheDir, ".kapok-write-check-*")
	if err != nil {
		return nil, fmt.Errorf("tls.acme: cache_dir %s is not writable: %w", a.CacheDir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	client := &acme.Client{DirectoryURL: a.DirectoryURL, UserAgent: "kapok"}
	if a.CARootsFile != "" {
		pem, err := os.ReadFile(a.CARootsFile)
		if err != nil {
			return nil, fmt.Errorf("tls.acme: ca_roots_file: %w", err)
		}
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.acme: ca_roots_file %s holds no PEM certificate", a.CARootsFile)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		client.HTTPClient = &http.Client{Transport: tr}
	}
	return &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(a.CacheDir),
		HostPolicy: autocert.HostWhitelist(a.Domains...),
		Email:      a.Email,
		Client:     client,
	}, nil
}

// start opens the plain HTTP listeners and, with ACME, begins obtaining the certificates.
// httpsAddr is the HTTPS listener's address, whose port redirects name.
func (f *httpsFront) start(ctx context.Context, httpsAddr net.Addr, errc chan<- error) error {
	_, port, err := net.SplitHostPort(httpsAddr.String())
	if err != nil {
		return err
	}
	redirect := redirectToHTTPS(port)
	type plain struct {
		addr, what string
		h          http.Handler
	}
	var plains []plain
	if a := f.cfg.ACME; a != nil {
		// Other requests get the redirect; the challenge handler also serves the tokens
		// written to the cache directory by another replica sharing it.
		challenge := f.acme.HTTPHandler(redirect)
		plains = append(plains, plain{a.HTTPChallengeAddr, "tls.acme.http_challenge_addr", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// autocert checks the Host against the domains as it is; where the CA reaches this
			// address through a port other than 80, the Host carries that port.
			if h, _, err := net.SplitHostPort(r.Host); err == nil {
				r = r.Clone(r.Context())
				r.Host = h
			}
			challenge.ServeHTTP(w, r)
		})})
	}
	if r := f.cfg.RedirectHTTP; r != "" && (f.cfg.ACME == nil || r != f.cfg.ACME.HTTPChallengeAddr) {
		plains = append(plains, plain{r, "tls.redirect_http", redirect})
	}
	for _, p := range plains {
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			_ = f.close(context.Background())
			return fmt.Errorf("%s cannot listen on %s: %w", p.what, p.addr, err)
		}
		hs := &http.Server{Handler: p.h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 90 * time.Second, MaxHeaderBytes: 16 << 10,
			ErrorLog: slog.NewLogLogger(f.log.Handler(), slog.LevelWarn)}
		f.plain = append(f.plain, hs)
		f.log.Info("plain HTTP serving", "http", "http://"+ln.Addr().String(), "for", p.what)
		f.wg.Go(func() {
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				select {
				case errc <- fmt.Errorf("%s: %w", p.what, err):
				default: // serve is already stopping on another error
				}
			}
		})
	}
	if f.acme != nil {
		for _, d := range f.cfg.ACME.Domains {
			go f.obtain(ctx, d)
		}
	}
	return nil
}

// obtain gets d's certificate at start, from the cache or the CA, so the first client does
// not wait for the issuance and a CA that refuses shows in the log at once. A failure is
// not fatal: the next handshake for d tries again.
func (f *httpsFront) obtain(ctx context.Context, d string) {
	start := time.Now()
	// A client that can use ECDSA, as every current one can.
	hello := &tls.ClientHelloInfo{ServerName: d, SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedCurves: []tls.CurveID{tls.CurveP256}, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}
	c, err := f.acme.GetCertificate(hello)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		f.log.Error("ACME: no certificate yet; the next TLS handshake for the domain tries again", "domain", d, "err", err,
			"directory", f.acme.Client.DirectoryURL)
		return
	}
	f.log.Info("ACME: certificate ready", "domain", d, "not_after", c.Leaf.NotAfter, "took", time.Since(start).Round(time.Millisecond).String())
}

// close stops the plain listeners, letting their requests finish within ctx.
func (f *httpsFront) close(ctx context.Context) error {
	var errs []error
	for _, hs := range f.plain {
		errs = append(errs, hs.Shutdown(ctx))
	}
	f.wg.Wait()
	return errors.Join(errs...)
}

// redirectToHTTPS answers every request with a 308 (the method and body are kept) to the
// same host, path and query over HTTPS on port.
func redirectToHTTPS(port string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		} else {
			host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		}
		if host == "" {
			http.Error(w, "Use HTTPS (this request names no host)", http.StatusBadRequest)
			return
		}
		switch {
		case port != "443":
			host = net.JoinHostPort(host, port)
		case strings.Contains(host, ":"):
			host = "[" + host + "]"
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}

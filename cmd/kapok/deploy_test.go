package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// chartValues is what `kapok deploy` may write of the chart's values (configs/helm/kapok):
// decoded strictly, a key the chart does not know fails the test.
type chartValues struct {
	Image struct {
		Repository string `yaml:"repository"`
		Tag        string `yaml:"tag"`
	} `yaml:"image"`
	ReplicaCount int    `yaml:"replicaCount"`
	Config       string `yaml:"config"`
	Secrets      struct {
		ExistingSecret string            `yaml:"existingSecret"`
		Env            map[string]string `yaml:"env"`
	} `yaml:"secrets"`
}

func decodeValues(t *testing.T, out string) chartValues {
	t.Helper()
	var v chartValues
	dec := yaml.NewDecoder(strings.NewReader(out))
	dec.KnownFields(true)
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("the values do not decode into the chart's: %v\n%s", err, out)
	}
	return v
}

func deployCLI(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	code, out, errs := cli(t, append([]string{"deploy"}, args...)...)
	if code != 0 {
		t.Fatalf("kapok deploy %v: exit %d\n%s", args, code, errs)
	}
	return out, errs
}

func pemKey(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// chartEnv sets the environment the chart gives Kapok's container, as far as it changes
// the config: its listen addresses.
func chartEnv(t *testing.T) {
	t.Setenv("KAPOK_LISTEN", chartListen)
	t.Setenv("KAPOK_WIRE_LISTEN", chartWireListen)
}

func TestDeployMovesEverySecretIntoTheSecret(t *testing.T) {
	t.Setenv("KAPOK_ADMIN_KEY", "")
	key := pemKey(t)
	secrets := map[string]string{
		"admin key": "adm!n k3y: 'quoted'", "url password": "s3cr3t-url", "pooler password": "s3cr3t-pooler",
		"password in a flow mapping": "s3cr3t-flow", "JWT secret": "s3cr3t-jwt-0123456789-0123456789-0123",
		"API key": "s3cr3t-api-key", "SMTP password": "s3cr3t-smtp", "OAuth client secret": "s3cr3t-github",
		"signing key": strings.Split(key, "\n")[1],
	}
	indented := "          " + strings.ReplaceAll(strings.TrimSuffix(key, "\n"), "\n", "\n          ")
	config := `# a comment that stays
listen: 127.0.0.1:8080   # and one after a value
admin_key: 'adm!n k3y: ''quoted'''
default_tenant: app
upstreams:
  main:
    url: postgres://kapok:s3cr3t-url@db.internal:5432/app?sslmode=require
    pooler: "postgres://kapok:s3cr3t-pooler@bouncer:6432/app"
  other: {url: 'postgres://o:s3cr3t-flow@db2.internal/o', manage: false}
tenants:
  - name: app
    upstream: main
    schemas: [public]
    auth:
      jwt_secret: s3cr3t-jwt-0123456789-0123456789-0123
      authenticated_role: app_user
      api_keys:
        s3cr3t-api-key: service_role
      users:
        site_url: https://app.example.com
        signing_key: |
` + indented + `
        smtp: {host: smtp.example.com, port: 587, user: mailer, pass: s3cr3t-smtp}
        external:
          github: {client_id: an-id, client_secret: s3cr3t-github}
  - name: reports
    upstream: other
`
	path := filepath.Join(t.TempDir(), "kapok.yaml")
	writeFiles(t, filepath.Dir(path), map[string]string{"kapok.yaml": config})

	t.Run("without --include-secrets no secret is written, and the Secret to create has a key for each", func(t *testing.T) {
		out, _ := deployCLI(t, "--config", path, "--release", "shop", "--namespace", "prod", "--image", "registry.example.com:5000/kapok:1.2.3")
		for what, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("the %s is in the values:\n%s", what, out)
			}
		}
		v := decodeValues(t, out)
		if v.Secrets.ExistingSecret != "shop-env" || len(v.Secrets.Env) != 0 {
			t.Errorf("secrets %+v: want the existing Secret shop-env and no values", v.Secrets)
		}
		if v.Image.Repository != "registry.example.com:5000/kapok" || v.Image.Tag != "1.2.3" || v.ReplicaCount != 2 {
			t.Errorf("image %+v, replicas %d", v.Image, v.ReplicaCount)
		}
		refs := regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`).FindAllStringSubmatch(v.Config, -1)
		if len(refs) != 9 {
			t.Errorf("%d references in the config, want one per secret and the admin key:\n%s", len(refs), v.Config)
		}
		for _, m := range refs {
			if !strings.Contains(out, "--from-literal="+m[1]+"=") {
				t.Errorf("the kubectl command lacks %s:\n%s", m[1], out)
			}
		}
		if !strings.Contains(out, "kubectl create secret generic shop-env --namespace prod") {
			t.Errorf("no command creates the Secret:\n%s", out)
		}
	})

	t.Run("with --include-secrets the pod loads the very config deployed", func(t *testing.T) {
		chartEnv(t)
		want, err := loadConfig(serveFlags{config: path})
		if err != nil {
			t.Fatal(err)
		}
		out, _ := deployCLI(t, "--config", path, "--include-secrets", "--replicas", "3")
		v := decodeValues(t, out)
		if v.Secrets.ExistingSecret != "" || len(v.Secrets.Env) != 9 || v.ReplicaCount != 3 {
			t.Fatalf("secrets %+v, replicas %d", v.Secrets, v.ReplicaCount)
		}
		for _, kept := range []string{"# a comment that stays\n", `listen: "0.0.0.0:8080"   # and one after a value`, "  - name: reports\n    upstream: other\n"} {
			if !strings.Contains(v.Config, kept) {
				t.Errorf("the config lost %q:\n%s", kept, v.Config)
			}
		}
		for k, s := range v.Secrets.Env {
			t.Setenv(k, s)
		}
		pod := filepath.Join(t.TempDir(), "kapok.yaml")
		writeFiles(t, filepath.Dir(pod), map[string]string{"kapok.yaml": v.Config})
		got, err := loadConfig(serveFlags{config: pod})
		if err != nil {
			t.Fatalf("the deployed config does not load: %v\n%s", err, v.Config)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("the pod's config differs from the one deployed:\n got %+v\nwant %+v", got, want)
		}
		if got.Tenants[0].Auth.Users.SigningKey != key || got.AdminKey != "adm!n k3y: 'quoted'" {
			t.Error("the signing key or the admin key did not survive the trip")
		}
	})
}

func TestDeployKeepsTheFilesOwnReferences(t *testing.T) {
	t.Setenv("KAPOK_ADMIN_KEY", "")
	t.Setenv("KAPOK_T_DEPLOY_DB", "postgres://kapok:from-env@db.internal/app")
	path := filepath.Join(t.TempDir(), "kapok.yaml")
	writeFiles(t, filepath.Dir(path), map[string]string{"kapok.yaml": "upstreams:\n  main:\n    url: ${KAPOK_T_DEPLOY_DB}\ntenants:\n  - {name: app, upstream: main}\n"})
	out, _ := deployCLI(t, "--config", path)
	if v := decodeValues(t, out); !strings.Contains(v.Config, "url: ${KAPOK_T_DEPLOY_DB}\n") || strings.Contains(out, "from-env") ||
		!strings.Contains(out, "--from-literal=KAPOK_T_DEPLOY_DB=") {
		t.Errorf("the reference was not kept, or not listed in the Secret:\n%s", out)
	}
	out, _ = deployCLI(t, "--config", path, "--include-secrets")
	if v := decodeValues(t, out); v.Secrets.Env["KAPOK_T_DEPLOY_DB"] != "postgres://kapok:from-env@db.internal/app" {
		t.Errorf("secrets.env %v", v.Secrets.Env)
	}
}

func TestDeployWarnsOfWhatAPodCannotReach(t *testing.T) {
	_, errs := deployCLI(t, "--config", "../../configs/kapok.yaml")
	for _, want := range []string{"upstream dev connects to 127.0.0.1", "clients may authenticate only over TLS", "has Kapok Auth (auth.users) but the config has no public_url"} {
		if !strings.Contains(errs, want) {
			t.Errorf("no warning %q:\n%s", want, errs)
		}
	}
}

func TestDeployRefusesWhatServeWouldRefuse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kapok.yaml")
	writeFiles(t, filepath.Dir(path), map[string]string{"kapok.yaml": "upstreams: {u: {url: 'postgres://x@y/z'}}\ntenants: [{name: Bad_Name}]\n"})
	code, out, errs := cli(t, "deploy", "--config", path)
	if code != exitFailed || out != "" || !strings.Contains(errs, "Bad_Name") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestDeployWritesAnewAConfigItCannotEditInPlace(t *testing.T) {
	t.Setenv("KAPOK_ADMIN_KEY", "")
	chartEnv(t)
	// A tag before the secret: the text edit cannot check what it replaces, so the file is
	// written again from its nodes.
	path := filepath.Join(t.TempDir(), "kapok.yaml")
	writeFiles(t, filepath.Dir(path), map[string]string{"kapok.yaml": "upstreams:\n  main:\n    url: !!str postgres://kapok:s3cr3t@db.internal/app  # the database\ntenants:\n  - {name: app, upstream: main}\n"})
	want, err := loadConfig(serveFlags{config: path})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := deployCLI(t, "--config", path, "--include-secrets")
	v := decodeValues(t, out)
	if strings.Contains(v.Config, "s3cr3t") || !strings.Contains(v.Config, "# the database") {
		t.Fatalf("the config holds the secret, or lost its comment:\n%s", v.Config)
	}
	for k, s := range v.Secrets.Env {
		t.Setenv(k, s)
	}
	pod := filepath.Join(t.TempDir(), "kapok.yaml")
	writeFiles(t, filepath.Dir(pod), map[string]string{"kapok.yaml": v.Config})
	if got, err := loadConfig(serveFlags{config: pod}); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("the pod's config (%v) differs from the one deployed:\n%s", err, v.Config)
	}
}

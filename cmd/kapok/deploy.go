package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/kapok-dev/kapok/control"
)

// The image and the addresses the Helm chart (configs/helm/kapok) gives Kapok.
const (
	deployImage       = "ghcr.io/kapok-dev/kapok"
	chartListen       = "0.0.0.0:8080"
	chartWireListen   = "0.0.0.0:6543"
	chartAdminKeyName = "KAPOK_ADMIN_KEY"
)

const deployLong = `The values install Kapok with the Helm chart configs/helm/kapok:

  kapok deploy --config kapok.yaml > values.yaml
  helm install kapok configs/helm/kapok -f values.yaml

They hold the config file, to be mounted from a ConfigMap, with every secret in it (the
admin key, the upstreams' URLs, a tenant's JWT secret, API keys, signing key, SMTP password
and OAuth client secrets) replaced by a ${NAME} reference to an environment variable that a
Secret supplies: the values name a Secret for you to create (the kubectl command is in them),
or, with --include-secrets, hold the secrets for the chart to write into a Secret of its own.
No secret is printed without --include-secrets. The chart sets listen and wire_listen.`

type deployOptions struct {
	config, image, namespace, release string
	replicas                          int
	includeSecrets                    bool
}

// deployCommand runs `kapok deploy`.
func deployCommand(_ context.Context, args []string, stdout, stderr io.Writer) int {
	var o deployOptions
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	usageHint(fs, stderr, "kapok deploy")
	fs.StringVar(&o.config, "config", "", "the configuration to deploy (default ./kapok.yaml, else configs/kapok.yaml)")
	fs.StringVar(&o.image, "image", deployImage, "the image, REPOSITORY[:TAG]; without a tag, the chart's appVersion")
	fs.IntVar(&o.replicas, "replicas", 2, "Kapok replicas")
	fs.StringVar(&o.namespace, "namespace", "default", "the Kubernetes namespace of the release (in the commands the values show)")
	fs.StringVar(&o.release, "release", "kapok", "the Helm release name (it names the Secret to create)")
	out := fs.String("out", "", "write the values to this file instead of standard output")
	fs.BoolVar(&o.includeSecrets, "include-secrets", false, "write the secrets into the values, for the chart to create its Secret; without it no secret is written")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kapok deploy: unexpected argument %q; see 'kapok deploy --help'\n", fs.Arg(0))
		return exitUsage
	}
	if o.config == "" {
		for _, p := range []string{projectConfig, "configs/kapok.yaml"} {
			if fileExists(p) {
				o.config = p
				break
			}
		}
		if o.config == "" {
			fmt.Fprintln(stderr, "kapok deploy: no ./kapok.yaml nor configs/kapok.yaml here: give --config FILE")
			return exitUsage
		}
	}
	if o.replicas < 1 {
		fmt.Fprintln(stderr, "kapok deploy: --replicas must be at least 1")
		return exitUsage
	}
	values, warnings, err := deployValues(o, os.LookupEnv)
	if err != nil {
		fmt.Fprintln(stderr, "kapok deploy:", err)
		return exitFailed
	}
	for _, w := range warnings {
		fmt.Fprintln(stderr, "kapok deploy: warning:", w)
	}
	if *out == "" {
		_, err = stdout.Write(values)
	} else {
		// The values may hold secrets (--include-secrets): readable by their owner only.
		err = os.WriteFile(*out, values, 0o600)
	}
	if err != nil {
		fmt.Fprintln(stderr, "kapok deploy:", err)
		return exitFailed
	}
	return exitOK
}

// deployValues writes the chart's values for o.config. The config is loaded first, as
// `kapok serve` in the pod would load it (the chart's listen addresses), so a config serve
// would refuse is refused here; the values then carry the file itself, comments kept.
func deployValues(o deployOptions, lookup func(string) (string, bool)) ([]byte, []string, error) {
	cfg, err := loadConfig(serveFlags{config: o.config, listen: chartListen, wireListen: chartWireListen})
	if err != nil {
		return nil, nil, err
	}
	config, secrets, err := splitSecrets(o.config, lookup)
	if err != nil {
		return nil, nil, err
	}
	if cfg.AdminKey != "" {
		// KAPOK_ADMIN_KEY, from the file or the environment, is what Kapok reads first.
		secrets[chartAdminKeyName] = cfg.AdminKey
	}
	values, err := chartValuesYAML(o, config, secrets)
	return values, deployWarnings(cfg), err
}

// splitSecrets returns the config file at path with each secret replaced by a ${NAME}, and
// the secrets by NAME (with the variables the file already names, as lookup finds them).
func splitSecrets(path string, lookup func(string) (string, bool)) (string, map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return "", nil, err
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return "", nil, fmt.Errorf("%s is not a mapping of settings", path)
	}
	s := &secretSplit{values: map[string]string{}}
	root := doc.Content[0]
	s.referenced(root, lookup)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if addr, ok := map[string]string{"listen": chartListen, "wire_listen": chartWireListen}[k.Value]; ok && v.Kind == yaml.ScalarNode {
			s.replace(v, k.Column-1, addr)
		}
	}
	s.move(root, "admin_key", chartAdminKeyName)
	for name, up := range pairs(mapping(root, "upstreams")) {
		s.move(mapping(up, ""), "url", "KAPOK_UPSTREAM_"+envName(name)+"_URL")
		s.move(mapping(up, ""), "pooler", "KAPOK_UPSTREAM_"+envName(name)+"_POOLER")
	}
	if ts := value(root, "tenants"); ts != nil && ts.Kind == yaml.SequenceNode {
		for _, t := range ts.Content {
			s.tenantSecrets(t)
		}
	}
	config, ok := applyEdits(string(raw), s.edits)
	if !ok {
		// A secret behind a tag or an anchor: the file is written anew from its nodes,
		// comments kept, layout not.
		if config, err = encodeYAML(&doc); err != nil {
			return "", nil, err
		}
	}
	return config, s.values, nil
}

// chartValuesYAML writes the values: the image, the replicas, the config and its secrets,
// either as values or as the Secret to create.
func chartValuesYAML(o deployOptions, config string, secrets map[string]string) ([]byte, error) {
	values := &yaml.Node{Kind: yaml.MappingNode}
	repo, tag := splitImage(o.image)
	image := &yaml.Node{Kind: yaml.MappingNode}
	addPair(image, "repository", strNode(repo), "")
	if tag != "" {
		addPair(image, "tag", strNode(tag), "")
	}
	addPair(values, "image", image, "")
	addPair(values, "replicaCount", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(o.replicas)}, "")
	addPair(values, "config", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.LiteralStyle, Value: config},
		o.config+", each secret replaced by a ${NAME} that the Secret below holds.\nThe chart sets listen and wire_listen.")
	if len(secrets) > 0 {
		node := &yaml.Node{Kind: yaml.MappingNode}
		keys := slices.Sorted(maps.Keys(secrets))
		if o.includeSecrets {
			env := &yaml.Node{Kind: yaml.MappingNode}
			for _, k := range keys {
				addPair(env, k, strNode(secrets[k]), "")
			}
			addPair(node, "env", env, "")
			addPair(values, "secrets", node, "The chart writes these into its Secret: each key an environment variable of Kapok's container.")
		} else {
			name := o.release + "-env"
			cmd := fmt.Sprintf("Create this Secret before `helm install` (each key an environment variable of Kapok's container):\n  kubectl create secret generic %s --namespace %s", name, o.namespace)
			for _, k := range keys {
				cmd += fmt.Sprintf(" \\\n    --from-literal=%s='...'", k)
			}
			addPair(node, "existingSecret", strNode(name), "")
			addPair(values, "secrets", node, cmd)
		}
	}
	body, err := encodeYAML(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{values}})
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("# Helm values for Kapok, written by `kapok deploy` from %s:\n#   helm install %s configs/helm/kapok --namespace %s -f values.yaml\n",
		o.config, o.release, o.namespace)
	return []byte(head + body), nil
}

// deployWarnings names what of cfg, loaded as the pod loads it, would not work there as it
// does on this machine.
func deployWarnings(cfg *control.Config) []string {
	var w []string
	for _, name := range slices.Sorted(maps.Keys(cfg.Upstreams)) {
		u := cfg.Upstreams[name]
		for _, raw := range []string{u.URL, u.Pooler} {
			if host := urlHost(raw); host != "" && isLoopback(host) {
				w = append(w, fmt.Sprintf("upstream %s connects to %s, which inside a pod is the pod itself: give the database's address as the cluster sees it", name, host))
				break
			}
		}
	}
	if cfg.PublicURL == "" {
		for _, t := range cfg.Tenants {
			if a := t.Auth; a != nil && a.Users != nil && a.Users.ExternalURL == "" {
				w = append(w, fmt.Sprintf("tenant %s has Kapok Auth (auth.users) but the config has no public_url: behind the cluster's load balancer its mails and OAuth sign-ins have no URL to link to; set public_url to the address clients reach Kapok at", t.Name))
				break
			}
		}
	}
	if !cfg.Wire.Disabled && !cfg.Wire.TLS() && !cfg.Wire.Plaintext() {
		w = append(w, "in the pod the wire port listens on every interface, where clients may authenticate only over TLS: set wire.tls_cert_file and wire.tls_key_file "+
			"(a Secret mounted through the chart's extraVolumes), or wire.allow_plaintext: true on a trusted network, or wire.disabled: true")
	}
	return w
}

func urlHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// secretSplit moves the secrets out of a config file's nodes into values, keyed by the
// environment variable whose ${NAME} replaces each, and records each replacement as an
// edit of the file's text, so that the rest of the file stays as its author wrote it.
type secretSplit struct {
	values map[string]string
	edits  []textEdit
}

var envRefRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// referenced records every variable the file already names, with its value where set: such
// names stay references, and the Secret must hold them too.
func (s *secretSplit) referenced(n *yaml.Node, lookup func(string) (string, bool)) {
	if n.Kind == yaml.ScalarNode {
		for _, m := range envRefRE.FindAllStringSubmatch(n.Value, -1) {
			v, _ := lookup(m[1])
			s.values[m[1]] = v
		}
	}
	for _, c := range n.Content {
		s.referenced(c, lookup)
	}
}

// move replaces the scalar at key in m by ${name}, unless it already refers to the environment.
func (s *secretSplit) move(m *yaml.Node, key, name string) {
	if m == nil {
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Value == key {
			s.moveNode(m.Content[i+1], k.Column-1, name)
		}
	}
}

// moveNode moves scalar v, whose key starts at column indent (a block scalar's lines are
// indented deeper), into the Secret as name.
func (s *secretSplit) moveNode(v *yaml.Node, indent int, name string) {
	if v.Kind != yaml.ScalarNode || v.Value == "" || envRefRE.MatchString(v.Value) {
		return
	}
	s.values[name] = v.Value
	s.replace(v, indent, "${"+name+"}")
}

// replace sets scalar v to value, double-quoted: a quoted scalar reads the same in a block
// and in a flow collection.
func (s *secretSplit) replace(v *yaml.Node, indent int, value string) {
	s.edits = append(s.edits, textEdit{line: v.Line, column: v.Column, indent: indent, style: v.Style, old: v.Value, new: strconv.Quote(value)})
	v.Value, v.Style, v.Tag = value, yaml.DoubleQuotedStyle, "!!str"
}

// textEdit replaces a scalar of a YAML text.
type textEdit struct {
	line, column int // 1-based, where the scalar starts (its quote or block indicator)
	indent       int // the column of its key, 0-based: a block scalar's lines are deeper
	style        yaml.Style
	old, new     string // the scalar's value, and the YAML text that replaces it
}

// applyEdits applies edits to text; it reports false when a scalar is not where, or not
// as, the edit expects it (behind a tag or an anchor, say).
func applyEdits(text string, edits []textEdit) (string, bool) {
	type span struct {
		start, end int
		new        string
	}
	lineStart := []int{0}
	for i := 0; i < len(text); i++ {
		if text[i] == '\n' {
			lineStart = append(lineStart, i+1)
		}
	}
	var spans []span
	for _, e := range edits {
		if e.line < 1 || e.line > len(lineStart) {
			return "", false
		}
		// Columns count characters, not bytes.
		start := lineStart[e.line-1]
		for c := 1; c < e.column && start < len(text); c++ {
			_, size := utf8.DecodeRuneInString(text[start:])
			start += size
		}
		end := scalarEnd(text, start, e.style, e.indent)
		if end < 0 {
			return "", false
		}
		written := text[start:end]
		if e.style == yaml.LiteralStyle || e.style == yaml.FoldedStyle {
			written += "\n" // the span stops before its last line break, which the value keeps
		}
		var was string
		if err := yaml.Unmarshal([]byte(written), &was); err != nil || was != e.old {
			return "", false
		}
		spans = append(spans, span{start, end, e.new})
	}
	// From the end of the text back, so that the offsets left to apply stay valid.
	slices.SortFunc(spans, func(a, b span) int { return b.start - a.start })
	for _, sp := range spans {
		text = text[:sp.start] + sp.new + text[sp.end:]
	}
	return text, true
}

// scalarEnd returns the offset where the scalar starting at text[start] ends, or -1.
func scalarEnd(text string, start int, style yaml.Style, indent int) int {
	if start >= len(text) {
		return -1
	}
	switch style {
	case 0:
		// Plain: to the end of the line or a comment; a flow indicator also ends it in a
		// flow collection (in a block one the value check above refuses the short span).
		end := start
		for ; end < len(text); end++ {
			c := text[end]
			if c == '\n' || c == '\r' || c == ',' || c == ']' || c == '}' ||
				(c == '#' && end > start && text[end-1] == ' ') ||
				(c == ':' && (end+1 == len(text) || text[end+1] == ' ' || text[end+1] == '\n')) {
				break
			}
		}
		return len(strings.TrimRight(text[:end], " \t"))
	case yaml.DoubleQuotedStyle:
		if text[start] == '"' {
			for i := start + 1; i < len(text); i++ {
				switch text[i] {
				case '\\':
					i++
				case '"':
					return i + 1
				}
			}
		}
	case yaml.SingleQuotedStyle:
		if text[start] == '\'' {
			for i := start + 1; i < len(text); i++ {
				if text[i] == '\'' {
					if i+1 < len(text) && text[i+1] == '\'' {
						i++
						continue
					}
					return i + 1
				}
			}
		}
	case yaml.LiteralStyle, yaml.FoldedStyle:
		// The indicator's line, then every line that is blank or indented deeper than the key.
		end := strings.IndexByte(text[start:], '\n')
		if end < 0 {
			return len(text)
		}
		end += start
		for next := end + 1; next < len(text); {
			lineEnd := strings.IndexByte(text[next:], '\n')
			if lineEnd < 0 {
				lineEnd = len(text)
			} else {
				lineEnd += next
			}
			line := text[next:lineEnd]
			if strings.TrimSpace(line) != "" {
				if len(line)-len(strings.TrimLeft(line, " ")) <= indent {
					break
				}
				end = lineEnd
			}
			next = lineEnd + 1
		}
		return end
	}
	return -1
}

// tenantSecrets moves a tenant's auth secrets: its JWT secret and API keys, and Kapok
// Auth's signing key, SMTP password and OAuth client secrets.
func (s *secretSplit) tenantSecrets(t *yaml.Node) {
	name := value(t, "name")
	auth := mapping(t, "auth")
	if name == nil || auth == nil {
		return
	}
	p := "KAPOK_TENANT_" + envName(name.Value) + "_"
	s.move(auth, "jwt_secret", p+"JWT_SECRET")
	if keys := mapping(auth, "api_keys"); keys != nil {
		for i := 0; i+1 < len(keys.Content); i += 2 {
			k := keys.Content[i]
			s.moveNode(k, k.Column-1, fmt.Sprintf("%sAPI_KEY_%d", p, i/2+1))
		}
	}
	users := mapping(auth, "users")
	if users == nil {
		return
	}
	s.move(users, "signing_key", p+"SIGNING_KEY")
	s.move(mapping(users, "smtp"), "pass", p+"SMTP_PASS")
	for provider, c := range pairs(mapping(users, "external")) {
		s.move(mapping(c, ""), "client_secret", p+envName(provider)+"_CLIENT_SECRET")
	}
}

var notEnvChar = regexp.MustCompile(`[^A-Z0-9]+`)

// envName turns a tenant, upstream or provider name into a part of a variable name.
func envName(s string) string {
	return strings.Trim(notEnvChar.ReplaceAllString(strings.ToUpper(s), "_"), "_")
}

// value returns the value of key in mapping m, or nil.
func value(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// mapping returns the mapping at key in m (m itself when key is empty), or nil.
func mapping(m *yaml.Node, key string) *yaml.Node {
	if key != "" {
		m = value(m, key)
	}
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	return m
}

// pairs iterates over a mapping's keys and values.
func pairs(m *yaml.Node) func(yield func(string, *yaml.Node) bool) {
	return func(yield func(string, *yaml.Node) bool) {
		if m == nil {
			return
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			if !yield(m.Content[i].Value, m.Content[i+1]) {
				return
			}
		}
	}
}

func strNode(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func addPair(m *yaml.Node, key string, v *yaml.Node, comment string) {
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key, HeadComment: comment}, v)
}

func encodeYAML(n *yaml.Node) (string, error) {
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}

// splitImage splits REPOSITORY[:TAG]; a registry's port is not a tag.
func splitImage(s string) (repo, tag string) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 || strings.Contains(s[i:], "/") {
		return s, ""
	}
	return s[:i], s[i+1:]
}

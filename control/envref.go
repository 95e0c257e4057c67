package control

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// envRefRE is a reference to an environment variable in a config file's string value.
var envRefRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// decodeConfig decodes a config file into cfg, replacing every ${NAME} in a string value
// by the environment variable NAME. Secrets (database URLs with their passwords, JWT
// secrets, SMTP passwords) can so stay out of the file: a Kubernetes Secret, or any
// process manager, puts them in the environment, and the file says where they go.
//
// The file is first decoded as written, strictly, so that an unknown key or a value of the
// wrong type is reported with its own line; only then are the references replaced. Numbers,
// booleans and durations cannot be references: the first decoding refuses them.
func decodeConfig(b []byte, cfg *Config, lookup func(string) (string, bool)) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if !bytes.Contains(b, []byte("${")) {
		return nil
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return err
	}
	if err := expandEnvRefs(&root, lookup); err != nil {
		return err
	}
	*cfg = Config{}
	return root.Decode(cfg)
}

// expandEnvRefs replaces the references in every scalar under n, keys included (a tenant's
// api_keys are keyed by the secret). An alias is not followed: its anchor is expanded
// where it stands, once, so a value that itself holds "${" is never expanded twice.
func expandEnvRefs(n *yaml.Node, lookup func(string) (string, bool)) error {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		missing := ""
		v := envRefRE.ReplaceAllStringFunc(n.Value, func(ref string) string {
			name := ref[2 : len(ref)-1]
			s, ok := lookup(name)
			if !ok && missing == "" {
				missing = name
			}
			return s
		})
		if missing != "" {
			return fmt.Errorf("line %d: ${%s}: environment variable %s is not set", n.Line, missing, missing)
		}
		n.Value, n.Tag = v, "!!str"
	}
	for _, c := range n.Content {
		if err := expandEnvRefs(c, lookup); err != nil {
			return err
		}
	}
	return nil
}

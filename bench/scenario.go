package bench

import (
	"bytes"
	"embed"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"gopkg.in/yaml.v3"
)

// Scenario describes the requests of one load test. Every `{{name}}` in a request's path,
// header values or body is replaced per request by a value of variable name, drawn uniformly
// from its range or list; all occurrences of a name in one request get the same value.
type Scenario struct {
	Name        string         `yaml:"name" json:"name"`
	Description string         `yaml:"description,omitempty" json:"description,omitempty"`
	Kind        string         `yaml:"kind,omitempty" json:"kind,omitempty"` // "graphql" checks 200 bodies for an "errors" member
	Vars        map[string]Var `yaml:"vars,omitempty" json:"vars,omitempty"`
	// One request, inline...
	Method  string            `yaml:"method,omitempty" json:"method,omitempty"`
	Path    string            `yaml:"path,omitempty" json:"path,omitempty"`
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	Body    string            `yaml:"body,omitempty" json:"body,omitempty"`
	// ...or a weighted mix.
	Requests []RequestSpec `yaml:"requests,omitempty" json:"requests,omitempty"`
	// Warmup is the least warm-up the suite gives the scenario (a Go duration, e.g. 3s):
	// traffic over many tenants first opens their pools and compiles their plans.
	Warmup string `yaml:"warmup,omitempty" json:"warmup,omitempty"`
	// Gate false keeps a built-in scenario out of the suite's default list: it measures
	// something the gate's ratios do not (hot keys, say), and has no threshold.
	Gate *bool `yaml:"gate,omitempty" json:"gate,omitempty"`
}

// Gated reports whether the suite runs the scenario by default.
func (s *Scenario) Gated() bool { return s.Gate == nil || *s.Gate }

// MinWarmup is Warmup parsed (0 when unset or malformed; Validate reports the latter).
func (s *Scenario) MinWarmup() time.Duration {
	d, _ := time.ParseDuration(s.Warmup)
	return d
}

// RequestSpec is one request shape of a scenario.
type RequestSpec struct {
	Name    string            `yaml:"name,omitempty" json:"name,omitempty"`
	Method  string            `yaml:"method,omitempty" json:"method,omitempty"`
	Path    string            `yaml:"path,omitempty" json:"path,omitempty"`
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	Body    string            `yaml:"body,omitempty" json:"body,omitempty"`
	Kind    string            `yaml:"kind,omitempty" json:"kind,omitempty"`
	Weight  int               `yaml:"weight,omitempty" json:"weight,omitempty"`
}

// Var is the value source of one variable: an inclusive integer range drawn uniformly, or
// skewed (Zipf: the range's first value is the most frequent, value lo+k is drawn with a
// probability proportional to (k+1)^-S), either optionally printed through Format (e.g.
// "bench-t%03d"), or a list of literal values. Scale marks a range whose upper bound follows
// the dataset's scale factor.
type Var struct {
	Range  []int64  `yaml:"range,omitempty" json:"range,omitempty"`
	Zipf   []int64  `yaml:"zipf,omitempty" json:"zipf,omitempty"`
	S      float64  `yaml:"s,omitempty" json:"s,omitempty"` // Zipf exponent, > 1
	List   []string `yaml:"list,omitempty" json:"list,omitempty"`
	Format string   `yaml:"format,omitempty" json:"format,omitempty"`
	Scale  bool     `yaml:"scale,omitempty" json:"scale,omitempty"`
}

//go:embed scenarios/*.yaml
var builtinFS embed.FS

// GateNames lists the built-in scenarios the suite runs by default (BuiltinNames but those
// with gate: false), in suite order.
func GateNames() []string {
	var names []string
	for _, n := range BuiltinNames() {
		if s, err := LoadScenario(n); err == nil && s.Gated() {
			names = append(names, n)
		}
	}
	return names
}

// BuiltinNames lists the embedded scenarios in suite order.
func BuiltinNames() []string {
	ents, _ := builtinFS.ReadDir("scenarios")
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	order := func(n string) string { // reads first, then many tenants, then writes
		switch {
		case strings.HasPrefix(n, "write"):
			return "2" + n
		case strings.HasPrefix(n, "multitenant"):
			return "1" + n
		}
		return "0" + n
	}
	sort.Slice(names, func(i, j int) bool { return order(names[i]) < order(names[j]) })
	return names
}

// LoadScenario reads a built-in scenario by name, or a YAML or JSON file by path.
func LoadScenario(nameOrPath string) (*Scenario, error) {
	data, err := builtinFS.ReadFile(path.Join("scenarios", nameOrPath+".yaml"))
	if err != nil {
		data, err = os.ReadFile(nameOrPath)
		if err != nil {
			return nil, fmt.Errorf("scenario %q is neither built in (%s) nor a readable file: %w",
				nameOrPath, strings.Join(BuiltinNames(), ", "), err)
		}
	}
	return ParseScenario(data)
}

// ParseScenario decodes a scenario from YAML (JSON is YAML too).
func ParseScenario(data []byte) (*Scenario, error) {
	var s Scenario
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	if len(s.Requests) == 0 {
		if s.Path == "" {
			return nil, fmt.Errorf("scenario %q: no path and no requests", s.Name)
		}
		s.Requests = []RequestSpec{{Method: s.Method, Path: s.Path, Headers: s.Headers, Body: s.Body}}
		s.Method, s.Path, s.Headers, s.Body = "", "", nil, ""
	} else if s.Path != "" || s.Method != "" || s.Body != "" || s.Headers != nil {
		return nil, fmt.Errorf("scenario %q: give either one request inline (method, path, headers, body) or requests, not both", s.Name)
	}
	return &s, nil
}

// Override replaces variable name by a single value (used for --tenant and --set).
func (s *Scenario) Override(name, value string) {
	if s.Vars == nil {
		s.Vars = map[string]Var{}
	}
	s.Vars[name] = Var{List: []string{value}}
}

// ScaleRanges multiplies the upper bound of every range (uniform or Zipf) marked scale by f
// (≥ its lower bound).
func (s *Scenario) ScaleRanges(f float64) {
	scale := func(r []int64) []int64 {
		if len(r) != 2 {
			return r
		}
		return []int64{r[0], max(r[0], int64(math.Round(float64(r[1])*f)))}
	}
	for k, v := range s.Vars {
		if v.Scale && f != 1 {
			v.Range, v.Zipf = scale(v.Range), scale(v.Zipf)
			s.Vars[k] = v
		}
	}
}

// segment is a literal run of bytes or (lit == nil) a variable reference.
type segment struct {
	lit []byte
	v   int
}

type template []segment

func (t template) append(dst []byte, vals [][]byte) []byte {
	for _, s := range t {
		if s.lit != nil {
			dst = append(dst, s.lit...)
		} else {
			dst = append(dst, vals[s.v]...)
		}
	}
	return dst
}

type compiledVar struct {
	name   string
	lo, hi int64
	zipfS  float64 // > 1: Zipf over [lo, hi]
	format string
	list   [][]byte
}

// pick draws a value; z is the variable's Zipf source in this worker (nil unless zipfS is set).
func (v *compiledVar) pick(r *rand.Rand, z *rand.Zipf, dst []byte) []byte {
	if v.list != nil {
		return v.list[r.IntN(len(v.list))]
	}
	var n int64
	if z != nil {
		n = v.lo + int64(z.Uint64())
	} else {
		n = v.lo + r.Int64N(v.hi-v.lo+1)
	}
	if v.format != "" {
		return fmt.Appendf(dst[:0], v.format, n)
	}
	return strconv.AppendInt(dst[:0], n, 10)
}

type compiledHeader struct {
	name  string
	value template
}

type compiledRequest struct {
	name    string
	method  string
	path    template
	headers []compiledHeader
	body    template
	graphql bool
	weight  int // cumulative
}

// compiled is a scenario ready for workers: templates split once, variables indexed.
type compiled struct {
	name  string
	vars  []compiledVar
	reqs  []compiledRequest
	total int
}

func compileScenario(s *Scenario) (*compiled, error) {
	c := &compiled{name: s.Name}
	if s.Warmup != "" {
		if d, err := time.ParseDuration(s.Warmup); err != nil || d < 0 {
			return nil, fmt.Errorf("scenario %s: warmup %q is not a duration like 3s", s.Name, s.Warmup)
		}
	}
	names := make([]string, 0, len(s.Vars))
	for k := range s.Vars {
		names = append(names, k)
	}
	slices.Sort(names)
	index := map[string]int{}
	for _, k := range names {
		v := s.Vars[k]
		cv := compiledVar{name: k, format: v.Format}
		switch {
		case len(v.List) > 0 && len(v.Range) == 0 && len(v.Zipf) == 0:
			for _, x := range v.List {
				cv.list = append(cv.list, []byte(x))
			}
		case len(v.Range) == 2 && len(v.List) == 0 && len(v.Zipf) == 0:
			cv.lo, cv.hi = v.Range[0], v.Range[1]
			if cv.hi < cv.lo {
				return nil, fmt.Errorf("scenario %q: variable %s: range [%d, %d] is empty", s.Name, k, cv.lo, cv.hi)
			}
		case len(v.Zipf) == 2 && len(v.List) == 0 && len(v.Range) == 0:
			cv.lo, cv.hi, cv.zipfS = v.Zipf[0], v.Zipf[1], v.S
			if cv.hi < cv.lo {
				return nil, fmt.Errorf("scenario %q: variable %s: zipf [%d, %d] is empty", s.Name, k, cv.lo, cv.hi)
			}
			if !(v.S > 1) {
				return nil, fmt.Errorf("scenario %q: variable %s: zipf needs an exponent s > 1 (s: 1.1, say)", s.Name, k)
			}
		default:
			return nil, fmt.Errorf("scenario %q: variable %s needs either range: [a, b], zipf: [a, b] with s, or a non-empty list", s.Name, k)
		}
		if v.S != 0 && len(v.Zipf) == 0 {
			return nil, fmt.Errorf("scenario %q: variable %s: s is the exponent of a zipf range, and it has none", s.Name, k)
		}
		index[k] = len(c.vars)
		c.vars = append(c.vars, cv)
	}
	parse := func(where, text string) (template, error) {
		var t template
		for text != "" {
			i := strings.Index(text, "{{")
			if i < 0 {
				t = append(t, segment{lit: []byte(text)})
				break
			}
			if i > 0 {
				t = append(t, segment{lit: []byte(text[:i])})
			}
			j := strings.Index(text[i:], "}}")
			if j < 0 {
				return nil, fmt.Errorf("scenario %q: %s: unclosed {{", s.Name, where)
			}
			name := strings.TrimSpace(text[i+2 : i+j])
			v, ok := index[name]
			if !ok {
				return nil, fmt.Errorf("scenario %q: %s uses {{%s}}, which is not among its vars", s.Name, where, name)
			}
			t = append(t, segment{v: v})
			text = text[i+j+2:]
		}
		return t, nil
	}
	for i, r := range s.Requests {
		where := fmt.Sprintf("request %d", i+1)
		cr := compiledRequest{name: r.Name, method: strings.ToUpper(r.Method), graphql: (r.Kind == "" && s.Kind == "graphql") || r.Kind == "graphql"}
		if cr.method == "" {
			cr.method = "GET"
			if r.Body != "" {
				cr.method = "POST"
			}
		}
		if cr.name == "" {
			cr.name = cr.method + " " + r.Path
		}
		var err error
		if !strings.HasPrefix(r.Path, "/") {
			return nil, fmt.Errorf("scenario %q: %s: path %q must start with /", s.Name, where, r.Path)
		}
		if cr.path, err = parse(where+" path", r.Path); err != nil {
			return nil, err
		}
		if cr.body, err = parse(where+" body", r.Body); err != nil {
			return nil, err
		}
		hn := make([]string, 0, len(r.Headers))
		for k := range r.Headers {
			hn = append(hn, k)
		}
		slices.Sort(hn)
		for _, k := range hn {
			t, err := parse(where+" header "+k, r.Headers[k])
			if err != nil {
				return nil, err
			}
			cr.headers = append(cr.headers, compiledHeader{name: k, value: t})
		}
		w := r.Weight
		if w <= 0 {
			w = 1
		}
		c.total += w
		cr.weight = c.total
		c.reqs = append(c.reqs, cr)
	}
	return c, nil
}

// requestGen renders requests of a compiled scenario; one per worker, so its buffers are reused.
type requestGen struct {
	c       *compiled
	r       *rand.Rand
	zipf    []*rand.Zipf // by variable; nil but for Zipf ranges
	vals    [][]byte
	scratch [][]byte
	path    []byte
	body    []byte
	hdr     []byte
	uri     []byte
}

func newRequestGen(c *compiled, seed uint64) *requestGen {
	g := &requestGen{c: c, r: rand.New(rand.NewPCG(seed, 0x6b61706f6b)), vals: make([][]byte, len(c.vars)), scratch: make([][]byte, len(c.vars)),
		zipf: make([]*rand.Zipf, len(c.vars))}
	for i, v := range c.vars {
		g.scratch[i] = make([]byte, 0, 32)
		if v.zipfS > 1 {
			g.zipf[i] = rand.NewZipf(g.r, v.zipfS, 1, uint64(v.hi-v.lo))
		}
	}
	return g
}

// next draws variable values and picks the request shape; path/body are then rendered
// into g.path and g.body.
func (g *requestGen) next() *compiledRequest {
	g.draw()
	shape := 0
	if len(g.c.reqs) > 1 {
		w := g.r.IntN(g.c.total)
		for i := range g.c.reqs {
			if w < g.c.reqs[i].weight {
				shape = i
				break
			}
		}
	}
	return g.render(shape)
}

// draw gives every variable its next value (in g.vals).
func (g *requestGen) draw() {
	for i := range g.c.vars {
		g.vals[i] = g.c.vars[i].pick(g.r, g.zipf[i], g.scratch[i])
		if g.c.vars[i].list == nil {
			g.scratch[i] = g.vals[i]
		}
	}
}

// render renders request shape i with the values in g.vals into g.path and g.body.
func (g *requestGen) render(i int) *compiledRequest {
	req := &g.c.reqs[i]
	g.path = req.path.append(g.path[:0], g.vals)
	g.body = req.body.append(g.body[:0], g.vals)
	return req
}

// fill writes r, as last rendered, into req for host; prefix is the target URL's path.
func (g *requestGen) fill(req *fasthttp.Request, r *compiledRequest, prefix []byte, host string) {
	req.Reset()
	req.Header.SetMethod(r.method)
	g.uri = append(append(g.uri[:0], prefix...), g.path...)
	req.SetRequestURIBytes(g.uri)
	req.Header.SetHost(host)
	for _, h := range r.headers {
		g.hdr = h.value.append(g.hdr[:0], g.vals)
		req.Header.SetBytesV(h.name, g.hdr)
	}
	if len(g.body) > 0 {
		req.SetBody(g.body)
	}
}

// varIndex is the index of variable name among c's variables, and in a requestGen's vals
// (-1: none).
func (c *compiled) varIndex(name string) int {
	return slices.IndexFunc(c.vars, func(v compiledVar) bool { return v.name == name })
}

package planner

import "github.com/kapok-dev/kapok/internal/statement"

// Executable is a compiled request of any front end (GraphQL operations, REST reads,
// writes and calls, API documents), immutable and shared by every request with the same
// cache key. Whoever runs plans runs every one the same way, never knowing its dialect:
//
//	key → AppendKey (once, when it refines the key) → Bind → Begin → run Batch → Respond
//
// and Fail for an error of the request's own making (a value that does not bind, a
// statement the database refused).
type Executable interface {
	// AppendKey appends to key what of in's values shapes this plan's SQL, and reports
	// whether anything does; the plan is then valid only for requests whose key, so
	// extended, is the same. false: the key the plan was found under is complete.
	AppendKey(key []byte, in *Input) ([]byte, bool)
	// Bind appends the request's statements, with their arguments, to b. An error is the
	// request's (see Fail). Arguments may alias in's bytes.
	Bind(in *Input, b *Batch) error
	// Begin appends to buf what of the response precedes the statements' values, which
	// the executor then appends after it.
	Begin(in *Input, buf []byte) []byte
	// Respond completes w from buf: Begin's output, then each statement's value, statement
	// i's ending at ends[i]. w.Body may alias buf.
	Respond(in *Input, buf []byte, ends []int, w *Response) error
	// Fail writes w for err when err is the request's own: an error Bind or Respond
	// returned, or a StatementError. false: err is not the plan's to answer (the database
	// out of reach, a timeout, a refusal): the caller answers.
	Fail(in *Input, err error, w *Response) bool
	// Size is the plan's weight in a cache, about its bytes.
	Size() int64
}

// Input is one request's values, as a plan reads them.
type Input struct {
	// Variables is a GraphQL request's variables object (raw JSON), nil when absent.
	Variables []byte
	// Values are a REST request's values, in the order its shape key lists them.
	Values [][]byte
	// Body is a REST request's body.
	Body []byte
	// Head asks for the response's status and headers only.
	Head bool
	// Anonymous says the request runs as the tenant's anonymous role: a permission error
	// then asks for credentials (REST's 401) rather than refusing them.
	Anonymous bool
}

// Batch is the statements of one request, run in order in one transaction.
type Batch struct {
	Statements []statement.Statement
	// Args backs the statements' arguments, one flat slice reused across requests.
	Args [][]byte
	// Shareable says the statements only read, with no option of the request's own: the
	// executor may run them with other requests' reads of the same statement and session
	// (poolmgr.Request.Shareable). Writes, function calls and transaction options never
	// set it.
	Shareable bool
	// RoleOnly says the statements see nothing of the request's session but its role (see
	// ir.RoleOnly): the executor may set the role alone, not the request's settings.
	RoleOnly bool
}

// Reset empties b, keeping its storage.
func (b *Batch) Reset() {
	clear(b.Args)
	b.Statements, b.Args, b.Shareable, b.RoleOnly = b.Statements[:0], b.Args[:0], false, false
}

// Add appends a statement whose arguments are b.Args[from:].
func (b *Batch) Add(sql string, r statement.Result, from int) {
	n := len(b.Args)
	b.Statements = append(b.Statements, statement.Statement{SQL: sql, Args: b.Args[from:n:n], Result: r})
}

// Response is what a plan answers: the HTTP status, content type, headers and body.
type Response struct {
	Status      int // 0: 200
	ContentType string
	Headers     []Header
	Body        []byte
	// Scratch backs bodies and header values: writers append to it and never truncate
	// it, so what a Response already holds stays intact. Reset empties it, keeping its
	// storage across requests.
	Scratch []byte
}

// Header is one response header.
type Header struct {
	Name  string
	Value []byte
}

// Reset empties w, keeping its storage.
func (w *Response) Reset() {
	w.Status, w.ContentType, w.Body = 0, "", nil
	w.Headers, w.Scratch = w.Headers[:0], w.Scratch[:0]
}

// SetHeader adds a header whose value is copied into w.Scratch.
func (w *Response) SetHeader(name string, value []byte) {
	start := len(w.Scratch)
	w.Scratch = append(w.Scratch, value...)
	w.Headers = append(w.Headers, Header{Name: name, Value: w.Scratch[start:len(w.Scratch):len(w.Scratch)]})
}

// StatementError is a database error raised by one statement of a batch.
type StatementError interface {
	error
	StatementIndex() int
	SQLState() string
	Message() string
	Detail() string
	Hint() string
}

// Document is an Executable without statements: a document built when compiled (an
// OpenAPI description, ai-spec.md), answered as it is.
type Document struct {
	Body        []byte
	ContentType string
}

// AppendKey implements Executable.
func (d *Document) AppendKey(key []byte, _ *Input) ([]byte, bool) { return key, false }

// Bind implements Executable: a document runs nothing.
func (d *Document) Bind(*Input, *Batch) error { return nil }

// Begin implements Executable.
func (d *Document) Begin(_ *Input, buf []byte) []byte { return buf }

// Respond implements Executable.
func (d *Document) Respond(in *Input, _ []byte, _ []int, w *Response) error {
	w.ContentType = d.ContentType
	if !in.Head {
		w.Body = d.Body
	}
	return nil
}

// Fail implements Executable: a document cannot fail.
func (d *Document) Fail(*Input, error, *Response) bool { return false }

// Size implements Executable.
func (d *Document) Size() int64 { return int64(64 + len(d.Body)) }

package gqlschema

import (
	"crypto/sha256"
	"runtime"
	"sync"
	"weak"

	graphql "github.com/graph-gophers/graphql-go"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// loadedSDL is one generated schema document as both libraries loaded it: most of a
// Schema's memory. Tenants created from one template expose the same tables under the same
// names, so their documents are identical: they share one loadedSDL while any of them
// holds it, and a thousand such tenants hold one copy, not a thousand.
type loadedSDL struct {
	sdl    string
	record *graphql.Schema
	ast    *ast.Schema
}

// sdlCache finds the loadedSDL of a document some Schema still holds. It holds them weakly:
// once no Schema does, the collector frees it and its entry goes.
var sdlCache = struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]weak.Pointer[loadedSDL]
}{m: map[[sha256.Size]byte]weak.Pointer[loadedSDL]{}}

// loadSDL loads sdl into both libraries, or returns the load another Schema made of the
// same document. Options with RecordOptions of their own are loaded apart: they change
// what the graphql-go schema enforces, and functions cannot be compared.
func loadSDL(sdl string, opts Options) (*loadedSDL, error) {
	shared := len(opts.RecordOptions) == 0
	key := sha256.Sum256([]byte(sdl))
	if shared {
		sdlCache.mu.Lock()
		p := sdlCache.m[key].Value()
		sdlCache.mu.Unlock()
		if p != nil && p.sdl == sdl {
			return p, nil
		}
	}
	// Descriptions are string literals; without this option graphql-go reads "#" comments.
	recOpts := append([]graphql.SchemaOpt{graphql.UseStringDescriptions()}, opts.RecordOptions...)
	rec, err := graphql.ParseSchema(sdl, nil, recOpts...)
	if err != nil {
		return nil, &BuildError{Library: "graphql-go", Err: err}
	}
	gs, gerr := gqlparser.LoadSchema(&ast.Source{Name: "kapok.graphql", Input: sdl, BuiltIn: false})
	if gerr != nil {
		return nil, &BuildError{Library: "gqlparser", Err: gerr}
	}
	p := &loadedSDL{sdl: sdl, record: rec, ast: gs}
	if !shared {
		return p, nil
	}
	sdlCache.mu.Lock()
	defer sdlCache.mu.Unlock()
	// Two tenants of one structure loading at once: the first to get here is kept.
	if q := sdlCache.m[key].Value(); q != nil && q.sdl == sdl {
		return q, nil
	}
	sdlCache.m[key] = weak.Make(p)
	runtime.AddCleanup(p, forgetSDL, key)
	return p, nil
}

func forgetSDL(key [sha256.Size]byte) {
	sdlCache.mu.Lock()
	defer sdlCache.mu.Unlock()
	if sdlCache.m[key].Value() == nil {
		delete(sdlCache.m, key)
	}
}

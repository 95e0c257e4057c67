package gqlschema

import (
	"runtime"
	"testing"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
)

func TestTenantsOfOneStructureShareTheLoadedDocument(t *testing.T) {
	// Two tenants' catalogs, the same tables in schemas of their own (schema tenants of one
	// template): one document, loaded once.
	a := wideCatalog(3)
	b := wideCatalog(3)
	a1, err := Build(a, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b1, err := Build(b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a1.loaded != b1.loaded || a1.AST != b1.AST || a1.Record != b1.Record {
		t.Fatal("identical documents were loaded twice")
	}
	// Each keeps its own catalog: requests compile against their tenant's tables.
	if a1.Catalog == b1.Catalog || a1.Tables[0].Catalog == b1.Tables[0].Catalog {
		t.Fatal("the tenants share their catalogs")
	}
	other, err := Build(wideCatalog(4), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if other.loaded == a1.loaded {
		t.Fatal("a different structure got the same document")
	}
	own, err := Build(wideCatalog(3), Options{RecordOptions: []graphql.SchemaOpt{graphql.MaxDepth(3)}})
	if err != nil {
		t.Fatal(err)
	}
	if own.loaded == a1.loaded {
		t.Fatal("a schema with options of its own shares a load made without them")
	}
}

func TestALoadedDocumentNoSchemaHoldsIsFreed(t *testing.T) {
	s, err := Build(wideCatalog(5), Options{})
	if err != nil {
		t.Fatal(err)
	}
	key := s.loaded
	_ = key
	count := func() int {
		sdlCache.mu.Lock()
		defer sdlCache.mu.Unlock()
		return len(sdlCache.m)
	}
	before := count()
	s, key = nil, nil
	_ = s
	deadline := time.Now().Add(5 * time.Second)
	for count() >= before && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if count() >= before {
		t.Fatalf("the cache still holds %d documents after the only schema using one was dropped", count())
	}
}

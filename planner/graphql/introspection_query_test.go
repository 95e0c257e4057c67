package graphql_test

import (
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/planner/graphql"
)

// The IntrospectionQuery that current GraphiQL and Apollo send asks for
// __Schema.description and __Directive.isRepeatable. graphql-go's meta-schema lacks them, so
// such documents must be validated by gqlparser only, and answered.
func TestModernIntrospectionQueryCompiles(t *testing.T) {
	s := fixtureGraphQL(t)
	q := `query IntrospectionQuery {
  __schema {
    description
    queryType { name }
    mutationType { name }
    directives { name description isRepeatable locations args(includeDeprecated: true) { name } }
    types { kind name specifiedByURL fields(includeDeprecated: true) { name } }
  }
}`
	p, err := graphql.Compile(s, q, "", nil, graphql.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Statements) != 0 || !strings.Contains(string(p.Data), `"isRepeatable"`) {
		t.Fatalf("introspection not answered from the schema: %.200s", p.Data)
	}
	// Ordinary documents still go through graphql-go, the validator of record.
	if _, err := graphql.Compile(s, `{ authors { id } }`, "", nil, graphql.Limits{}); err != nil {
		t.Fatal(err)
	}
}

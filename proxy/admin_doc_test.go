package proxy

import (
	"encoding/json"
	"testing"

	"github.com/kapok-dev/kapok/control"
)

func TestTheAdminAPIIsDescribedByItsOpenAPIDocument(t *testing.T) {
	ts := twoTenants(t, func(c *control.Config) { c.AdminKey = "k" })
	r := ts.do("GET", "/admin/v1/openapi.json", "")
	if r.status != 200 {
		t.Fatalf("status %d: %.200s", r.status, r.body)
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil {
		t.Fatal(err)
	}
	for path, method := range map[string]string{
		"/tenants": "post", "/tenants/{tenant}/migrations": "post", "/tenants/{tenant}": "delete",
		"/tenants/{tenant}/migrations/rollback": "post", "/tenants/{tenant}/sql": "post",
	} {
		if doc.Paths[path][method] == nil {
			t.Errorf("the document lacks %s %s", method, path)
		}
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
}

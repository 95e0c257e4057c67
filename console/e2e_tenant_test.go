package console_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kapok-dev/kapok/console"
	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testserver"
)

// TestConsoleTenantSession signs in with one tenant's service_role key: the console shows
// that tenant alone, without the admin key's controls, and the admin API refuses the key
// anything beyond its tenant.
func TestConsoleTenantSession(t *testing.T) {
	if !console.Built() {
		t.Fatal("this test binary embeds no console: build it first with `make build` (console/build)")
	}
	tenant := fmt.Sprintf("console-e2e-ts-%d", os.Getpid())
	other := fmt.Sprintf("console-e2e-to-%d", os.Getpid())
	for _, n := range []string{tenant, other} {
		dropTenant(n)
		t.Cleanup(func() { dropTenant(n) })
	}
	base := testserver.ServeManaged(t, &control.Config{AdminKey: adminKey})
	for _, n := range []string{tenant, other} {
		body, _ := json.Marshal(map[string]any{"name": n, "keys": true})
		req, _ := http.NewRequest("POST", base+"/admin/v1/tenants", bytes.NewReader(body))
		req.Header.Set("X-Kapok-Admin-Key", adminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("create %s: %v %v", n, err, resp)
		}
		resp.Body.Close()
	}
	_, body := httpGet(t, base+"/admin/v1/tenants/"+tenant+"/keys", "X-Kapok-Admin-Key: "+adminKey)
	var keys control.TenantKeys
	if err := json.Unmarshal([]byte(body), &keys); err != nil || keys.ServiceRole == "" {
		t.Fatalf("keys: %s", body)
	}

	b := newBrowser(t, base, "tenant-session")
	b.run("open the console", chromedp.Navigate(base+"/console/"), waitPath("/console/signin"))
	b.run("choose the tenant key", chromedp.Click(`//button[@role="radio" and normalize-space(.)="Tenant key"]`), chromedp.WaitVisible(labelled("Tenant")))
	b.run("sign in", setValue(labelled("Tenant"), tenant), setValue(labelled("service_role key"), keys.ServiceRole),
		chromedp.Click(button("Sign in")), waitPathUnder("/console/t/"+tenant+"/tables"))
	b.run("see the tenant's tables", waitText(`//main`, "todos"))
	b.screenshot("tables")
	b.accessible("tables")
	nav, err := chromedp.Run(b.ctx, chromedp.Text(`//nav[@aria-label="Main"]`))
	if err != nil || strings.Contains(nav, "Tenants") {
		t.Errorf("a tenant session's navigation offers the tenant list: %q %v", nav, err)
	}
	b.run("run SQL", chromedp.Navigate(base+"/console/t/"+tenant+"/sql"), setValue(`//textarea[@aria-label="SQL"]`, "SELECT count(*) AS n FROM todos"),
		chromedp.Click(button("Run")), waitText(`//table[@aria-label="Results"]`, "n"))
	b.run("open settings", chromedp.Navigate(base+"/console/t/"+tenant+"/settings"), waitText(`//main`, "service_role"))
	b.screenshot("settings")
	b.accessible("settings")
	main, _ := chromedp.Run(b.ctx, chromedp.Text(`//main`))
	for _, admin := range []string{"Rotate keys", "Delete tenant", "Save limits"} {
		if strings.Contains(main, admin) {
			t.Errorf("a tenant session's settings offer %q", admin)
		}
	}
	b.run("open another tenant", chromedp.Navigate(base+"/console/t/"+other+"/tables"), waitText(`//main`, "another tenant's key"))
	b.screenshot("another-tenant")
	b.accessible("another-tenant")
}

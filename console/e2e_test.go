package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kapok-dev/kapok/console"
	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/internal/testserver"
)

const adminKey = "console-e2e-admin-key"

// artifactsDir is where a test's screenshots go: console/<name> under $KAPOK_TEST_ARTIFACTS,
// else under artifacts at the repository's root.
func artifactsDir(t *testing.T, name string) string {
	dir := os.Getenv("KAPOK_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "artifacts")
	}
	dir, err := filepath.Abs(filepath.Join(dir, "console", name))
	if err != nil {
		t.Fatal(err)
	}
	// The screenshots of an earlier run would pass for this one's.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser drives one headless Chromium tab against the console at base.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
	shot int
}

func newBrowser(t *testing.T, base, artifacts string) *browser {
	chromium := testenv.AptTool(t, "chromium", "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1440, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx, base: base, dir: artifactsDir(t, artifacts)}
}

// run runs actions with a deadline, failing the test with what the page shows.
func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tctx, tcancel := context.WithTimeout(b.ctx, 5*time.Second)
		text, _ := chromedp.Run(tctx, chromedp.Text(chromedp.CSS("body")))
		tcancel()
		b.screenshot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v\nthe page says:\n%.2000s", what, err, text)
	}
}

// screenshot saves the page as NN-name.png in the artifacts directory.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	b.shot++
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	// Let transitions and charts settle.
	_ = chromedp.Do(ctx, chromedp.Sleep(400*time.Millisecond))
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	path := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.shot, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Error(err)
	}
	return path
}

// button is the XPath of a button by its visible text.
func button(text string) string {
	return fmt.Sprintf(`//button[normalize-space(.)=%q and not(@disabled)]`, text)
}

// labelled is the XPath of the form control whose <label> reads text.
func labelled(text string) string {
	return fmt.Sprintf(`//*[@id=//label[normalize-space(.)=%q]/@for]`, text)
}

// setValue types into a text field as a user would: Ctrl+A and Backspace clear it, then the
// text is sent as key presses.
func setValue(sel, text string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.WaitVisible(sel),
		chromedp.Focus(sel),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.KeyEvent("\b"),
		chromedp.SendKeys(sel, text),
	)
}

// waitText waits until the element at sel contains want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for {
			got, err := chromedp.Text(sel)(ctx, tg)
			if err == nil && strings.Contains(got, want) {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s never showed %q (last: %.300q, %v)", sel, want, got, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

// waitGone waits until the element at sel no longer contains text.
func waitGone(sel, text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for {
			got, err := chromedp.Text(sel)(ctx, tg)
			if err == nil && !strings.Contains(got, text) {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s still shows %q (%v)", sel, text, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

// waitPath waits until the page's path is path.
func waitPath(path string) chromedp.Action[chromedp.Void] { return waitPathOf(path, false) }

// waitPathUnder waits until the page's path is path or below it: the table editor of a
// tenant with tables goes on to its first table by itself, maybe before a poll sees
// /tables.
func waitPathUnder(path string) chromedp.Action[chromedp.Void] { return waitPathOf(path, true) }

func waitPathOf(path string, under bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for {
			got, err := chromedp.Evaluate[string](`location.pathname`)(ctx, tg)
			if err == nil && (got == path || under && strings.HasPrefix(got, path+"/")) {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("the page never reached %s (at %s)", path, got)
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

func dropTenant(name string) { testenv.DropTenant(name, control.TenantRole(name)) }

// httpGet calls base+path with headers and returns the status and body.
func httpGet(t *testing.T, url string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestConsoleEndToEnd drives the console in headless Chromium as a person would: sign in
// with the admin key, create a tenant, create a table by a migration, insert a row in the
// table editor, see it through the REST API, query it in the GraphQL explorer, and roll
// the migration back; each page is saved as a screenshot.
func TestConsoleEndToEnd(t *testing.T) {
	if !console.Built() {
		t.Fatal("this test binary embeds no console: build it first with `make build` (console/build)")
	}
	tenant := fmt.Sprintf("console-e2e-%d", os.Getpid())
	dropTenant(tenant)
	t.Cleanup(func() { dropTenant(tenant) })
	base := testserver.ServeManaged(t, &control.Config{AdminKey: adminKey})
	b := newBrowser(t, base, "admin-session")

	// Sign in.
	b.run("open the console", chromedp.Navigate(base+"/"), waitPath("/console/signin"), chromedp.WaitVisible(labelled("Admin key")))
	b.screenshot("sign-in")
	b.accessible("sign-in")
	// The first load, as Navigation Timing measured it (reported, not asserted: timings
	// belong in benchmarks).
	if ms, err := chromedp.Run(b.ctx, chromedp.Evaluate[float64](`(() => { const n = performance.getEntriesByType("navigation")[0]; return n.loadEventEnd - n.startTime })()`)); err == nil {
		t.Logf("first load of the console: %.0f ms", ms)
	}
	b.run("sign in", setValue(labelled("Admin key"), adminKey), chromedp.Click(button("Sign in")), waitPath("/console/tenants"))

	// Create a tenant.
	b.run("open the new tenant dialog", chromedp.Click(button("New tenant")), chromedp.WaitVisible(`//*[@role="dialog"]`))
	b.run("create the tenant", setValue(`//*[@role="dialog"]`+labelled("Name"), tenant),
		chromedp.Click(`//*[@role="dialog"]`+button("Create tenant")), waitPathUnder("/console/t/"+tenant+"/tables"))
	b.run("see the tenant listed", chromedp.Navigate(base+"/console/tenants"), waitText(`//main`, tenant))
	b.screenshot("tenants")
	b.accessible("tenants")

	// Create a table by a migration: preview (dry run) first, then apply.
	history := `//*[@aria-label="Migration history"]`
	b.run("open migrations", chromedp.Navigate(base+"/console/t/"+tenant+"/migrations"), chromedp.WaitVisible(labelled("Up SQL")))
	b.run("write the migration", setValue(labelled("Name"), "create_console_items"),
		setValue(labelled("Up SQL"), "CREATE TYPE console_mood AS ENUM ('calm', 'busy'); "+
			"CREATE TABLE console_items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, title text NOT NULL, done boolean NOT NULL DEFAULT false, mood console_mood NOT NULL DEFAULT 'calm');"),
		setValue(labelled("Down SQL"), "DROP TABLE console_items; DROP TYPE console_mood;"))
	b.run("preview the migration", chromedp.Click(button("Preview")), waitText(`//main`, "console_items"),
		chromedp.WaitVisible(button("Apply")))
	b.screenshot("migration-preview")
	b.run("apply the migration", chromedp.Click(button("Apply")), waitText(history, "create_console_items"))
	b.screenshot("migrations")
	b.accessible("migrations")

	// Insert a row in the table editor.
	rows := `//table[@aria-label="Rows of console_items"]`
	b.run("open the table", chromedp.Navigate(base+"/console/t/"+tenant+"/tables/console_items"), chromedp.WaitVisible(rows))
	b.run("open the insert dialog", chromedp.Click(button("Insert row")), chromedp.WaitVisible(`//*[@role="dialog"]`))
	// The enum column is a choice of its labels.
	b.run("insert a row", setValue(`//*[@role="dialog"]`+labelled("title"), "planted from the console"),
		chromedp.SetValue(`//*[@role="dialog"]//select[@id=//label[normalize-space(.)="mood"]/@for]`, "busy"),
		chromedp.Click(`//*[@role="dialog"]`+button("Save")), waitText(rows, "planted from the console"))
	b.screenshot("table-editor")
	b.accessible("table-editor")

	// The row is there for the REST API, with the tenant's service_role key.
	_, body := httpGet(t, base+"/admin/v1/tenants/"+tenant+"/keys", "X-Kapok-Admin-Key: "+adminKey)
	var keys control.TenantKeys
	if err := json.Unmarshal([]byte(body), &keys); err != nil || keys.ServiceRole == "" {
		t.Fatalf("keys: %s", body)
	}
	auth := []string{"apikey: " + keys.ServiceRole, "Authorization: Bearer " + keys.ServiceRole}
	status, body := httpGet(t, base+"/t/"+tenant+"/rest/v1/console_items?select=title,done,mood", auth...)
	if status != 200 || body != `[{"title":"planted from the console","done":false,"mood":"busy"}]` {
		t.Fatalf("the REST API after the insert: %d %s", status, body)
	}

	// The GraphQL explorer queries it.
	result := `//*[@aria-label="Result"]`
	b.run("open the GraphQL explorer", chromedp.Navigate(base+"/console/t/"+tenant+"/graphql"), chromedp.WaitVisible(`//textarea[@aria-label="GraphQL query"]`))
	b.run("run a query", setValue(`//textarea[@aria-label="GraphQL query"]`, "query Items { console_items { id title done } }"),
		chromedp.Click(button("Run")), waitText(result, "planted from the console"))
	b.screenshot("graphql")
	b.accessible("graphql")

	// The SQL editor, the REST explorer, monitoring and settings show their pages.
	b.run("open the SQL editor", chromedp.Navigate(base+"/console/t/"+tenant+"/sql"), chromedp.WaitVisible(`//textarea[@aria-label="SQL"]`))
	b.run("run SQL", setValue(`//textarea[@aria-label="SQL"]`, "SELECT title, done FROM console_items"),
		chromedp.Click(button("Run")), waitText(`//table[@aria-label="Results"]`, "planted from the console"))
	b.screenshot("sql")
	b.accessible("sql")
	b.run("open the REST explorer", chromedp.Navigate(base+"/console/t/"+tenant+"/rest"), waitText(`//main`, "console_items"))
	b.screenshot("rest")
	b.accessible("rest")
	// Monitoring, with traffic to show: requests over a few of its 2 s samples.
	b.run("open monitoring", chromedp.Navigate(base+"/console/t/"+tenant+"/monitor"), waitText(`//main`, "console_items"))
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		httpGet(t, base+"/t/"+tenant+"/rest/v1/console_items?select=title", auth...)
	}
	b.run("see the traffic", waitGone(`//main`, "Collecting data"))
	b.screenshot("monitor")
	b.accessible("monitor")
	b.run("open settings", chromedp.Navigate(base+"/console/t/"+tenant+"/settings"), waitText(`//main`, "service_role"))
	b.screenshot("settings")
	b.accessible("settings")

	// Narrow window: the table editor still works.
	b.run("narrow window", chromedp.EmulateViewport(420, 860, chromedp.EmulateScale(2)),
		chromedp.Navigate(base+"/console/t/"+tenant+"/tables/console_items"), waitText(rows, "planted from the console"))
	b.screenshot("table-editor-narrow")
	b.accessible("table-editor-narrow")
	b.run("wide window", chromedp.EmulateReset())

	// Roll the migration back: the table is gone for the REST API.
	b.run("open migrations again", chromedp.Navigate(base+"/console/t/"+tenant+"/migrations"), waitText(history, "create_console_items"))
	b.run("roll back", chromedp.Click(button("Roll back latest")), chromedp.WaitVisible(`//*[@role="dialog"]`),
		chromedp.Click(`//*[@role="dialog"]`+button("Roll back")), waitText(history, "rolled back"))
	b.screenshot("rolled-back")
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body = httpGet(t, base+"/t/"+tenant+"/rest/v1/console_items", auth...)
		if status == 404 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status != 404 {
		t.Fatalf("the REST API after the rollback: %d %s", status, body)
	}
	t.Logf("screenshots in %s", b.dir)
}

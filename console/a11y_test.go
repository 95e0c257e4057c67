package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/chromedp"
)

// axeSource is axe-core (a devDependency of the console, installed by console/build).
var axeSource = sync.OnceValues(func() (string, error) {
	b, err := os.ReadFile("node_modules/axe-core/axe.min.js")
	return string(b), err
})

// axeRules are the tags of the axe rules that every page must pass: WCAG 2.0 and 2.1, levels A
// and AA, and axe's best practices.
var axeRules = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"}

// axeViolation is a rule that some elements of the page break, as axe.run reports it.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target         []any  `json:"target"` // selectors, or arrays of them across shadow roots
		FailureSummary string `json:"failureSummary"`
	} `json:"nodes"`
}

func (v axeViolation) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "%s (%s, %d element(s)): %s", v.ID, v.Impact, len(v.Nodes), v.Help)
	for i, n := range v.Nodes {
		if i == 3 {
			fmt.Fprintf(&s, "\n      … and %d more", len(v.Nodes)-i)
			break
		}
		target, _ := json.Marshal(n.Target)
		fmt.Fprintf(&s, "\n      %s", target)
		if i == 0 && n.FailureSummary != "" {
			fmt.Fprintf(&s, "\n        %s", strings.ReplaceAll(strings.TrimSpace(n.FailureSummary), "\n", "\n        "))
		}
	}
	return s.String()
}

// accessible checks the page as it is now with axe-core, which it injects into the page
// when it is not there yet: the test fails with each violation of impact serious or
// critical; the lesser ones are logged.
func (b *browser) accessible(page string) {
	b.t.Helper()
	src, err := axeSource()
	if err != nil {
		b.t.Fatalf("axe-core (console/build installs it): %v", err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === "object"`))
	if err == nil && !loaded {
		_, err = chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](src))
	}
	if err != nil {
		b.t.Fatalf("%s: inject axe-core: %v", page, err)
	}
	rules, _ := json.Marshal(axeRules)
	violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](
		`axe.run(document, {runOnly: {type: "tag", values: `+string(rules)+`}, resultTypes: ["violations"]})`+
			`.then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,`+
			` nodes: v.nodes.map(n => ({target: n.target, failureSummary: n.failureSummary}))})))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: axe.run: %v", page, err)
	}
	var serious, lesser []string
	for _, v := range violations {
		if v.Impact == "serious" || v.Impact == "critical" {
			serious = append(serious, v.String())
		} else {
			lesser = append(lesser, v.String())
		}
	}
	if len(lesser) > 0 {
		b.t.Logf("%s: accessibility, minor and moderate:\n  - %s", page, strings.Join(lesser, "\n  - "))
	}
	if len(serious) > 0 {
		b.t.Errorf("%s: accessibility, serious and critical violations (axe-core):\n  - %s", page, strings.Join(serious, "\n  - "))
	}
}

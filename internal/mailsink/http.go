package mailsink

import (
	"encoding/json"
	"html"
	"html/template"
	"net/http"
	"regexp"
)

func (s *Sink) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/messages", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Messages())
	})
	mux.HandleFunc("DELETE /api/messages", func(w http.ResponseWriter, r *http.Request) {
		s.Clear()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /api/messages/{id}", func(w http.ResponseWriter, r *http.Request) {
		if m := s.Message(r.PathValue("id")); m != nil {
			writeJSON(w, http.StatusOK, m)
			return
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such message"})
	})
	mux.HandleFunc("GET /api/messages/{id}/raw", func(w http.ResponseWriter, r *http.Request) {
		m := s.Message(r.PathValue("id"))
		if m == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "message/rfc822")
		_, _ = w.Write(m.Raw)
	})
	mux.HandleFunc("GET /messages/{id}", func(w http.ResponseWriter, r *http.Request) {
		m := s.Message(r.PathValue("id"))
		if m == nil {
			http.NotFound(w, r)
			return
		}
		page(w, messagePage, struct {
			*Message
			Links []string
		}{m, links(m)})
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		page(w, indexPage, s.Messages())
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func page(w http.ResponseWriter, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// A mail's HTML is shown in a sandboxed frame; nothing of it runs with the page.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; img-src * data:")
	_ = t.Execute(w, data)
}

var hrefRE = regexp.MustCompile(`(?i)href\s*=\s*"([^"]+)"`)

// links lists a message's link targets (the HTML's, else the URLs of its text), so that a
// confirmation link can be followed from the page without running the mail's HTML.
func links(m *Message) []string {
	var out []string
	seen := map[string]bool{}
	add := func(u string) {
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	for _, sm := range hrefRE.FindAllStringSubmatch(m.HTML, -1) {
		add(html.UnescapeString(sm[1]))
	}
	if len(out) == 0 {
		for _, u := range urlRE.FindAllString(m.Text, -1) {
			add(u)
		}
	}
	return out
}

var urlRE = regexp.MustCompile(`https?://[^\s<>"]+`)

const style = `<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222 }
table { border-collapse: collapse; width: 100% }
td, th { text-align: left; padding: .4em .6em; border-bottom: 1px solid #ddd; vertical-align: top }
pre { white-space: pre-wrap; background: #f6f6f6; padding: 1em }
iframe { width: 100%; height: 28em; border: 1px solid #ddd }
.muted { color: #777 }
</style>`

var indexPage = template.Must(template.New("index").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Kapok mail sink</title>` + style + `</head><body>
<h1>Kapok mail sink</h1>
<p class="muted">Mails sent to this SMTP server are kept here (the newest 100), never delivered.
JSON: <a href="/api/messages">/api/messages</a>. Reload for new mail.</p>
{{if .}}<table><tr><th>Received</th><th>To</th><th>Subject</th><th>From</th></tr>
{{range .}}<tr><td>{{.Date.Format "2006-01-02 15:04:05"}}</td><td>{{range $i, $a := .To}}{{if $i}}, {{end}}{{$a}}{{end}}</td>
<td><a href="/messages/{{.ID}}">{{if .Subject}}{{.Subject}}{{else}}(no subject){{end}}</a></td><td>{{.From}}</td></tr>
{{end}}</table>{{else}}<p>No mail yet.</p>{{end}}
</body></html>`))

var messagePage = template.Must(template.New("message").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Subject}}</title>` + style + `</head><body>
<p><a href="/">&larr; all mail</a> · <a href="/api/messages/{{.ID}}/raw">raw</a></p>
<h1>{{.Subject}}</h1>
<table><tr><th>From</th><td>{{.From}}</td></tr><tr><th>To</th><td>{{range $i, $a := .To}}{{if $i}}, {{end}}{{$a}}{{end}}</td></tr>
<tr><th>Received</th><td>{{.Date.Format "2006-01-02 15:04:05 MST"}}</td></tr>
{{if .Links}}<tr><th>Links</th><td>{{range .Links}}<a href="{{.}}">{{.}}</a><br>{{end}}</td></tr>{{end}}</table>
{{if .HTML}}<h2>HTML</h2><iframe sandbox srcdoc="{{.HTML}}"></iframe>{{end}}
{{if .Text}}<h2>Text</h2><pre>{{.Text}}</pre>{{end}}
</body></html>`))

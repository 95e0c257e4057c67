package proxy

import (
	"errors"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/events"
)

// eventsRoute serves /admin/v1/tenants/{tenant}/events/… : rest is what follows "events".
//
//	GET    events                          the log (?state=pending|delivered|dead&kind=&trigger=&limit=)
//	GET    events/{id}                     one event with every attempt
//	POST   events/{id}/redeliver
//	GET    events/triggers                 POST events/triggers (Hasura's create_event_trigger body)
//	GET    events/triggers/{name}          DELETE events/triggers/{name}
//	POST   events/triggers/{name}/pause    …/resume, …/invoke {"pk": {"id": 1}}
//	GET    events/scheduled                POST events/scheduled (create_scheduled_event body)
//	GET    events/cron                     POST events/cron (create_cron_trigger body)
//	GET    events/cron/{name}              DELETE events/cron/{name}; POST …/pause, …/resume
func (call *adminCall) eventsRoute(t *control.Tenant, rest []string) int {
	ev := call.a.s.events
	if ev == nil {
		return call.fail(fasthttp.StatusServiceUnavailable, "events-unavailable", "event triggers are not enabled in this Kapok process")
	}
	m := string(call.ctx.Method())
	c := call.c
	want := func(allowed string) int { return call.notAllowed(allowed) }
	switch {
	case len(rest) == 0:
		if m != "GET" {
			return want("GET")
		}
		q := call.ctx.QueryArgs()
		f := events.Filter{State: string(q.Peek("state")), Kind: string(q.Peek("kind")), Trigger: string(q.Peek("trigger"))}
		if l := q.Peek("limit"); len(l) > 0 {
			n, err := strconv.Atoi(string(l))
			if err != nil || n <= 0 {
				return call.fail(fasthttp.StatusBadRequest, "invalid-request", "limit must be a positive integer")
			}
			f.Limit = n
		}
		list, err := ev.Events(c, t, f)
		if err != nil {
			return call.eventsErr(err)
		}
		return call.reply(fasthttp.StatusOK, map[string]any{"tenant": t.Name, "events": list})

	case rest[0] == "triggers" || rest[0] == "cron":
		cron := rest[0] == "cron"
		if len(rest) == 1 {
			switch m {
			case "GET":
				if cron {
					list, err := ev.CronTriggers(c, t)
					if err != nil {
						return call.eventsErr(err)
					}
					return call.reply(fasthttp.StatusOK, map[string]any{"tenant": t.Name, "cron_triggers": list})
				}
				list, err := ev.Triggers(c, t)
				if err != nil {
					return call.eventsErr(err)
				}
				return call.reply(fasthttp.StatusOK, map[string]any{"tenant": t.Name, "triggers": list})
			case "POST":
				if cron {
					var def events.CronDef
					if s := call.decode(&def); s != 0 {
						return s
					}
					ct, err := ev.CreateCronTrigger(c, t, &def)
					if err != nil {
						return call.eventsErr(err)
					}
					return call.reply(fasthttp.StatusCreated, ct)
				}
				var def events.TriggerDef
				if s := call.decode(&def); s != 0 {
					return s
				}
				tr, err := ev.CreateTrigger(c, t, &def)
				if err != nil {
					return call.eventsErr(err)
				}
				return call.reply(fasthttp.StatusCreated, tr)
			}
			return want("GET, POST")
		}
		name := rest[1]
		if len(rest) == 2 {
			switch m {
			case "GET":
				var v any
				var err error
				if cron {
					v, err = ev.CronTrigger(c, t, name)
				} else {
					v, err = ev.Trigger(c, t, name)
				}
				if err != nil {
					return call.eventsErr(err)
				}
				return call.reply(fasthttp.StatusOK, v)
			case "DELETE":
				var err error
				if cron {
					err = ev.DropCronTrigger(c, t, name)
				} else {
					err = ev.DropTrigger(c, t, name)
				}
				if err != nil {
					return call.eventsErr(err)
				}
				return call.reply(fasthttp.StatusOK, map[string]any{"deleted": name})
			}
			return want("GET, DELETE")
		}
		if len(rest) != 3 {
			break
		}
		if m != "POST" {
			return want("POST")
		}
		switch action := rest[2]; {
		case action == "pause" || action == "resume":
			var err error
			if cron {
				err = ev.SetCronPaused(c, t, name, action == "pause")
			} else {
				err = ev.SetPaused(c, t, name, action == "pause")
			}
			if err != nil {
				return call.eventsErr(err)
			}
			return call.reply(fasthttp.StatusOK, map[string]any{"name": name, "paused": action == "pause"})
		case action == "invoke" && !cron:
			var req struct {
				PK map[string]any `json:"pk"`
			}
			if s := call.decode(&req); s != 0 {
				return s
			}
			id, err := ev.Invoke(c, t, name, req.PK)
			if err != nil {
				return call.eventsErr(err)
			}
			return call.reply(fasthttp.StatusCreated, map[string]any{"event_id": id})
		}

	case rest[0] == "scheduled" && len(rest) == 1:
		switch m {
		case "GET":
			list, err := ev.Events(c, t, events.Filter{Kind: "scheduled", State: string(call.ctx.QueryArgs().Peek("state"))})
			if err != nil {
				return call.eventsErr(err)
			}
			return call.reply(fasthttp.StatusOK, map[string]any{"tenant": t.Name, "events": list})
		case "POST":
			var def events.ScheduledDef
			if s := call.decode(&def); s != 0 {
				return s
			}
			id, err := ev.CreateScheduledEvent(c, t, &def)
			if err != nil {
				return call.eventsErr(err)
			}
			return call.reply(fasthttp.StatusCreated, map[string]any{"event_id": id})
		}
		return want("GET, POST")

	case len(rest) == 1:
		if m != "GET" {
			return want("GET")
		}
		e, err := ev.Event(c, t, rest[0])
		if err != nil {
			return call.eventsErr(err)
		}
		return call.reply(fasthttp.StatusOK, e)

	case len(rest) == 2 && rest[1] == "redeliver":
		if m != "POST" {
			return want("POST")
		}
		if err := ev.Redeliver(c, t, rest[0]); err != nil {
			return call.eventsErr(err)
		}
		return call.reply(fasthttp.StatusAccepted, map[string]any{"event_id": rest[0], "state": "pending"})
	}
	return call.fail(fasthttp.StatusNotFound, "not-found", "no admin route .../events/"+strings.Join(rest, "/"))
}

// eventsErr maps the events package's errors, then the control plane's.
func (call *adminCall) eventsErr(err error) int {
	switch {
	case errors.Is(err, events.ErrNotFound):
		return call.fail(fasthttp.StatusNotFound, "not-found", err.Error())
	case errors.Is(err, events.ErrExists):
		return call.fail(fasthttp.StatusConflict, "already-exists", err.Error())
	}
	return call.failErr(err)
}

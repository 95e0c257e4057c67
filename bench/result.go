package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is what one load run measured. Its JSON form (--json) is a stable interface:
// fields are added, never renamed.
type Result struct {
	Scenario       string            `json:"scenario"`
	Target         string            `json:"target"`
	Mode           string            `json:"mode"` // "closed" or "open"
	Connections    int               `json:"connections"`
	Workers        int               `json:"workers"`
	Rate           float64           `json:"rate,omitempty"` // open loop: requests per second asked for
	Warmup         float64           `json:"warmup_s"`
	Duration       float64           `json:"duration_s"` // measured window
	WarmupRequests uint64            `json:"warmup_requests"`
	Requests       uint64            `json:"requests"` // measured, whatever their outcome
	OK             uint64            `json:"ok"`
	Throughput     float64           `json:"throughput_rps"` // measured requests per second
	OKThroughput   float64           `json:"ok_rps"`         // successful requests per second
	BytesReceived  uint64            `json:"bytes_received"`
	Errors         map[string]uint64 `json:"errors"` // connect, timeout, status, graphql, io
	StatusCodes    map[string]uint64 `json:"status_codes"`
	Latency        Latency           `json:"latency_ms"`
	ScheduleLag    *ScheduleLag      `json:"schedule_lag_ms,omitempty"` // open loop: how late idle workers woke (timer slack, generator saturation)

	hist *Histogram
}

// Latency percentiles in milliseconds. Open loop measures a request that went out late
// because the generator was waiting on the server from its scheduled send time, so a
// stalled server shows up here (closed loops hide it: coordinated omission).
type Latency struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99.9"`
	Max  float64 `json:"max"`
}

// ScheduleLag is how late idle open-loop workers woke for their scheduled sends, in
// milliseconds: the generator's own slack (timers, CPU starvation), left out of Latency.
type ScheduleLag struct {
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func latencyOf(h *Histogram) Latency {
	return Latency{Min: ms(h.Min()), Mean: ms(h.Mean()), P50: ms(h.Quantile(0.5)), P90: ms(h.Quantile(0.9)),
		P99: ms(h.Quantile(0.99)), P999: ms(h.Quantile(0.999)), Max: ms(h.Max())}
}

// ErrorCount is the number of measured requests that failed, of any kind.
func (r *Result) ErrorCount() uint64 { return r.Requests - r.OK }

// WriteJSON writes v indented.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// WriteTable writes one line per result.
func WriteTable(w io.Writer, results []*Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tmode\tconns\treq/s\tok\terrors\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\t")
	for _, r := range results {
		mode := r.Mode
		if r.Mode == "open" {
			mode = fmt.Sprintf("open@%g", r.Rate)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%d\t%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t\n", r.Scenario, mode, r.Connections,
			r.Throughput, r.OK, errorSummary(r.Errors), r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.P999, r.Latency.Max)
	}
	tw.Flush()
}

func errorSummary(errs map[string]uint64) string {
	var parts []string
	for _, k := range errKindNames {
		if n := errs[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s:%d", k, n))
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ",")
}

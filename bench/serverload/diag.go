package main

import (
	"fmt"
	"io"
	"net/http"
	"runtime/metrics"
	"slices"
	"sync"
	"time"
)

// serverDiag records, for SERVERLOAD_STATS, how long the server itself
// takes: POST /start from the handler's entry to its return, and GET /sse
// from the handler's entry to its response headers. The client's figures
// include the wait for the network poller and the run queue; these do
// not, so the two together show where a slow start waits.
type serverDiag struct {
	mu      sync.Mutex
	start   []time.Duration
	headers []time.Duration
}

func (d *serverDiag) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := time.Now()
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/start":
			h.ServeHTTP(w, r)
			d.add(&d.start, time.Since(t))
		case r.Method == http.MethodGet && r.URL.Path == "/sse":
			h.ServeHTTP(&headerTimer{ResponseWriter: w, t: t, d: d}, r)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

func (d *serverDiag) add(to *[]time.Duration, v time.Duration) {
	d.mu.Lock()
	*to = append(*to, v)
	d.mu.Unlock()
}

// print writes the medians and 99th percentiles, and the runtime's
// scheduling latency (how long goroutines waited to run).
func (d *serverDiag) print(w io.Writer, mode string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(w, "serverload: %s server: in handler, POST /start %s, GET /sse to headers %s", mode, quantiles(d.start), quantiles(d.headers))
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindFloat64Histogram {
		h := s[0].Value.Float64Histogram()
		fmt.Fprintf(w, "; run-queue wait p50 %s p99 %s", histQuantile(h, 0.5), histQuantile(h, 0.99))
	}
	fmt.Fprintln(w)
}

func quantiles(v []time.Duration) string {
	if len(v) == 0 {
		return "-"
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return fmt.Sprintf("p50 %s p99 %s", s[len(s)/2].Round(time.Microsecond), s[len(s)*99/100].Round(time.Microsecond))
}

func histQuantile(h *metrics.Float64Histogram, q float64) time.Duration {
	var total uint64
	for _, c := range h.Counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	want := uint64(float64(total) * q)
	var n uint64
	for i, c := range h.Counts {
		n += c
		if n > want {
			return time.Duration(h.Buckets[i+1] * float64(time.Second)).Round(time.Microsecond)
		}
	}
	return 0
}

// headerTimer records the time to a response's headers.
type headerTimer struct {
	http.ResponseWriter
	t    time.Time
	d    *serverDiag
	done bool
}

func (h *headerTimer) WriteHeader(code int) {
	if !h.done {
		h.done = true
		h.d.add(&h.d.headers, time.Since(h.t))
	}
	h.ResponseWriter.WriteHeader(code)
}

func (h *headerTimer) Write(b []byte) (int, error) {
	if !h.done {
		h.WriteHeader(http.StatusOK)
	}
	return h.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (h *headerTimer) Unwrap() http.ResponseWriter { return h.ResponseWriter }

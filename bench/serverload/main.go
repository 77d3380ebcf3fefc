// Command serverload measures the Helix HTTP server under streaming load
// against a bare net/http SSE relay of the same events, in the same
// sitting, so that the ratios hold on a noisy machine.
//
// Both servers run in child processes (this program re-executed with
// -serve=relay or -serve=helix), so their CPU time is read from
// /proc/<pid>/stat apart from the load generator's, and their memory from
// /proc/<pid>/status and a GET /debug/mem route that forces a GC and
// reports heap and stacks in use. Every phase gets a fresh child.
//
//   - relay: POST /start registers a session; GET /sse sends -words
//     text_delta chunk events (the JSON and framing of Helix's chunks), the
//     first at once and the rest -delay apart by the clock (word k due at
//     (k-1) × -delay, as the scripted model paces), then "event: end". No
//     persistence, no agent loop: the ideal.
//   - helix: server.New over the local runtime and a SQLite store in a
//     temporary directory (every chunk persisted), agent "bench" on the
//     scripted model streaming the same words at the same pace, no
//     authentication and no rate limit.
//
// Phases, each run against relay then helix, -rounds times; the table
// shows medians over rounds:
//
//   - streaming: -runs clients start together (POST /start, GET /sse, read
//     to the end event). Time to first event is from sending POST /start to
//     receiving the first "event: chunk" (p50/p99); events/s is events over
//     the phase's wall time; server CPU per event is the child's CPU over
//     the phase divided by the events received.
//   - sustained: -runs clients loop start → stream → end for -duration;
//     events received within the window over the window, against the ideal
//     of runs × words / (words × delay) text deltas per second.
//   - idle: -idle streams that receive nothing (Helix: 10 sessions whose
//     run waits in a 10-minute model call after its first chunks); memory
//     per stream is the growth of heap+stacks in use (and of RSS), after a
//     GC, divided by the streams. The optional phase idleruns uses one
//     session per stream, so its figure includes a paused run.
//
// Helix streams also carry run_start, step_start, step_end and run_end
// chunks; "chunk events" counts every event the client receives, and CPU
// per text_delta event is the figure compared with the relay's CPU per
// event (the relay sends text deltas only).
//
// Run it from the module root on a quiet machine:
//
//	go run ./bench/serverload                      # 1000 runs, 15 s, 2000 idle streams, 2 rounds
//	go run ./bench/serverload -runs 50 -duration 3s -idle 100 -rounds 1   # smoke test
//
// The results table (markdown) goes to stdout, progress to stderr.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/helix-agents/helix-go/internal/smallstacks"
)

type config struct {
	profileDir string
	runs       int
	duration   time.Duration
	idle       int
	rounds     int
	words      int
	delay      time.Duration
	phases     []string
}

var knownPhases = []string{"streaming", "sustained", "idle", "idleruns"}

func main() {
	var (
		serveMode = flag.String("serve", "", "internal: run as the child server (relay or helix)")
		addr      = flag.String("addr", "127.0.0.1:0", "internal: the child's listen address")
		dir       = flag.String("dir", "", "internal: the child's data directory")
		runs      = flag.Int("runs", 1000, "concurrent runs in the streaming and sustained phases")
		duration  = flag.Duration("duration", 15*time.Second, "length of the sustained phase")
		idleN     = flag.Int("idle", 2000, "idle streams held in the idle phases")
		rounds    = flag.Int("rounds", 2, "rounds (relay then helix for every phase); medians are reported")
		words     = flag.Int("words", 50, "text_delta events per run")
		delay     = flag.Duration("delay", 20*time.Millisecond, "delay between text_delta events")
		phases    = flag.String("phases", "streaming,sustained,idle", "phases to run: streaming, sustained, idle, idleruns")
		profile   = flag.String("cpuprofile", "", "write a CPU profile (and, beside it, an allocation profile) of every server process into this directory (child: the file)")
	)
	flag.Parse()
	if *serveMode != "" {
		if err := serve(*serveMode, *addr, *dir, *words, *delay, *profile); err != nil {
			fmt.Fprintf(os.Stderr, "serverload child: %v\n", err)
			os.Exit(1)
		}
		return
	}
	cfg := config{profileDir: *profile, runs: *runs, duration: *duration, idle: *idleN, rounds: *rounds, words: *words, delay: *delay}
	for p := range strings.SplitSeq(*phases, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(knownPhases, p) {
			fmt.Fprintf(os.Stderr, "serverload: unknown phase %q (want %s)\n", p, strings.Join(knownPhases, ", "))
			os.Exit(2)
		}
		cfg.phases = append(cfg.phases, p)
	}
	if cfg.runs < 1 || cfg.idle < 1 || cfg.rounds < 1 || cfg.words < 1 || cfg.delay < time.Millisecond || cfg.duration <= 0 {
		fmt.Fprintln(os.Stderr, "serverload: -runs, -idle, -rounds, -words must be ≥ 1, -delay ≥ 1ms, -duration > 0")
		os.Exit(2)
	}

	raiseFileLimit()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "serverload: %v: stopping the servers\n", s)
		killChildren()
		os.Exit(130)
	}()
	defer func() {
		if r := recover(); r != nil {
			killChildren()
			panic(r)
		}
	}()
	if err := run(os.Stdout, cfg); err != nil {
		killChildren()
		fmt.Fprintf(os.Stderr, "serverload: %v\n", err)
		os.Exit(1)
	}
}

// results of every round, per server.
type results struct {
	streaming, sustained []*phaseStats
	idle, idleRuns       []*idleStats
}

var servers = []string{"relay", "helix"}

func run(out io.Writer, cfg config) error {
	res := map[string]*results{"relay": {}, "helix": {}}
	for round := 1; round <= cfg.rounds; round++ {
		for _, phase := range cfg.phases {
			for _, mode := range servers {
				if err := runPhase(cfg, round, phase, mode, res[mode]); err != nil {
					return fmt.Errorf("round %d, %s, %s: %w", round, phase, mode, err)
				}
			}
		}
	}
	report(out, cfg, res)
	return nil
}

func runPhase(cfg config, round int, phase, mode string, r *results) error {
	profile := ""
	if cfg.profileDir != "" {
		profile = filepath.Join(cfg.profileDir, fmt.Sprintf("%s-%s-round%d.pprof", mode, phase, round))
	}
	c, err := startChild(mode, cfg.words, cfg.delay, profile)
	if err != nil {
		return err
	}
	defer c.stop()
	progress := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "round %d %-9s %-5s "+format+"\n", append([]any{round, phase, mode}, args...)...)
	}
	switch phase {
	case "streaming", "sustained":
		var p *phaseStats
		if phase == "streaming" {
			p, err = streaming(c, cfg.runs, cfg.words, cfg.delay)
		} else {
			p, err = sustained(c, cfg.runs, cfg.words, cfg.delay, cfg.duration)
		}
		if p != nil {
			progress("runs %d failed %d, TTFE p50 %s p99 %s, %.0f events/s (%.0f text/s), CPU %.2fs = %.1f µs/event (%.1f µs/text), client CPU %.2fs",
				p.runs, p.failed, ms(percentile(p.ttfe, .5)), ms(percentile(p.ttfe, .99)),
				p.eventsPerSec(), p.textPerSec(), p.cpu, p.cpuPerEvent(), p.cpuPerText(), p.clientCPU)
			printErrs(os.Stderr, p.errs)
			printDiag(phase+" "+mode, p)
			if phase == "streaming" {
				r.streaming = append(r.streaming, p)
			} else {
				r.sustained = append(r.sustained, p)
			}
		}
		return err
	case "idle", "idleruns":
		k := min(10, cfg.idle)
		if phase == "idleruns" {
			k = cfg.idle
		}
		s, err := idle(c, cfg.idle, k, phase == "idleruns")
		if s != nil {
			progress("streams %d (on %d sessions) failed %d, heap+stack %s/stream (stacks %s), RSS %s/stream, %.1f goroutines/stream",
				s.streams, s.sessions, s.failed, kib(s.perStream()), kib(s.stackPerStream()), kib(s.rssPerStream()), s.goroutinesPerStream())
			printErrs(os.Stderr, s.errs)
			if phase == "idle" {
				r.idle = append(r.idle, s)
			} else {
				r.idleRuns = append(r.idleRuns, s)
			}
		}
		return err
	}
	return fmt.Errorf("unknown phase %q", phase)
}

// Derived figures.

func (p *phaseStats) eventsPerSec() float64 { return float64(p.events) / p.wall.Seconds() }
func (p *phaseStats) textPerSec() float64   { return float64(p.text) / p.wall.Seconds() }
func (p *phaseStats) cpuPerEvent() float64  { return perEvent(p.cpu, p.events) }
func (p *phaseStats) cpuPerText() float64   { return perEvent(p.cpu, p.text) }

func perEvent(cpu float64, n int) float64 {
	if n == 0 {
		return 0
	}
	return cpu * 1e6 / float64(n)
}

func (s *idleStats) perStream() float64 {
	if s.streams == 0 {
		return 0
	}
	d := int64(s.after.HeapInUse+s.after.StackInUse) - int64(s.before.HeapInUse+s.before.StackInUse)
	return float64(d) / float64(s.streams)
}

func (s *idleStats) stackPerStream() float64 {
	if s.streams == 0 {
		return 0
	}
	return float64(int64(s.after.StackInUse)-int64(s.before.StackInUse)) / float64(s.streams)
}

func (s *idleStats) rssPerStream() float64 {
	if s.streams == 0 {
		return 0
	}
	return float64(s.after.RSS-s.before.RSS) / float64(s.streams)
}

func (s *idleStats) goroutinesPerStream() float64 {
	if s.streams == 0 {
		return 0
	}
	return float64(int64(s.after.Goroutines)-int64(s.before.Goroutines)) / float64(s.streams)
}

// med is the median of f over xs.
func med[T any](xs []T, f func(T) float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

func sum[T any](xs []T, f func(T) int) int {
	n := 0
	for _, x := range xs {
		n += f(x)
	}
	return n
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }
func msf(v float64) string      { return fmt.Sprintf("%.1f ms", v) }
func kib(b float64) string      { return fmt.Sprintf("%.1f KiB", b/1024) }

func printErrs(w io.Writer, errs map[string]int) {
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range errs {
		all = append(all, kv{k, v})
	}
	slices.SortFunc(all, func(a, b kv) int { return b.v - a.v })
	for i, e := range all {
		if i == 5 {
			fmt.Fprintf(w, "    … and %d other errors\n", len(all)-5)
			break
		}
		fmt.Fprintf(w, "    %d× %s\n", e.v, e.k)
	}
}

func report(w io.Writer, cfg config, res map[string]*results) {
	ideal := float64(cfg.runs) * float64(cfg.words) / (float64(cfg.words) * cfg.delay.Seconds())
	fmt.Fprintf(w, "## Helix server vs bare net/http SSE relay\n\n")
	fmt.Fprintf(w, "- machine: %d CPUs (%s), GOMAXPROCS %d, %s %s/%s, RLIMIT_NOFILE %d; load generator on the same machine\n",
		runtime.NumCPU(), cpuModel(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH, fileLimit())
	fmt.Fprintf(w, "- workload: %d words per run, %s apart (the first at once); -runs %d, -duration %s, -idle %d; medians over %d round(s), relay then helix each time, a fresh server process per phase\n",
		cfg.words, cfg.delay, cfg.runs, cfg.duration, cfg.idle, cfg.rounds)
	fmt.Fprintf(w, "- TTFE: POST /start sent → first `event: chunk` received (Helix: run_start; relay: the first text_delta). CPU: the server process's utime+stime over the phase. "+
		"\"chunk events\" = every event received; Helix also sends run_start/step_start/step_end/run_end, so its CPU per *text_delta* event is the one compared with the relay's CPU per event.\n")
	godebug := "GODEBUG="
	childEnv, _ := smallstacks.Environ(os.Environ())
	for _, kv := range childEnv {
		if strings.HasPrefix(kv, "GODEBUG=") {
			godebug = kv
		}
	}
	fmt.Fprintf(w, "- both servers' runtime settings: %s (what `helix serve` sets for itself; run with GODEBUG=adaptivestackstart=1 to measure the Go default)\n", godebug)
	fmt.Fprintf(w, "- command: `go run ./bench/serverload %s`\n\n", strings.Join(os.Args[1:], " "))

	runsCol := func(ps []*phaseStats) string {
		return fmt.Sprintf("%d / %d", sum(ps, func(p *phaseStats) int { return p.runs - p.failed }), sum(ps, func(p *phaseStats) int { return p.failed }))
	}
	p50 := func(p *phaseStats) float64 { return float64(percentile(p.ttfe, .5)) / 1e6 }
	p99 := func(p *phaseStats) float64 { return float64(percentile(p.ttfe, .99)) / 1e6 }
	t99 := func(p *phaseStats) float64 { return float64(percentile(p.ttft, .99)) / 1e6 }

	if res["relay"].streaming != nil || res["helix"].streaming != nil {
		fmt.Fprintf(w, "### streaming: %d concurrent runs started together\n\n", cfg.runs)
		fmt.Fprintln(w, "| server | runs ok / failed (all rounds) | TTFE p50 | TTFE p99 | first text_delta p99 | chunk events | text_delta events | wall | chunk events/s | text_delta/s | ratio to ideal | server CPU | CPU µs / chunk event | CPU µs / text_delta | client CPU |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		for _, s := range servers {
			ps := res[s].streaming
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %.0f | %.0f | %.2f s | %.0f | %.0f | %.1f%% | %.2f s | %.1f | %.1f | %.2f s |\n", s, runsCol(ps),
				msf(med(ps, p50)), msf(med(ps, p99)), msf(med(ps, t99)),
				med(ps, func(p *phaseStats) float64 { return float64(p.events) }),
				med(ps, func(p *phaseStats) float64 { return float64(p.text) }),
				med(ps, func(p *phaseStats) float64 { return p.wall.Seconds() }),
				med(ps, (*phaseStats).eventsPerSec), med(ps, (*phaseStats).textPerSec),
				100*med(ps, (*phaseStats).textPerSec)/ideal,
				med(ps, func(p *phaseStats) float64 { return p.cpu }),
				med(ps, (*phaseStats).cpuPerEvent), med(ps, (*phaseStats).cpuPerText),
				med(ps, func(p *phaseStats) float64 { return p.clientCPU }))
		}
		fmt.Fprintf(w, "\nideal: %.0f text_delta/s (%d runs × %d words / (%d × %s)); a one-shot batch cannot reach it (start-up and the tail), see sustained.\n\n", ideal, cfg.runs, cfg.words, cfg.words, cfg.delay)
	}
	if res["relay"].sustained != nil || res["helix"].sustained != nil {
		fmt.Fprintf(w, "### sustained: %d clients looping start → stream → end for %s\n\n", cfg.runs, cfg.duration)
		fmt.Fprintln(w, "| server | runs ok / failed (all rounds) | TTFE p50 | TTFE p99 | chunk events/s | text_delta/s | ratio to ideal | server CPU | CPU µs / chunk event | CPU µs / text_delta | client CPU |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		for _, s := range servers {
			ps := res[s].sustained
			fmt.Fprintf(w, "| %s | %s | %s | %s | %.0f | %.0f | %.1f%% | %.2f s | %.1f | %.1f | %.2f s |\n", s, runsCol(ps),
				msf(med(ps, p50)), msf(med(ps, p99)),
				med(ps, (*phaseStats).eventsPerSec), med(ps, (*phaseStats).textPerSec),
				100*med(ps, (*phaseStats).textPerSec)/ideal,
				med(ps, func(p *phaseStats) float64 { return p.cpu }),
				med(ps, (*phaseStats).cpuPerEvent), med(ps, (*phaseStats).cpuPerText),
				med(ps, func(p *phaseStats) float64 { return p.clientCPU }))
		}
		fmt.Fprintf(w, "\nideal: %.0f text_delta/s. Events are counted while received inside the window; runs in flight at its end finish uncounted.\n\n", ideal)
	}
	idleTable := func(title string, get func(*results) []*idleStats) {
		if get(res["relay"]) == nil && get(res["helix"]) == nil {
			return
		}
		fmt.Fprintf(w, "### %s\n\n", title)
		fmt.Fprintln(w, "| server | streams held / failed (all rounds) | sessions | heap+stack in use per stream | of which stacks | RSS per stream | goroutines per stream |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
		for _, s := range servers {
			is := get(res[s])
			sessions := 0
			if len(is) > 0 {
				sessions = is[0].sessions
			}
			fmt.Fprintf(w, "| %s | %d / %d | %d | %s | %s | %s | %.1f |\n", s,
				sum(is, func(x *idleStats) int { return x.streams }), sum(is, func(x *idleStats) int { return x.failed }), sessions,
				kib(med(is, (*idleStats).perStream)), kib(med(is, (*idleStats).stackPerStream)),
				kib(med(is, (*idleStats).rssPerStream)), med(is, (*idleStats).goroutinesPerStream))
		}
		fmt.Fprintln(w, "\nafter a forced GC and scavenge in the server, (after − before) / streams.")
		fmt.Fprintln(w)
	}
	idleTable(fmt.Sprintf("idle: %d open streams that receive nothing (Helix: %d sessions paused mid-model-call)", cfg.idle, min(10, cfg.idle)), func(r *results) []*idleStats { return r.idle })
	idleTable(fmt.Sprintf("idleruns: %d paused sessions with one open stream each (session + run + stream)", cfg.idle), func(r *results) []*idleStats { return r.idleRuns })

	// Targets of issue 5.
	fmt.Fprintln(w, "### targets (issue 5)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | helix | relay | helix / relay | limit | result |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | --- |")
	note := ""
	if cfg.runs != 1000 {
		note = fmt.Sprintf(" (targets are stated at 1000 runs; this used %d)", cfg.runs)
	}
	verdict := func(ok bool, helixFailed int) string {
		switch {
		case helixFailed > 0:
			return fmt.Sprintf("FAIL (%d failed helix runs)", helixFailed)
		case ok:
			return "PASS"
		}
		return "FAIL"
	}
	failed := func(ps []*phaseStats) int { return sum(ps, func(p *phaseStats) int { return p.failed }) }
	for _, ph := range []struct {
		name string
		get  func(*results) []*phaseStats
	}{{"streaming", func(r *results) []*phaseStats { return r.streaming }}, {"sustained", func(r *results) []*phaseStats { return r.sustained }}} {
		h, rl := ph.get(res["helix"]), ph.get(res["relay"])
		if h == nil || rl == nil {
			continue
		}
		hc, rc := med(h, (*phaseStats).cpuPerText), med(rl, (*phaseStats).cpuPerEvent)
		fmt.Fprintf(w, "| server CPU per event, %s: helix µs per text_delta vs relay µs per event, every chunk persisted | %.1f µs | %.1f µs | %.2f× | ≤ 1.5× | %s |\n",
			ph.name, hc, rc, hc/rc, verdict(hc <= 1.5*rc, failed(h)))
		hc = med(h, (*phaseStats).cpuPerEvent)
		fmt.Fprintf(w, "| (informative) the same per chunk event, helix counting its control chunks too | %.1f µs | %.1f µs | %.2f× | | |\n", hc, rc, hc/rc)
	}
	if h, rl := res["helix"].streaming, res["relay"].streaming; h != nil && rl != nil {
		hp, rp := med(h, p99), med(rl, p99)
		fmt.Fprintf(w, "| p99 added time to first SSE event, %d concurrent runs%s | %.1f ms | %.1f ms | %.2f× | ≤ 2× | %s |\n",
			cfg.runs, note, hp, rp, hp/rp, verdict(hp <= 2*rp, failed(h)))
	}
	if h, rl := res["helix"].sustained, res["relay"].sustained; h != nil && rl != nil {
		hr, rr := med(h, (*phaseStats).textPerSec)/ideal, med(rl, (*phaseStats).textPerSec)/ideal
		fmt.Fprintf(w, "| text_delta events/s vs ideal (%.0f/s), sustained, %d runs%s | %.1f%% | %.1f%% | %.2f× | ≥ 95%% of ideal | %s |\n",
			ideal, cfg.runs, note, 100*hr, 100*rr, hr/rr, verdict(hr >= .95, failed(h)))
	}
	if h, rl := res["helix"].idle, res["relay"].idle; h != nil && rl != nil {
		hm, rm := med(h, (*idleStats).perStream), med(rl, (*idleStats).perStream)
		hf := sum(h, func(x *idleStats) int { return x.failed })
		fmt.Fprintf(w, "| memory per idle SSE stream (heap+stacks in use) | %s | %s | %.2f× | ≤ 32 KiB | %s |\n",
			kib(hm), kib(rm), hm/rm, verdict(hm <= 32*1024, hf))
		hm, rm = med(h, (*idleStats).rssPerStream), med(rl, (*idleStats).rssPerStream)
		fmt.Fprintf(w, "| (informative) the same by RSS | %s | %s | %.2f× | ≤ 32 KiB | %s |\n",
			kib(hm), kib(rm), hm/rm, verdict(hm <= 32*1024, hf))
	}
	fmt.Fprintln(w)
	for _, s := range servers {
		r := res[s]
		for _, ph := range []struct {
			name string
			errs []map[string]int
		}{
			{"streaming", errsOf(r.streaming)}, {"sustained", errsOf(r.sustained)},
			{"idle", idleErrs(r.idle)}, {"idleruns", idleErrs(r.idleRuns)},
		} {
			all := map[string]int{}
			for _, e := range ph.errs {
				for k, v := range e {
					all[k] += v
				}
			}
			if len(all) > 0 {
				fmt.Fprintf(w, "errors, %s %s:\n", s, ph.name)
				printErrs(w, all)
			}
		}
	}
}

func errsOf(ps []*phaseStats) []map[string]int {
	var out []map[string]int
	for _, p := range ps {
		out = append(out, p.errs)
	}
	return out
}

func idleErrs(is []*idleStats) []map[string]int {
	var out []map[string]int
	for _, s := range is {
		out = append(out, s.errs)
	}
	return out
}

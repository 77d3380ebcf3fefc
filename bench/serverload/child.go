package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm/scripted"
	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/server"
	"github.com/helix-agents/helix-go/server/sse"
	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/memstore"
	"github.com/helix-agents/helix-go/store/sqlitestore"
)

// Agent types. The relay accepts the same names so the load generator sends
// identical requests to both servers.
const (
	agentBench = "bench" // streams -words words, -delay apart
	agentIdle  = "idle"  // streams one word, then waits idleDelay
)

// idleDelay is the scripted delay of the idle agent: no chunk follows the
// first word while a measurement lasts.
const idleDelay = 10 * time.Minute

// memReport is the body of GET /debug/mem: the child's Go memory after a
// forced GC and scavenge.
type memReport struct {
	HeapInUse  uint64 `json:"heapInUse"`  // heap objects + unused heap spans
	StackInUse uint64 `json:"stackInUse"` // goroutine stacks
	Goroutines uint64 `json:"goroutines"`
}

// serve is the child process: it runs one server on addr until its stdin
// closes (the parent ended) or it gets SIGTERM/SIGINT, and prints the
// listening address as the first line of stdout.
func serve(mode, addr, dir string, words int, delay time.Duration, cpuProfile string) error {
	raiseFileLimit()
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
			// Beside it, what was allocated (go tool pprof
			// -sample_index=alloc_objects).
			if af, err := os.Create(cpuProfile + ".allocs"); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(af, 0)
				_ = af.Close()
			}
		}()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var (
		h       http.Handler
		cleanup = func() {}
	)
	switch mode {
	case "relay":
		h = newRelay(words, delay)
	case "helix":
		srv, closeFn, err := newHelix(ctx, dir, words, delay)
		if err != nil {
			return err
		}
		h, cleanup = srv, closeFn
	default:
		return fmt.Errorf("unknown -serve mode %q (want relay or helix)", mode)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/mem", handleMem)
	var diag *serverDiag
	if os.Getenv("SERVERLOAD_STATS") != "" {
		diag = &serverDiag{}
		h = diag.wrap(h)
	}
	mux.Handle("/", h)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	// The same http.Server settings as `helix serve`, for both servers.
	hs := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(slog.DiscardHandler, slog.LevelWarn),
	}
	go func() { _ = hs.Serve(ln) }()
	fmt.Printf("%s\n", ln.Addr().String())

	// Stop when the parent goes away: stdin reaches EOF when it exits for
	// any reason, and SIGTERM is the parent-death signal.
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		done <- struct{}{}
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		done <- struct{}{}
	}()
	<-done
	if os.Getenv("SERVERLOAD_STATS") != "" {
		// Diagnostic: goroutines are cheap but not free; each costs a
		// start, a schedule and an exit.
		gs := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
		metrics.Read(gs)
		fmt.Fprintf(os.Stderr, "serverload: %s server: %d goroutines created\n", mode, gs[0].Value.Uint64())
		diag.print(os.Stderr, mode)
	}
	_ = hs.Close()
	cleanup()
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
	return nil
}

// handleMem forces GCs (returning freed memory to the OS, so that RSS
// read right after is comparable) and reports heap and stack in use. Each
// GC halves the stacks of goroutines using under a quarter of theirs, so it
// runs four: the steady state of streams that have been idle for a few
// minutes (the runtime forces a GC at least every two), for both servers
// alike.
func handleMem(w http.ResponseWriter, _ *http.Request) {
	for range 4 {
		debug.FreeOSMemory()
	}
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
		{Name: "/sched/goroutines:goroutines"},
	}
	metrics.Read(s)
	rep := memReport{
		HeapInUse:  s[0].Value.Uint64() + s[1].Value.Uint64(),
		StackInUse: s[2].Value.Uint64(),
		Goroutines: s[3].Value.Uint64(),
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rep)
}

// newHelix builds the Helix server under test: a SQLite store in dir
// (every chunk persisted), the local runtime with the bench and idle
// agents on the scripted model, no authentication and no rate limit.
func newHelix(ctx context.Context, dir string, words int, delay time.Duration) (http.Handler, func(), error) {
	discard := slog.New(slog.DiscardHandler)
	var st interface {
		store.Store
		Close() error
	}
	if os.Getenv("SERVERLOAD_STORE") == "memory" {
		// Diagnostic only (the targets are for SQLite): what the server
		// costs without persistence.
		st = memstore.New()
	} else {
		sq, err := sqlitestore.Open(ctx, filepath.Join(dir, "helix.db"), sqlitestore.Options{Logger: discard})
		if err != nil {
			return nil, nil, err
		}
		st = sq
	}
	reg := &helix.Registry{}
	for _, a := range []helix.AgentConfig{
		{Name: agentBench, Model: scripted.Turns(scripted.Turn{Text: wordText(words), ChunkDelayMs: int(delay / time.Millisecond)})},
		{Name: agentIdle, Model: scripted.Turns(scripted.Turn{Text: wordText(2), ChunkDelayMs: int(idleDelay / time.Millisecond)})},
	} {
		if err := reg.Register(helix.MustNewAgent(a)); err != nil {
			_ = st.Close()
			return nil, nil, err
		}
	}
	// As `helix serve` does: the server's metrics also count runs through
	// the runtime's hooks.
	m := server.NewMetrics(nil)
	rt, err := local.New(local.Options{Store: st, Agents: reg, Logger: discard, Hooks: []helix.Hooks{m.Hooks()}})
	if err != nil {
		_ = st.Close()
		return nil, nil, err
	}
	srv, err := server.New(server.Options{
		Runtime:              rt,
		AllowUnauthenticated: true,
		DisableRateLimit:     true,
		Metrics:              m,
		Logger:               discard,
	})
	if err != nil {
		_ = st.Close()
		return nil, nil, err
	}
	return srv, func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = rt.Close(c)
		_ = st.Close()
	}, nil
}

// wordText is "w1 w2 … wN"; the scripted model streams it word by word.
func wordText(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteByte(' ')
		}
		b.WriteString("w" + strconv.Itoa(i))
	}
	return b.String()
}

// relay is the yardstick: a bare net/http SSE server that sends the same
// text_delta events with the same framing and timing as the scripted model
// behind Helix, with no persistence and no agent loop. POST /start
// registers a session; GET /sse streams it.
type relay struct {
	words int
	delay time.Duration

	mu       sync.Mutex
	sessions map[string]relaySession
}

type relaySession struct {
	runID, agentType string
}

func newRelay(words int, delay time.Duration) *relay {
	r := &relay{words: words, delay: delay, sessions: map[string]relaySession{}}
	return r
}

func (rl *relay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/start":
		rl.start(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/sse":
		rl.sse(w, r)
	default:
		http.Error(w, `{"error":"Not found"}`, http.StatusNotFound)
	}
}

func (rl *relay) start(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AgentType string `json:"agentType"`
		Message   string `json:"message"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil || req.AgentType == "" {
		http.Error(w, `{"error":"Invalid request body"}`, http.StatusBadRequest)
		return
	}
	sid, rid := newID("sess_"), newID("run_")
	rl.mu.Lock()
	rl.sessions[sid] = relaySession{runID: rid, agentType: req.AgentType}
	rl.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"sessionId": sid, "streamId": sid, "runId": rid})
}

func (rl *relay) sse(w http.ResponseWriter, r *http.Request) {
	sid := r.URL.Query().Get("sessionId")
	rl.mu.Lock()
	s, ok := rl.sessions[sid]
	if ok && s.agentType == agentBench {
		delete(rl.sessions, sid) // a bench session streams once
	}
	rl.mu.Unlock()
	if !ok {
		http.Error(w, `{"error":"Not found"}`, http.StatusNotFound)
		return
	}
	sw, err := sse.NewWriter(w)
	if err != nil {
		return
	}
	ctx := r.Context()
	if s.agentType != agentBench {
		<-ctx.Done() // an idle stream: headers only, then nothing
		return
	}
	// Paced like the scripted model: the first word at once, word i due
	// (i-1) × delay after it, by the clock.
	var timer *time.Timer
	start := time.Now()
	for i := 1; i <= rl.words; i++ {
		if d := time.Until(start.Add(time.Duration(i-1) * rl.delay)); i > 1 && d > 0 {
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
		}
		delta := "w" + strconv.Itoa(i)
		if i > 1 {
			delta = " " + delta
		}
		c := helix.Chunk{
			Type: helix.ChunkTextDelta, SessionID: sid, RunID: s.runID, AgentType: s.agentType,
			Step: 1, Timestamp: time.Now().UnixMilli(), Sequence: int64(i), Delta: delta,
		}
		if err := sw.Chunk(c); err != nil {
			return
		}
	}
	_ = sw.End("completed")
}

func newID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

package storetest

import (
	"context"
	"encoding/json"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/store"
)

// RunBenchmarks runs the store benchmarks against the backend made by
// newHarness (the same [HarnessMaker] as for [RunConformanceTests]; it gets
// the benchmark's *testing.B as its testing.TB). Every sub-benchmark reports
// allocations; the append and read benchmarks also report chunks/s.
//
// Benchmarks that write move to a fresh session every few thousand
// operations and to a fresh store every few dozen sessions, so that long
// runs (-benchtime=10s) measure a store of bounded size and do not exhaust
// memory.
//
//   - AppendChunks/Single: one chunk per call, one writer.
//   - AppendChunks/Batch16: 16 chunks per call, one writer.
//   - AppendChunks/ParallelSessions: one chunk per call from at least 8
//     goroutines (b.RunParallel), each appending to its own session of one
//     store.
//   - ReadChunks: pages of 1000 chunks from a stream of 10000.
//   - GetSession: loading a session with state, metadata and usage.
//   - Commit: a commit of 2 messages (compare-and-set included).
//   - AgentStep: the store traffic of one agent step: GetControl, 6 single
//     chunk appends, and a Commit with 2 messages and a checkpoint.
func RunBenchmarks(b *testing.B, newHarness HarnessMaker) {
	b.Run("AppendChunks/Single", func(b *testing.B) { benchAppend(b, newHarness, 1) })
	b.Run("AppendChunks/Batch16", func(b *testing.B) { benchAppend(b, newHarness, 16) })
	b.Run("AppendChunks/ParallelSessions", func(b *testing.B) { benchAppendParallel(b, newHarness) })
	b.Run("ReadChunks", func(b *testing.B) { benchReadChunks(b, newHarness) })
	b.Run("GetSession", func(b *testing.B) { benchGetSession(b, newHarness) })
	b.Run("Commit", func(b *testing.B) { benchCommit(b, newHarness) })
	b.Run("AgentStep", func(b *testing.B) { benchAgentStep(b, newHarness) })
}

// benchState is the custom state of benchmark sessions.
var benchState = json.RawMessage(`{"topic":"benchmarks","notes":["one","two","three"],"count":42,"nested":{"a":1,"b":[true,false]}}`)

// benchSession returns the session record benchmarks create.
func benchSession(id string) *store.Session {
	return &store.Session{ID: id, AgentType: "bench", Principal: "bench", Status: helix.StatusRunning,
		State: benchState, Metadata: map[string]string{"env": "bench", "team": "core"},
		Usage: llm.Usage{PromptTokens: 1000, CompletionTokens: 200, TotalTokens: 1200}, CreatedAt: base}
}

// benchChunk is a typical stream chunk.
func benchChunk(id string) helix.Chunk {
	return helix.Chunk{Type: helix.ChunkTextDelta, SessionID: id, RunID: "run-1", AgentType: "bench",
		Step: 1, Timestamp: base.UnixMilli(), Delta: "Hello, wor"}
}

// benchStores hands out fresh sessions, replacing the store after perStore
// sessions. A session is used between acquire and release; the store is
// replaced only when no session is in use.
type benchStores struct {
	b        *testing.B
	ctx      context.Context
	h        Harness
	perStore int64

	mu       sync.RWMutex // read-held while a session is in use
	st       store.Store
	sessions atomic.Int64
	ids      atomic.Int64
}

func newBenchStores(b *testing.B, newHarness HarnessMaker, perStore int64) *benchStores {
	b.Helper()
	ctx := b.Context()
	h, err := newHarness(ctx, b)
	if err != nil {
		b.Fatalf("making harness: %v", err)
	}
	b.Cleanup(h.Close)
	st, err := h.MakeStore(ctx)
	if err != nil {
		b.Fatalf("Harness.MakeStore: %v", err)
	}
	p := &benchStores{b: b, ctx: ctx, h: h, perStore: perStore, st: st}
	b.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.st.Close()
	})
	return p
}

// acquire returns the current store and a new session on it. The caller
// must call release before acquiring again. It returns ok == false after
// reporting an error.
func (p *benchStores) acquire() (st store.Store, id string, ok bool) {
	if p.sessions.Load() >= p.perStore {
		if !p.rotate() {
			return nil, "", false
		}
	}
	p.mu.RLock()
	id = "bench-" + strconv.FormatInt(p.ids.Add(1), 10)
	if err := p.st.CreateSession(p.ctx, benchSession(id)); err != nil {
		p.mu.RUnlock()
		p.b.Errorf("CreateSession: %v", err)
		return nil, "", false
	}
	p.sessions.Add(1)
	return p.st, id, true
}

func (p *benchStores) release() { p.mu.RUnlock() }

func (p *benchStores) rotate() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sessions.Load() < p.perStore {
		return true
	}
	p.st.Close()
	st, err := p.h.MakeStore(p.ctx)
	if err != nil {
		p.b.Errorf("Harness.MakeStore: %v", err)
		return false
	}
	p.st = st
	p.sessions.Store(0)
	return true
}

func reportChunkRate(b *testing.B, chunks int64) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(chunks)/s, "chunks/s")
	}
}

func benchAppend(b *testing.B, newHarness HarnessMaker, batch int) {
	const perSession = 4096 // chunks
	p := newBenchStores(b, newHarness, 32)
	ctx := b.Context()
	st, id, ok := p.acquire()
	if !ok {
		return
	}
	chunks := make([]helix.Chunk, batch)
	for i := range chunks {
		chunks[i] = benchChunk(id)
	}
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		if n+batch > perSession {
			p.release()
			if st, id, ok = p.acquire(); !ok {
				return
			}
			n = 0
		}
		if _, err := st.AppendChunks(ctx, id, 0, chunks); err != nil {
			p.release()
			b.Fatalf("AppendChunks: %v", err)
		}
		n += batch
	}
	p.release()
	reportChunkRate(b, int64(b.N)*int64(batch))
}

func benchAppendParallel(b *testing.B, newHarness HarnessMaker) {
	const perSession = 4096
	p := newBenchStores(b, newHarness, 64)
	ctx := b.Context()
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((8 + procs - 1) / procs) // at least 8 goroutines
	b.ReportAllocs()
	b.ResetTimer() // not the store's setup
	b.RunParallel(func(pb *testing.PB) {
		st, id, ok := p.acquire()
		if !ok {
			return
		}
		chunks := []helix.Chunk{benchChunk(id)}
		n := 0
		for pb.Next() {
			if n == perSession {
				p.release()
				if st, id, ok = p.acquire(); !ok {
					return
				}
				n = 0
			}
			if _, err := st.AppendChunks(ctx, id, 0, chunks); err != nil {
				p.release()
				b.Errorf("AppendChunks: %v", err)
				return
			}
			n++
		}
		p.release()
	})
	reportChunkRate(b, int64(b.N))
}

func benchReadChunks(b *testing.B, newHarness HarnessMaker) {
	const total, page = 10000, 1000
	p := newBenchStores(b, newHarness, 1)
	ctx := b.Context()
	st, id, ok := p.acquire()
	if !ok {
		return
	}
	defer p.release()
	chunks := make([]helix.Chunk, 100)
	for range total / len(chunks) {
		for i := range chunks {
			chunks[i] = benchChunk(id)
		}
		if _, err := st.AppendChunks(ctx, id, 0, chunks); err != nil {
			b.Fatalf("AppendChunks: %v", err)
		}
	}
	var read int64
	var after int64
	b.ReportAllocs()
	for b.Loop() {
		got, err := st.ReadChunks(ctx, id, after, page)
		if err != nil {
			b.Fatalf("ReadChunks: %v", err)
		}
		if len(got) != page {
			b.Fatalf("ReadChunks(after %d, limit %d) returned %d chunks", after, page, len(got))
		}
		read += int64(len(got))
		after = (after + page) % (total - page + 1)
	}
	reportChunkRate(b, read)
}

func benchGetSession(b *testing.B, newHarness HarnessMaker) {
	p := newBenchStores(b, newHarness, 1)
	ctx := b.Context()
	st, id, ok := p.acquire()
	if !ok {
		return
	}
	defer p.release()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.GetSession(ctx, id); err != nil {
			b.Fatalf("GetSession: %v", err)
		}
	}
}

// benchMessages are the two messages a step typically adds.
var benchMessages = []llm.Message{
	{Role: llm.RoleAssistant, Parts: []llm.Part{
		llm.TextPart("Let me look that up."),
		{Type: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "call-1", Name: "search", Arguments: json.RawMessage(`{"q":"go"}`)}},
	}},
	{Role: llm.RoleTool, Parts: []llm.Part{
		{Type: llm.PartToolResult, ToolResult: &llm.ToolResult{ToolCallID: "call-1", ToolName: "search", Output: json.RawMessage(`["a","b"]`)}},
	}},
}

func benchCommit(b *testing.B, newHarness HarnessMaker) {
	const perSession = 1024 // commits
	p := newBenchStores(b, newHarness, 64)
	ctx := b.Context()
	st, id, ok := p.acquire()
	if !ok {
		return
	}
	s := benchSession(id)
	s.Version = 1
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		if n == perSession {
			p.release()
			if st, id, ok = p.acquire(); !ok {
				return
			}
			s = benchSession(id)
			s.Version = 1
			n = 0
		}
		s.MessageCount += len(benchMessages)
		s.StepCount++
		v, err := st.Commit(ctx, store.Commit{Session: s, ExpectedVersion: s.Version, Messages: benchMessages})
		if err != nil {
			p.release()
			b.Fatalf("Commit: %v", err)
		}
		s.Version = v
		n++
	}
	p.release()
}

func benchAgentStep(b *testing.B, newHarness HarnessMaker) {
	const perSession = 512 // steps
	p := newBenchStores(b, newHarness, 64)
	ctx := b.Context()
	st, id, ok := p.acquire()
	if !ok {
		return
	}
	s := benchSession(id)
	s.Version = 1
	chunk := make([]helix.Chunk, 1)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		if n == perSession {
			p.release()
			if st, id, ok = p.acquire(); !ok {
				return
			}
			s = benchSession(id)
			s.Version = 1
			n = 0
		}
		if _, err := st.GetControl(ctx, id); err != nil {
			p.release()
			b.Fatalf("GetControl: %v", err)
		}
		for range 6 {
			chunk[0] = benchChunk(id)
			if _, err := st.AppendChunks(ctx, id, 0, chunk); err != nil {
				p.release()
				b.Fatalf("AppendChunks: %v", err)
			}
		}
		n++
		s.MessageCount += len(benchMessages)
		s.StepCount = n
		cp := &store.Checkpoint{ID: "cp-" + strconv.Itoa(n), RunID: "run-1", Step: n, Status: helix.StatusRunning,
			State: s.State, MessageCount: s.MessageCount, Usage: s.Usage, CreatedAt: base}
		v, err := st.Commit(ctx, store.Commit{Session: s, ExpectedVersion: s.Version, Messages: benchMessages, Checkpoint: cp})
		if err != nil {
			p.release()
			b.Fatalf("Commit: %v", err)
		}
		s.Version = v
	}
	p.release()
}

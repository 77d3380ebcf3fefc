package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm/scripted"
	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/server/api"
	"github.com/helix-agents/helix-go/server/auth"
	"github.com/helix-agents/helix-go/server/sse"
	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/memstore"
)

const (
	aliceKey = "alice-key-0123456789abcdef"
	bobKey   = "bob-key-0123456789abcdefghij"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// harness is a server on httptest with three agents:
//   - echo: answers "hello from helix" in one step;
//   - slow: streams 200 words 10 ms apart (a run that stays running);
//   - approver: calls "danger" (requires approval), then answers "done".
type harness struct {
	t       *testing.T
	st      store.Store
	rt      *local.Runtime
	srv     *Server
	ts      *httptest.Server
	log     *syncBuffer
	dangers *atomic.Int64
}

type harnessConfig struct {
	store    store.Store // default memstore
	opts     func(*Options)
	rtOpts   func(*local.Options)
	keepOpen bool // do not close the store at cleanup
	logWrap  func(slog.Handler) slog.Handler
	dangers  *atomic.Int64
}

func testAgents(dangers *atomic.Int64) []*helix.Agent {
	type dangerIn struct {
		X int `json:"x"`
	}
	danger := helix.NewTool("danger", "does something that needs approval",
		func(_ context.Context, _ *helix.ToolContext, in dangerIn) (string, error) {
			dangers.Add(1)
			return "did " + strconv.Itoa(in.X), nil
		}, helix.RequireApproval())
	slow := scripted.Turn{Text: strings.Repeat("word ", 200), ChunkDelayMs: 10}
	// lead delegates to cleaner, a sub-agent whose call needs approval.
	type summary struct {
		Summary string `json:"summary"`
	}
	cleaner := helix.MustNewAgent(helix.AgentConfig{Name: "cleaner", Tools: []*helix.Tool{danger}, Output: helix.OutputOf[summary](),
		Model: scripted.Turns(
			scripted.Turn{ToolCalls: []scripted.ToolCall{{ID: "call_1", Name: "danger", Arguments: json.RawMessage(`{"x":3}`)}}},
			scripted.Turn{ToolCalls: []scripted.ToolCall{{ID: "call_2", Name: helix.FinishToolName, Arguments: json.RawMessage(`{"summary":"cleaned"}`)}}},
		)})
	return []*helix.Agent{
		cleaner,
		helix.MustNewAgent(helix.AgentConfig{Name: "lead", Tools: []*helix.Tool{helix.SubAgentTool(cleaner)}, Model: scripted.Turns(
			scripted.Turn{Text: "delegating", ToolCalls: []scripted.ToolCall{{ID: "call_1", Name: "cleaner", Arguments: json.RawMessage(`{"message":"clean"}`)}}},
			scripted.Turn{Text: "all clean"},
		)}),
		helix.MustNewAgent(helix.AgentConfig{Name: "echo", Model: scripted.Turns(scripted.Turn{Text: "hello from helix"})}),
		helix.MustNewAgent(helix.AgentConfig{Name: "slow", Model: scripted.Turns(slow, slow, slow, slow, slow, slow)}),
		helix.MustNewAgent(helix.AgentConfig{Name: "approver", Tools: []*helix.Tool{danger}, Model: scripted.Turns(
			scripted.Turn{Text: "let me", ToolCalls: []scripted.ToolCall{{ID: "call_1", Name: "danger", Arguments: json.RawMessage(`{ "x": 7 }`)}}}, // spaced, as providers may send
			scripted.Turn{Text: "done"},
		)}),
	}
}

func newHarness(t *testing.T, cfg harnessConfig) *harness {
	t.Helper()
	st := cfg.store
	if st == nil {
		st = memstore.New()
	}
	if cfg.dangers == nil {
		cfg.dangers = new(atomic.Int64)
	}
	logBuf := &syncBuffer{}
	var lh slog.Handler = slog.NewTextHandler(logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})
	if cfg.logWrap != nil {
		lh = cfg.logWrap(lh)
	}
	logger := slog.New(lh)
	reg := &helix.Registry{}
	for _, a := range testAgents(cfg.dangers) {
		if err := reg.Register(a); err != nil {
			t.Fatal(err)
		}
	}
	metrics := NewMetrics(nil)
	ro := local.Options{Store: st, Agents: reg, Logger: logger, Hooks: []helix.Hooks{metrics.Hooks()}}
	if cfg.rtOpts != nil {
		cfg.rtOpts(&ro)
	}
	rt, err := local.New(ro)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.ParseAPIKeys("alice=" + aliceKey + ",bob=" + bobKey)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewStreamTokens(auth.StreamTokensConfig{Secret: []byte("stream-token-secret-0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Runtime: rt, Authenticator: keys, StreamTokens: tokens, Logger: logger, Metrics: metrics,
		DisableRateLimit: true, Heartbeat: time.Second}
	if cfg.opts != nil {
		cfg.opts(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	h := &harness{t: t, st: st, rt: rt, srv: srv, ts: ts, log: logBuf, dangers: cfg.dangers}
	t.Cleanup(func() { h.close(!cfg.keepOpen) })
	return h
}

var closeOnce sync.Map

// close stops the server, the runtime and (if closeStore) the store; it
// may be called more than once.
func (h *harness) close(closeStore bool) {
	if _, done := closeOnce.LoadOrStore(h, true); done {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = h.srv.Shutdown(ctx)
	h.ts.CloseClientConnections()
	h.ts.Close()
	_ = h.rt.Close(ctx)
	if closeStore {
		_ = h.st.Close()
	}
}

type resp struct {
	status int
	header http.Header
	body   string
}

// do sends a request with the given API key ("" for none). A body that is
// a string is sent as is; anything else is JSON-encoded.
func (h *harness) do(method, path, key string, body any) resp {
	h.t.Helper()
	return h.doHeaders(method, path, key, body, nil)
}

func (h *harness) doHeaders(method, path, key string, body any, hdr map[string]string) resp {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, h.ts.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: string(data)}
}

// open sends a request (a JSON body, if any) and returns the response once
// its headers are in, for a caller that reads a stream itself; it is
// bounded by 30 s.
func (h *harness) open(method, path, key string, body any) *http.Response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	h.t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, h.ts.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return res
}

// start starts agent for alice and returns the session id.
func (h *harness) start(key, agent string) string {
	h.t.Helper()
	r := h.do("POST", "/start", key, map[string]any{"agentType": agent, "message": "hi"})
	if r.status != 200 {
		h.t.Fatalf("start %s: %d %s", agent, r.status, r.body)
	}
	var out api.RunRef
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		h.t.Fatal(err)
	}
	if out.SessionID == "" || out.RunID == "" || out.StreamID != out.SessionID {
		h.t.Fatalf("start response %s", r.body)
	}
	if r.header.Get(SessionIDHeader) != out.SessionID {
		h.t.Fatalf("X-Session-Id = %q, want %q", r.header.Get(SessionIDHeader), out.SessionID)
	}
	return out.SessionID
}

// wait blocks until the session's run has stopped in this process.
func (h *harness) wait(sessionID string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.rt.Wait(ctx, sessionID); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) status(key, sessionID string) helix.StatusInfo {
	h.t.Helper()
	r := h.do("GET", "/status?sessionId="+sessionID, key, nil)
	if r.status != 200 {
		h.t.Fatalf("status: %d %s", r.status, r.body)
	}
	var st helix.StatusInfo
	if err := json.Unmarshal([]byte(r.body), &st); err != nil {
		h.t.Fatal(err)
	}
	return st
}

// sseEvents reads a whole SSE stream (until the server closes it).
func (h *harness) sseEvents(path, key string, hdr map[string]string) (int, []sse.Event) {
	h.t.Helper()
	req, err := http.NewRequest("GET", h.ts.URL+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := h.ts.Client().Do(req.WithContext(ctx))
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return res.StatusCode, nil
	}
	var evs []sse.Event
	for ev, err := range sse.Decode(res.Body) {
		if err != nil {
			h.t.Fatalf("decode stream: %v", err)
		}
		evs = append(evs, ev)
	}
	return res.StatusCode, evs
}

// chunksOf decodes the chunk events of a stream, checking id == sequence.
func chunksOf(t *testing.T, evs []sse.Event) (chunks []helix.Chunk, end string) {
	t.Helper()
	for _, ev := range evs {
		switch ev.Name {
		case "chunk":
			var c helix.Chunk
			if err := json.Unmarshal([]byte(ev.Data), &c); err != nil {
				t.Fatalf("chunk %q: %v", ev.Data, err)
			}
			if ev.ID != strconv.FormatInt(c.Sequence, 10) {
				t.Fatalf("event id %q, chunk sequence %d", ev.ID, c.Sequence)
			}
			chunks = append(chunks, c)
		case "end":
			var e struct{ Status string }
			if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
				t.Fatal(err)
			}
			end = e.Status
		}
	}
	return chunks, end
}

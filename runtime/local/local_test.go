package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/scripted"
	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/memstore"
	"github.com/helix-agents/helix-go/store/redisstore"
	"github.com/helix-agents/helix-go/store/sqlitestore"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// env is a runtime on a memory store (or the one envStore opens) with a
// fixed clock and counting ids.
type env struct {
	t  *testing.T
	st store.Store
	rt *local.Runtime
}

// envStore opens the store of newEnv: the memory store, or SQLite while
// TestGoldenSQLite runs.
var envStore = func(*testing.T) store.Store { return memstore.New() }

func newEnv(t *testing.T, opts ...func(*local.Options)) *env {
	t.Helper()
	st := envStore(t)
	var n atomic.Int64
	o := local.Options{
		Store:  st,
		Now:    func() time.Time { return epoch },
		NewID:  func(p string) string { return fmt.Sprintf("%s%06d", p, n.Add(1)) },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, f := range opts {
		f(&o)
	}
	rt, err := local.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rt.Close(context.Background()); err != nil {
			t.Error(err)
		}
		st.Close()
	})
	return &env{t: t, st: st, rt: rt}
}

func (e *env) execute(agent *helix.Agent, msg string, opts ...local.ExecuteOption) *helix.Result {
	e.t.Helper()
	h, err := e.rt.Execute(e.t.Context(), agent, helix.Input{Message: msg}, append([]local.ExecuteOption{local.WithSessionID("s1")}, opts...)...)
	if err != nil {
		e.t.Fatalf("Execute: %v", err)
	}
	return e.wait(h)
}

func (e *env) wait(h *local.Handle) *helix.Result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), 10*time.Second)
	defer cancel()
	res, err := h.Result(ctx)
	if err != nil {
		e.t.Fatalf("Result: %v", err)
	}
	return res
}

func (e *env) submit(session string, sub helix.ToolSubmission) *helix.Result {
	e.t.Helper()
	h, err := e.rt.SubmitToolResult(e.t.Context(), session, sub)
	if err != nil {
		e.t.Fatalf("SubmitToolResult: %v", err)
	}
	if h == nil {
		e.t.Fatalf("SubmitToolResult did not resume the session")
	}
	return e.wait(h)
}

// notes returns a session's state, decoded as Notes.
func (e *env) notes(session string) Notes {
	e.t.Helper()
	sess, err := e.st.GetSession(e.t.Context(), session)
	if err != nil {
		e.t.Fatal(err)
	}
	var n Notes
	if err := json.Unmarshal(sess.State, &n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// transcript returns every chunk of a session's stream, one JSON per line.
func (e *env) transcript(session string) string {
	e.t.Helper()
	chunks, err := e.st.ReadChunks(e.t.Context(), session, 0, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	var b strings.Builder
	for i, c := range chunks {
		if c.Sequence != int64(i+1) {
			e.t.Errorf("chunk %d has sequence %d: sequences must be gap-free", i, c.Sequence)
		}
		raw, err := json.Marshal(c)
		if err != nil {
			e.t.Fatal(err)
		}
		if bytes.ContainsAny(raw, "\r\n") {
			e.t.Errorf("chunk %d holds a raw line break", i)
		}
		b.Write(raw)
		b.WriteByte('\n')
	}
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("transcript %s differs from %s (-update rewrites it)\n got:\n%s\nwant:\n%s", name, path, got, want)
	}
}

func wantStatus(t *testing.T, res *helix.Result, want helix.Status) {
	t.Helper()
	if res.Status != want {
		t.Fatalf("status = %s, want %s (error %+v)", res.Status, want, res.Error)
	}
}

// Tools and agents of the tests.

type addIn struct {
	A int `json:"a" jsonschema:"description=first addend"`
	B int `json:"b" jsonschema:"description=second addend"`
}

type Notes struct {
	Items []string `json:"items"`
	Mood  string   `json:"mood" jsonschema:"default=curious"`
}

type Answer struct {
	Summary string `json:"summary" jsonschema:"description=the final answer"`
}

var addTool = helix.NewTool("add", "Add two integers",
	func(ctx context.Context, tc *helix.ToolContext, in addIn) (int, error) { return in.A + in.B, nil })

type noteIn struct {
	Text string `json:"text"`
}

func noteTool(delay time.Duration) *helix.Tool {
	return helix.NewTool("note", "Write a note into the state",
		func(ctx context.Context, tc *helix.ToolContext, in noteIn) (string, error) {
			if delay > 0 {
				select {
				case <-time.After(delay):
				case <-ctx.Done():
					return "", ctx.Err()
				}
			}
			if err := tc.Emit("noted", map[string]string{"text": in.Text}); err != nil {
				return "", err
			}
			return "noted: " + in.Text, helix.UpdateState(tc, func(n *Notes) error {
				n.Items = append(n.Items, in.Text)
				return nil
			})
		})
}

var deleteTool = helix.NewTool("delete_file", "Delete a file",
	func(ctx context.Context, tc *helix.ToolContext, in struct {
		Path string `json:"path"`
	}) (string, error) {
		return "deleted " + in.Path, nil
	}, helix.RequireApproval())

func agentWith(t *testing.T, cfg helix.AgentConfig) *helix.Agent {
	t.Helper()
	a, err := helix.NewAgent(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func script(t *testing.T, js string) llm.Model {
	t.Helper()
	m, err := scripted.Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var fastRetry = llm.RetryPolicy{BaseDelay: time.Microsecond, MaxDelay: time.Millisecond}

func TestGolden(t *testing.T) { testGolden(t) }

// TestGoldenSQLite runs the golden transcripts on SQLite, whose store
// queues chunks and ends a run in one write (store.ChunkQueuer,
// store.RunEnder): the same chunks, in the same order.
func TestGoldenSQLite(t *testing.T) {
	envStore = func(t *testing.T) store.Store {
		st, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "helix.db"), sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	t.Cleanup(func() { envStore = func(*testing.T) store.Store { return memstore.New() } })
	testGolden(t)
}

func testGolden(t *testing.T) {
	t.Run("plain_text", func(t *testing.T) {
		e := newEnv(t)
		a := agentWith(t, helix.AgentConfig{Name: "chat", SystemPrompt: "Be brief.",
			Model: script(t, `{"turns":[{"text":"Hello there, how can I help?"}]}`)})
		res := e.execute(a, "Hi")
		wantStatus(t, res, helix.StatusCompleted)
		golden(t, "plain_text", e.transcript("s1"))
	})

	t.Run("tool_then_text", func(t *testing.T) {
		e := newEnv(t)
		a := agentWith(t, helix.AgentConfig{Name: "calc", Tools: []*helix.Tool{addTool},
			Model: script(t, `{"turns":[{"toolCalls":[{"name":"add","arguments":{"a":1,"b":2}}]},{"text":"The sum is 3."}]}`)})
		res := e.execute(a, "What is 1+2?")
		wantStatus(t, res, helix.StatusCompleted)
		golden(t, "tool_then_text", e.transcript("s1"))
		page, err := e.rt.Messages(t.Context(), "s1", 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 4 || page.Items[2].Parts[0].ToolResult.Text() != "3" {
			t.Errorf("history = %+v, want user, assistant call, tool result 3, assistant text", page.Items)
		}
	})

	t.Run("parallel_tools", func(t *testing.T) {
		e := newEnv(t)
		// The first call is the slowest: its chunks must still come first,
		// and both appends to the same array must survive the merge.
		a := agentWith(t, helix.AgentConfig{Name: "notes", Tools: []*helix.Tool{noteTool(30 * time.Millisecond)}, State: helix.StateOf[Notes](),
			Model: script(t, `{"turns":[{"toolCalls":[{"name":"note","arguments":{"text":"alpha"}},{"name":"note","arguments":{"text":"beta"}},{"name":"note","arguments":{"text":"gamma"}}]},{"text":"Noted."}]}`)})
		res := e.execute(a, "Take notes")
		wantStatus(t, res, helix.StatusCompleted)
		golden(t, "parallel_tools", e.transcript("s1"))
		if n := e.notes("s1"); strings.Join(n.Items, ",") != "alpha,beta,gamma" || n.Mood != "curious" {
			t.Errorf("state = %+v, want items alpha,beta,gamma (in call order) and the default mood", n)
		}
	})

	t.Run("structured_output", func(t *testing.T) {
		e := newEnv(t)
		a := agentWith(t, helix.AgentConfig{Name: "answerer", Output: helix.OutputOf[Answer](),
			Model: script(t, `{"turns":[{"text":"Let me answer.","toolCalls":[{"name":"__finish__","arguments":{"summary":"Forty-two."}}]}]}`)})
		res := e.execute(a, "Answer")
		wantStatus(t, res, helix.StatusCompleted)
		out, err := helix.OutputAs[Answer](res)
		if err != nil || out.Summary != "Forty-two." {
			t.Errorf("output = %+v, %v", out, err)
		}
		golden(t, "structured_output", e.transcript("s1"))
	})

	t.Run("max_steps_forced_completion", func(t *testing.T) {
		e := newEnv(t)
		m := &recordingModel{Model: script(t, `{"turns":[{"toolCalls":[{"name":"add","arguments":{"a":1,"b":1}}]},{"toolCalls":[{"name":"add","arguments":{"a":2,"b":2}}]},{"toolCalls":[{"name":"__finish__","arguments":{"summary":"4"}}]}]}`)}
		a := agentWith(t, helix.AgentConfig{Name: "capped", Tools: []*helix.Tool{addTool}, Output: helix.OutputOf[Answer](), MaxSteps: 2, Model: m})
		res := e.execute(a, "Add forever")
		wantStatus(t, res, helix.StatusCompleted)
		if res.CompletionReason != helix.CompletionMaxSteps {
			t.Errorf("completion reason = %q, want max_steps", res.CompletionReason)
		}
		last := m.last()
		if last.ToolChoice.Name != helix.FinishToolName || len(last.Tools) != 1 {
			t.Errorf("forced call: tool choice %+v with %d tools, want __finish__ only", last.ToolChoice, len(last.Tools))
		}
		golden(t, "max_steps", e.transcript("s1"))
	})

	t.Run("approval_approve", func(t *testing.T) {
		e := newEnv(t)
		a := agentWith(t, helix.AgentConfig{Name: "janitor", Tools: []*helix.Tool{deleteTool},
			Model: script(t, `{"turns":[{"toolCalls":[{"name":"delete_file","arguments":{"path":"/tmp/x"}}]},{"text":"Deleted."}]}`)})
		res := e.execute(a, "Delete /tmp/x")
		wantStatus(t, res, helix.StatusSuspendedApproval)
		if len(res.Pending) != 1 || res.Pending[0].Kind != "approval" {
			t.Fatalf("pending = %+v", res.Pending)
		}
		res = e.submit("s1", helix.ToolSubmission{Kind: helix.SubmitApproval, ToolCallID: res.Pending[0].ToolCallID, Approved: true})
		wantStatus(t, res, helix.StatusCompleted)
		golden(t, "approval_approve", e.transcript("s1"))
	})

	t.Run("approval_deny", func(t *testing.T) {
		e := newEnv(t)
		a := agentWith(t, helix.AgentConfig{Name: "janitor", Tools: []*helix.Tool{deleteTool},
			Model: script(t, `{"turns":[{"toolCalls":[{"name":"delete_file","arguments":{"path":"/etc/passwd"}}]},{"text":"Understood, I will not delete it."}]}`)})
		res := e.execute(a, "Delete /etc/passwd")
		wantStatus(t, res, helix.StatusSuspendedApproval)
		res = e.submit("s1", helix.ToolSubmission{Kind: helix.SubmitApproval, ToolCallID: res.Pending[0].ToolCallID, Reason: "too dangerous"})
		wantStatus(t, res, helix.StatusCompleted)
		golden(t, "approval_deny", e.transcript("s1"))
	})

	t.Run("client_tool", func(t *testing.T) {
		e := newEnv(t)
		loc := helix.ClientTool[struct{}]("get_location", "The user's location, from the browser")
		a := agentWith(t, helix.AgentConfig{Name: "guide", Tools: []*helix.Tool{loc},
			Model: script(t, `{"turns":[{"toolCalls":[{"name":"get_location","arguments":{}}]},{"text":"You are in Paris."}]}`)})
		res := e.execute(a, "Where am I?")
		wantStatus(t, res, helix.StatusSuspendedClientTool)
		res = e.submit("s1", helix.ToolSubmission{Kind: helix.SubmitClientToolResult, ToolCallID: res.Pending[0].ToolCallID, Result: json.RawMessage(`{"city":"Paris"}`)})
		wantStatus(t, res, helix.StatusCompleted)
		golden(t, "client_tool", e.transcript("s1"))
	})

	t.Run("interrupt_then_resume", func(t *testing.T) {
		e := newEnv(t)
		m := &stopAfter{Model: script(t, `{"turns":[{"text":"one two three four five six seven eight","chunkDelayMs":5},{"text":"Resumed."}]}`), n: 3}
		a := agentWith(t, helix.AgentConfig{Name: "talker", Model: m})
		m.stop = func() { e.rt.Interrupt(context.Background(), "s1", "user clicked stop") }
		res := e.execute(a, "Count")
		wantStatus(t, res, helix.StatusInterrupted)
		page, _ := e.rt.Messages(t.Context(), "s1", 0, 10)
		if page.Total != 2 || !page.Items[1].Interrupted || page.Items[1].Text() != "one two three" {
			t.Fatalf("after interrupt: messages %+v, want the partial reply kept and flagged", page.Items)
		}
		h, err := e.rt.Resume(t.Context(), "s1", local.ResumeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, e.wait(h), helix.StatusCompleted)
		golden(t, "interrupt_resume", e.transcript("s1"))
	})

	t.Run("abort", func(t *testing.T) {
		e := newEnv(t)
		m := &stopAfter{Model: script(t, `{"turns":[{"text":"one two three four five","chunkDelayMs":5}]}`), n: 2}
		a := agentWith(t, helix.AgentConfig{Name: "talker", Model: m})
		m.stop = func() { e.rt.Abort(context.Background(), "s1", "runaway") }
		res := e.execute(a, "Count")
		wantStatus(t, res, helix.StatusFailed)
		if !res.Aborted || res.Error.Code != helix.CodeAborted {
			t.Errorf("result = %+v, want aborted", res)
		}
		if _, err := e.rt.Resume(t.Context(), "s1", local.ResumeOptions{}); !errors.Is(err, helix.ErrNotResumable) {
			t.Errorf("Resume after abort = %v, want ErrNotResumable", err)
		}
		if _, err := e.rt.Retry(t.Context(), "s1"); !errors.Is(err, helix.ErrNotResumable) {
			t.Errorf("Retry after abort = %v, want ErrNotResumable", err)
		}
		golden(t, "abort", e.transcript("s1"))
	})

	t.Run("retry_after_model_error", func(t *testing.T) {
		e := newEnv(t)
		a := agentWith(t, helix.AgentConfig{Name: "flaky", Retry: llm.RetryPolicy{MaxRetries: -1},
			Model: script(t, `{"turns":[{"error":{"status":500,"message":"upstream exploded: key sk-secret"}},{"text":"Recovered."}]}`)})
		res := e.execute(a, "Hello")
		wantStatus(t, res, helix.StatusFailed)
		if !res.Error.Retryable || strings.Contains(res.Error.Message, "sk-secret") {
			t.Errorf("error = %+v, want retryable and sanitised", res.Error)
		}
		h, err := e.rt.Retry(t.Context(), "s1")
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, e.wait(h), helix.StatusCompleted)
		golden(t, "retry", e.transcript("s1"))
	})

	t.Run("subagent", func(t *testing.T) {
		e := newEnv(t)
		m := script(t, `{"agents":{
			"lead":{"turns":[{"toolCalls":[{"name":"summarizer","arguments":{"message":"Summarize the notes"}}]},{"text":"The summary is in."}]},
			"summarizer":{"turns":[{"text":"Summarizing.","toolCalls":[{"name":"__finish__","arguments":{"summary":"Short."}}]}]}}}`)
		child := agentWith(t, helix.AgentConfig{Name: "summarizer", Description: "Summarizes", Output: helix.OutputOf[Answer](), Model: m})
		lead := agentWith(t, helix.AgentConfig{Name: "lead", Tools: []*helix.Tool{helix.SubAgentTool(child)}, Model: m})
		res := e.execute(lead, "Go")
		wantStatus(t, res, helix.StatusCompleted)
		golden(t, "subagent", e.transcript("s1"))
		childRes, err := e.rt.Status(t.Context(), "s1.call_1_1")
		if err != nil || childRes.Status != helix.StatusCompleted {
			t.Errorf("child session: %+v, %v", childRes, err)
		}
	})

	t.Run("subagent_suspension", func(t *testing.T) {
		e := newEnv(t)
		m := script(t, `{"agents":{
			"lead":{"turns":[{"toolCalls":[{"name":"cleaner","arguments":{"message":"Clean up"}}]},{"text":"All clean."}]},
			"cleaner":{"turns":[{"toolCalls":[{"name":"delete_file","arguments":{"path":"/tmp/junk"}}]},{"toolCalls":[{"name":"__finish__","arguments":{"summary":"Removed junk."}}]}]}}}`)
		child := agentWith(t, helix.AgentConfig{Name: "cleaner", Tools: []*helix.Tool{deleteTool}, Output: helix.OutputOf[Answer](), Model: m})
		lead := agentWith(t, helix.AgentConfig{Name: "lead", Tools: []*helix.Tool{helix.SubAgentTool(child)}, Model: m})
		res := e.execute(lead, "Clean")
		wantStatus(t, res, helix.StatusSuspendedAwaitingChildren)
		cst, err := e.rt.Status(t.Context(), "s1.call_1_1")
		if err != nil || cst.Status != helix.StatusSuspendedApproval || len(cst.Pending) != 1 {
			t.Fatalf("child: %+v, %v", cst, err)
		}
		if _, err := e.rt.Resume(t.Context(), "s1", local.ResumeOptions{}); !errors.Is(err, helix.ErrNotResumable) {
			t.Errorf("Resume before the child's approval = %v, want ErrNotResumable", err)
		}
		// Approving the child's call resumes the parent, which resumes the child.
		res = e.submit("s1.call_1_1", helix.ToolSubmission{Kind: helix.SubmitApproval, ToolCallID: cst.Pending[0].ToolCallID, Approved: true})
		wantStatus(t, res, helix.StatusCompleted)
		if res.SessionID != "s1" {
			t.Errorf("resumed session = %s, want the parent s1", res.SessionID)
		}
		golden(t, "subagent_suspension", e.transcript("s1"))
	})
}

// stopAfter calls stop after n events of the first call.
type stopAfter struct {
	llm.Model
	n    int
	stop func()
	once sync.Once
}

func (s *stopAfter) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		i := 0
		for ev, err := range s.Model.Stream(ctx, req) {
			if !yield(ev, err) {
				return
			}
			if i++; i == s.n {
				s.once.Do(s.stop)
			}
		}
	}
}

// recordingModel remembers the requests it saw.
type recordingModel struct {
	llm.Model
	mu   sync.Mutex
	reqs []llm.Request
}

func (m *recordingModel) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
	m.mu.Lock()
	m.reqs = append(m.reqs, *req)
	m.mu.Unlock()
	return m.Model.Stream(ctx, req)
}

func (m *recordingModel) last() llm.Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reqs[len(m.reqs)-1]
}

func storeInterrupt() store.ControlRequest {
	return store.ControlRequest{Kind: store.ControlInterrupt, Reason: "from elsewhere", RequestedAt: time.Now()}
}

// failingEnd is a SQLite store whose EndRun fails as in an outage.
type failingEnd struct{ *sqlitestore.Store }

func (failingEnd) EndRun(context.Context, store.Commit, []helix.Chunk, helix.StreamStatus) (int64, error) {
	return 0, errors.New("disk I/O error")
}

// TestEndRunFails: when a store cannot end a run in one write (an outage,
// not a refusal), the stream is still told how the run ended: run_end is
// appended and the stream stops being active, as separate writes.
func TestEndRunFails(t *testing.T) {
	sq, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "helix.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sq.Close() }) // after the runtime's (cleanups run last first)
	e := newEnv(t, func(o *local.Options) { o.Store = failingEnd{sq} })
	a := agentWith(t, helix.AgentConfig{Name: "chat", Model: script(t, `{"turns":[{"text":"Hello."}]}`)})
	res := e.execute(a, "Hi")
	wantStatus(t, res, helix.StatusCompleted)
	chunks, err := sq.ReadChunks(t.Context(), "s1", 0, 0)
	if err != nil || len(chunks) == 0 {
		t.Fatalf("ReadChunks: %d chunks, %v", len(chunks), err)
	}
	if last := chunks[len(chunks)-1]; last.Type != helix.ChunkRunEnd || last.Status != helix.StatusCompleted {
		t.Errorf("last chunk %s (status %s), want run_end completed", last.Type, last.Status)
	}
	if info, err := sq.StreamInfo(t.Context(), "s1"); err != nil || info.Status != helix.StreamEnded {
		t.Errorf("StreamInfo = %+v, %v; want ended", info, err)
	}
}

// activeWhenRunning is a SQLite store that checks, after every write that
// may set a session running, that the session's stream is then active: a
// subscriber that reads the session running must find a live stream, not
// the last run's end.
type activeWhenRunning struct {
	runEnder
	t *testing.T
}

type runEnder interface {
	store.Store
	store.RunEnder
}

func (s activeWhenRunning) check(ctx context.Context, id string) {
	sess, err := s.GetSession(ctx, id)
	if err != nil {
		s.t.Error(err)
		return
	}
	info, err := s.StreamInfo(ctx, id)
	if err != nil {
		s.t.Error(err)
		return
	}
	if sess.Status == helix.StatusRunning && info.Status != helix.StreamActive {
		s.t.Errorf("session %s is running (run %d) while its stream is %s", id, sess.RunCount, info.Status)
	}
}

func (s activeWhenRunning) Commit(ctx context.Context, c store.Commit) (int64, error) {
	v, err := s.runEnder.Commit(ctx, c)
	if err == nil {
		s.check(ctx, c.Session.ID)
	}
	return v, err
}

func (s activeWhenRunning) EndRun(ctx context.Context, c store.Commit, chunks []helix.Chunk, st helix.StreamStatus) (int64, error) {
	v, err := s.runEnder.EndRun(ctx, c, chunks, st)
	if err == nil {
		s.check(ctx, c.Session.ID)
	}
	return v, err
}

// TestLaterRunStartsInOneWrite: a session's second run is committed and
// its stream made active again in one write, with its run_start.
func TestLaterRunStartsInOneWrite(t *testing.T) {
	sq, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "helix.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sq.Close() })
	stores := map[string]runEnder{"sqlite": sq, "memory": memstore.New()}
	if rs := redisStore(t); rs != nil {
		stores["redis"] = rs
	}
	for name, st := range stores {
		t.Run(name, func(t *testing.T) { testLaterRunStartsInOneWrite(t, st) })
	}
}

// redisStore opens a Redis store under a fresh key prefix, whose keys are
// deleted when the test ends, if HELIX_TEST_REDIS_URL names a server, or
// returns nil. HELIX_REQUIRE_BACKENDS makes a missing URL fail the test.
func redisStore(t *testing.T) *redisstore.Store {
	u := os.Getenv("HELIX_TEST_REDIS_URL")
	if u == "" {
		if os.Getenv("HELIX_REQUIRE_BACKENDS") != "" {
			t.Fatal("HELIX_REQUIRE_BACKENDS is set but HELIX_TEST_REDIS_URL is not")
		}
		return nil
	}
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	prefix := fmt.Sprintf("helixtest:local:%d:", time.Now().UnixNano())
	rs, err := redisstore.Open(t.Context(), u+sep+"ttl=1h&prefix="+url.QueryEscape(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = rs.Close()
		opt, err := redis.ParseURL(u)
		if err != nil {
			t.Error(err)
			return
		}
		c := redis.NewClient(opt)
		defer c.Close()
		ctx := context.Background()
		keys, err := c.Keys(ctx, prefix+"*").Result()
		if err == nil && len(keys) > 0 {
			err = c.Del(ctx, keys...).Err()
		}
		if err != nil {
			t.Errorf("deleting the test's keys: %v", err)
		}
	})
	return rs
}

func testLaterRunStartsInOneWrite(t *testing.T, st runEnder) {
	e := newEnv(t, func(o *local.Options) { o.Store = activeWhenRunning{st, t} })
	a := agentWith(t, helix.AgentConfig{Name: "chat", Model: script(t, `{"turns":[{"text":"Hello."},{"text":"Again."}]}`)})
	wantStatus(t, e.execute(a, "Hi"), helix.StatusCompleted)
	wantStatus(t, e.execute(a, "Once more"), helix.StatusCompleted)
	chunks, err := st.ReadChunks(t.Context(), "s1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var starts []int64
	for _, c := range chunks {
		if c.Type == helix.ChunkRunStart {
			starts = append(starts, c.Sequence)
		}
	}
	if len(starts) != 2 || chunks[len(chunks)-1].Type != helix.ChunkRunEnd {
		t.Fatalf("run_start at %v, last chunk %s; want two runs, ended", starts, chunks[len(chunks)-1].Type)
	}
}

package local_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/scripted"
	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/memstore"
)

// hookRecorder records every hook call as "Name" or "Name:detail".
type hookRecorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *hookRecorder) add(s string) error {
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.mu.Unlock()
	return nil
}

func (r *hookRecorder) hooks() helix.Hooks {
	return helix.Hooks{
		OnAgentStart:    func(context.Context, *helix.HookContext, helix.Input) error { return r.add("OnAgentStart") },
		OnAgentResumed:  func(context.Context, *helix.HookContext) error { return r.add("OnAgentResumed") },
		OnAgentComplete: func(context.Context, *helix.HookContext, json.RawMessage) error { return r.add("OnAgentComplete") },
		OnAgentFail:     func(context.Context, *helix.HookContext, error) error { return r.add("OnAgentFail") },
		OnAgentSuspended: func(_ context.Context, _ *helix.HookContext, s helix.Status) error {
			return r.add("OnAgentSuspended:" + string(s))
		},
		OnMessage: func(_ context.Context, _ *helix.HookContext, m llm.Message) error {
			return r.add("OnMessage:" + string(m.Role))
		},
		BeforeLLMCall: func(context.Context, *helix.HookContext, *llm.Request) error { return r.add("BeforeLLMCall") },
		AfterLLMCall:  func(context.Context, *helix.HookContext, llm.Message, llm.Usage) error { return r.add("AfterLLMCall") },
		OnStateChange: func(context.Context, *helix.HookContext, []helix.PatchOp) error { return r.add("OnStateChange") },
		BeforeTool: func(_ context.Context, _ *helix.HookContext, c llm.ToolCall) error {
			return r.add("BeforeTool:" + c.Name)
		},
		AfterTool: func(_ context.Context, _ *helix.HookContext, c llm.ToolCall, _ llm.ToolResult) error {
			return r.add("AfterTool:" + c.Name)
		},
		BeforeSubAgent: func(context.Context, *helix.HookContext, llm.ToolCall, string) error { return r.add("BeforeSubAgent") },
		AfterSubAgent: func(_ context.Context, _ *helix.HookContext, _ llm.ToolCall, _ string, s helix.Status, _ json.RawMessage) error {
			return r.add("AfterSubAgent:" + string(s))
		},
	}
}

func TestHookOrder(t *testing.T) {
	e := newEnv(t)
	rec := &hookRecorder{}
	var executed []string
	var mu sync.Mutex
	tool := helix.NewTool("note", "note", func(ctx context.Context, tc *helix.ToolContext, in noteIn) (string, error) {
		mu.Lock()
		executed = append(executed, "execute")
		mu.Unlock()
		rec.add("execute")
		return "ok", helix.UpdateState(tc, func(n *Notes) error { n.Items = append(n.Items, in.Text); return nil })
	})
	a := agentWith(t, helix.AgentConfig{Name: "hooked", Tools: []*helix.Tool{tool}, State: helix.StateOf[Notes](), Hooks: rec.hooks(),
		Model: script(t, `{"turns":[{"toolCalls":[{"name":"note","arguments":{"text":"x"}}]},{"text":"done"}]}`)})
	res := e.execute(a, "go")
	wantStatus(t, res, helix.StatusCompleted)
	want := []string{
		"OnAgentStart", "OnMessage:user",
		"BeforeLLMCall", "AfterLLMCall", "OnMessage:assistant",
		"BeforeTool:note", "execute", "OnStateChange", "OnMessage:tool", "AfterTool:note",
		"BeforeLLMCall", "AfterLLMCall", "OnMessage:assistant",
		"OnAgentComplete",
	}
	if !slices.Equal(rec.calls, want) {
		t.Errorf("hook order:\n got %v\nwant %v", rec.calls, want)
	}
}

func TestHookOrderSuspendResumeAndSubAgent(t *testing.T) {
	e := newEnv(t)
	rec := &hookRecorder{}
	m := script(t, `{"agents":{
		"lead":{"turns":[{"toolCalls":[{"name":"cleaner","arguments":{"message":"Clean"}}]},{"text":"ok"}]},
		"cleaner":{"turns":[{"toolCalls":[{"name":"delete_file","arguments":{"path":"/a"}}]},{"toolCalls":[{"name":"__finish__","arguments":{"summary":"done"}}]}]}}}`)
	child := agentWith(t, helix.AgentConfig{Name: "cleaner", Tools: []*helix.Tool{deleteTool}, Output: helix.OutputOf[Answer](), Model: m})
	lead := agentWith(t, helix.AgentConfig{Name: "lead", Tools: []*helix.Tool{helix.SubAgentTool(child)}, Model: m})
	h, err := e.rt.Execute(t.Context(), lead, helix.Input{Message: "go"}, local.WithSessionID("s1"), local.WithHooks(rec.hooks()))
	if err != nil {
		t.Fatal(err)
	}
	res := e.wait(h)
	wantStatus(t, res, helix.StatusSuspendedAwaitingChildren)
	// Execution hooks are inherited by the child: its suspension is seen first.
	for _, w := range []string{"BeforeSubAgent", "OnAgentSuspended:suspended_approval", "AfterSubAgent:suspended_approval", "OnAgentSuspended:suspended_awaiting_children"} {
		if !slices.Contains(rec.calls, w) {
			t.Errorf("hooks %v lack %s", rec.calls, w)
		}
	}
	if i, j := slices.Index(rec.calls, "OnAgentSuspended:suspended_approval"), slices.Index(rec.calls, "AfterSubAgent:suspended_approval"); i > j {
		t.Errorf("child suspension after AfterSubAgent: %v", rec.calls)
	}
}

func TestHookErrorFailsRunUnlessBestEffort(t *testing.T) {
	for _, best := range []bool{false, true} {
		t.Run(fmt.Sprint("bestEffort=", best), func(t *testing.T) {
			e := newEnv(t)
			h := helix.Hooks{BestEffort: best, BeforeTool: func(context.Context, *helix.HookContext, llm.ToolCall) error { panic("hook bug") }}
			a := agentWith(t, helix.AgentConfig{Name: "calc", Tools: []*helix.Tool{addTool}, Hooks: h,
				Model: script(t, `{"turns":[{"toolCalls":[{"name":"add","arguments":{"a":1,"b":2}}]},{"text":"3"}]}`)})
			res := e.execute(a, "go")
			if best {
				wantStatus(t, res, helix.StatusCompleted)
				return
			}
			wantStatus(t, res, helix.StatusFailed)
			if res.Error.Code != helix.CodeHookError || strings.Contains(res.Error.Message, "hook bug") {
				t.Errorf("error = %+v, want a sanitised hook_error", res.Error)
			}
		})
	}
}

// chunksOf returns the session's chunks of one type.
func (e *env) chunksOf(session string, typ helix.ChunkType) []helix.Chunk {
	all, err := e.st.ReadChunks(e.t.Context(), session, 0, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []helix.Chunk
	for _, c := range all {
		if c.Type == typ {
			out = append(out, c)
		}
	}
	return out
}

func TestBadInput(t *testing.T) {
	panicky := helix.NewTool("boom", "panics", func(context.Context, *helix.ToolContext, struct{}) (string, error) {
		panic("secret internal state")
	})
	// 200 KiB of NULs, each escaped to six bytes of JSON: over 1 MiB once
	// encoded, though the string itself is small.
	huge := helix.NewTool("huge", "returns a large result", func(context.Context, *helix.ToolContext, struct{}) (string, error) {
		return strings.Repeat("\x00", 200<<10), nil
	})
	// A result of 200 KiB of '<', which encoding/json escapes to six
	// bytes each.
	angles := helix.NewTool("angles", "returns many angle brackets", func(context.Context, *helix.ToolContext, struct{}) (json.RawMessage, error) {
		return json.RawMessage(`"` + strings.Repeat("<", 200<<10) + `"`), nil
	})
	// An error text of 1 MiB, whose 8 KiB cut falls inside an "é".
	wordy := helix.NewTool("wordy", "fails at length", func(context.Context, *helix.ToolContext, struct{}) (string, error) {
		return "", errors.New("failed:  " + strings.Repeat("é", 512<<10))
	})
	cases := []struct {
		name      string
		script    string
		retry     llm.RetryPolicy
		status    helix.Status
		toolError string // substring of the tool_end error, if any
		errCode   string // code of the error chunk, if any
	}{
		{name: "invalid_arguments", script: `{"turns":[{"toolCalls":[{"name":"add","arguments":{"a":"one","b":2}}]},{"text":"sorry"}]}`,
			status: helix.StatusCompleted, toolError: "invalid tool arguments"},
		{name: "arguments_not_json", script: `{"turns":[{"toolCalls":[{"name":"add","arguments":"{\"a\":1,"}]},{"text":"sorry"}]}`,
			status: helix.StatusCompleted, toolError: "invalid tool arguments"},
		{name: "missing_required", script: `{"turns":[{"toolCalls":[{"name":"add","arguments":{"a":1}}]},{"text":"sorry"}]}`,
			status: helix.StatusCompleted, toolError: "b"},
		{name: "unknown_tool", script: `{"turns":[{"toolCalls":[{"name":"rm_rf","arguments":{}}]},{"text":"sorry"}]}`,
			status: helix.StatusCompleted, toolError: `unknown tool "rm_rf"`},
		{name: "tool_panic", script: `{"turns":[{"toolCalls":[{"name":"boom","arguments":{}}]},{"text":"sorry"}]}`,
			status: helix.StatusCompleted, toolError: "the tool failed unexpectedly"},
		{name: "result_too_large", script: `{"turns":[{"toolCalls":[{"name":"huge","arguments":{}}]},{"text":"sorry"}]}`,
			status: helix.StatusCompleted, toolError: "larger than 1048576 bytes"},
		{name: "result_too_large_escaped", script: `{"turns":[{"toolCalls":[{"name":"angles","arguments":{}}]},{"text":"sorry"}]}`,
			status: helix.StatusCompleted, toolError: "larger than 1048576 bytes"},
		{name: "long_error_cut", script: `{"turns":[{"toolCalls":[{"name":"wordy","arguments":{}}]},{"text":"sorry"}]}`,
			status: helix.StatusCompleted, toolError: "failed:  éé"},
		{name: "retryable_model_error_retried", script: `{"turns":[{"error":{"status":429,"message":"slow down"}},{"error":{"status":503,"message":"busy"}},{"text":"fine"}]}`,
			retry: fastRetry, status: helix.StatusCompleted},
		{name: "non_retryable_model_error", script: `{"turns":[{"error":{"status":401,"message":"bad key sk-live-123"}},{"text":"never"}]}`,
			retry: fastRetry, status: helix.StatusFailed, errCode: helix.CodeModelError},
		{name: "retries_exhausted", script: `{"turns":[{"error":{"status":500}},{"error":{"status":500}},{"text":"late"}]}`,
			retry: llm.RetryPolicy{MaxRetries: 1, BaseDelay: time.Microsecond}, status: helix.StatusFailed, errCode: helix.CodeModelError},
		{name: "exhausted_script", script: `{"turns":[{"toolCalls":[{"name":"add","arguments":{"a":1,"b":1}}]}]}`,
			status: helix.StatusFailed, errCode: "script_exhausted"},
		{name: "invalid_finish_output", script: `{"turns":[{"toolCalls":[{"name":"__finish__","arguments":{"wrong":1}}]},{"toolCalls":[{"name":"__finish__","arguments":{"summary":"ok"}}]}]}`,
			status: helix.StatusCompleted, toolError: "invalid tool arguments"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			cfg := helix.AgentConfig{Name: "bad", Tools: []*helix.Tool{addTool, panicky, huge, angles, wordy}, Retry: tc.retry, Model: script(t, tc.script)}
			if tc.name == "invalid_finish_output" {
				cfg.Output = helix.OutputOf[Answer]()
			}
			res := e.execute(agentWith(t, cfg), "go")
			wantStatus(t, res, tc.status)
			if tc.toolError != "" {
				ends := e.chunksOf("s1", helix.ChunkToolEnd)
				if len(ends) == 0 || ends[0].Success || !strings.Contains(ends[0].ToolError, tc.toolError) {
					for _, c := range ends {
						t.Logf("tool_end: success %v, error %q, result %d bytes", c.Success, c.ToolError, len(c.Result))
					}
					t.Errorf("%d tool_end chunks, want a failed call mentioning %q", len(ends), tc.toolError)
				}
				if len(ends[0].ToolError) > helix.MaxToolErrorLen || !utf8.ValidString(ends[0].ToolError) {
					t.Errorf("tool_end error is %d bytes (valid UTF-8: %v), want at most %d", len(ends[0].ToolError), utf8.ValidString(ends[0].ToolError), helix.MaxToolErrorLen)
				}
				if n := len(ends[0].Result); n > helix.MaxToolErrorLen+64 {
					t.Errorf("tool_end result is %d bytes, want the error alone", n)
				}
				if strings.Contains(ends[0].ToolError, "secret internal state") {
					t.Errorf("tool_end leaks the panic value: %q", ends[0].ToolError)
				}
			}
			errs := e.chunksOf("s1", helix.ChunkError)
			switch {
			case tc.errCode == "" && len(errs) > 0:
				t.Errorf("unexpected error chunks %+v", errs)
			case tc.errCode != "":
				if len(errs) != 1 || errs[0].Error.Code != tc.errCode {
					t.Fatalf("error chunks = %+v, want one with code %s", errs, tc.errCode)
				}
				if strings.Contains(errs[0].Error.Message, "sk-live") || strings.Contains(errs[0].Error.Message, "bad key") {
					t.Errorf("error chunk leaks the provider message: %+v", errs[0].Error)
				}
			}
			ends := e.chunksOf("s1", helix.ChunkRunEnd)
			if len(ends) != 1 || ends[0].Status != tc.status {
				t.Errorf("run_end = %+v, want status %s", ends, tc.status)
			}
		})
	}
}

func TestMaxStepsWithoutOutputFails(t *testing.T) {
	e := newEnv(t)
	a := agentWith(t, helix.AgentConfig{Name: "loop", Tools: []*helix.Tool{addTool}, MaxSteps: 2,
		Model: script(t, `{"turns":[{"toolCalls":[{"name":"add","arguments":{"a":1,"b":1}}]},{"toolCalls":[{"name":"add","arguments":{"a":1,"b":1}}]},{"text":"never"}]}`)})
	res := e.execute(a, "go")
	wantStatus(t, res, helix.StatusFailed)
	if res.Error.Code != helix.CodeMaxSteps || res.StepCount != 2 {
		t.Errorf("result = %+v, want max_steps after 2 steps", res)
	}
}

func TestStopWhen(t *testing.T) {
	e := newEnv(t)
	a := agentWith(t, helix.AgentConfig{Name: "loop", Tools: []*helix.Tool{addTool}, Output: helix.OutputOf[Answer](),
		StopWhen: func(s helix.StepInfo) bool { return s.Step == 2 },
		Model:    script(t, `{"turns":[{"toolCalls":[{"name":"add","arguments":{"a":1,"b":1}}]},{"toolCalls":[{"name":"add","arguments":{"a":1,"b":1}}]},{"text":"never"}]}`)})
	res := e.execute(a, "go")
	wantStatus(t, res, helix.StatusCompleted)
	if res.CompletionReason != helix.CompletionStopWhen || res.StepCount != 2 {
		t.Errorf("result = %+v, want stop_when after 2 steps", res)
	}
}

func TestApprovalMisuse(t *testing.T) {
	e := newEnv(t)
	a := agentWith(t, helix.AgentConfig{Name: "janitor", Tools: []*helix.Tool{deleteTool},
		Model: script(t, `{"turns":[{"toolCalls":[{"name":"delete_file","arguments":{"path":"/x"}}]},{"text":"done"}]}`)})
	res := e.execute(a, "go")
	wantStatus(t, res, helix.StatusSuspendedApproval)
	id := res.Pending[0].ToolCallID
	for _, sub := range []helix.ToolSubmission{
		{Kind: helix.SubmitApproval, ToolCallID: "call_nope", Approved: true},
		{Kind: helix.SubmitClientToolResult, ToolCallID: id, Result: json.RawMessage(`1`)}, // wrong kind
	} {
		if _, err := e.rt.SubmitToolResult(t.Context(), "s1", sub); !errors.Is(err, helix.ErrNotPending) {
			t.Errorf("SubmitToolResult(%+v) = %v, want ErrNotPending", sub, err)
		}
	}
	if _, err := e.rt.SubmitToolResult(t.Context(), "s1", helix.ToolSubmission{Kind: helix.SubmitApproval, ToolCallID: strings.Repeat("x", 300)}); !errors.Is(err, helix.ErrInvalidInput) {
		t.Errorf("over-long id: %v, want ErrInvalidInput", err)
	}
	res = e.submit("s1", helix.ToolSubmission{Kind: helix.SubmitApproval, ToolCallID: id, Approved: true})
	wantStatus(t, res, helix.StatusCompleted)
	if _, err := e.rt.SubmitToolResult(t.Context(), "s1", helix.ToolSubmission{Kind: helix.SubmitApproval, ToolCallID: id, Approved: true}); !errors.Is(err, helix.ErrNotPending) {
		t.Errorf("second use of an approval = %v, want ErrNotPending", err)
	}
	if n := len(e.chunksOf("s1", helix.ChunkToolEnd)); n != 1 {
		t.Errorf("the approved tool ran %d times, want once", n)
	}
}

func TestApprovalSurvivesRestart(t *testing.T) {
	st := memstore.New()
	defer st.Close()
	model := script(t, `{"turns":[{"toolCalls":[{"name":"delete_file","arguments":{"path":"/x"}}]},{"text":"done"}]}`)
	a := agentWith(t, helix.AgentConfig{Name: "janitor", Tools: []*helix.Tool{deleteTool}, Model: model})
	rt1, _ := local.New(local.Options{Store: st})
	h, err := rt1.Execute(t.Context(), a, helix.Input{Message: "go"}, local.WithSessionID("s1"))
	if err != nil {
		t.Fatal(err)
	}
	res, _ := h.Result(t.Context())
	wantStatus(t, res, helix.StatusSuspendedApproval)
	rt1.Close(t.Context())
	// A new runtime (a restarted process) on the same store.
	rt2, _ := local.New(local.Options{Store: st})
	defer rt2.Close(context.Background())
	rt2.Agents().Register(a)
	h, err = rt2.SubmitToolResult(t.Context(), "s1", helix.ToolSubmission{Kind: helix.SubmitApproval, ToolCallID: res.Pending[0].ToolCallID, Approved: true})
	if err != nil || h == nil {
		t.Fatalf("submit after restart: %v, %v", h, err)
	}
	res, _ = h.Result(t.Context())
	wantStatus(t, res, helix.StatusCompleted)
}

func TestExecuteWhileRunning(t *testing.T) {
	e := newEnv(t)
	a := agentWith(t, helix.AgentConfig{Name: "slow", Model: script(t, `{"turns":[{"text":"a b c d e f g h","chunkDelayMs":20}]}`)})
	h, err := e.rt.Execute(t.Context(), a, helix.Input{Message: "go"}, local.WithSessionID("s1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.Execute(t.Context(), a, helix.Input{Message: "again"}, local.WithSessionID("s1")); !errors.Is(err, helix.ErrAlreadyRunning) {
		t.Errorf("second Execute = %v, want ErrAlreadyRunning", err)
	}
	// Stream from the start: every chunk of the run, ending with run_end.
	var types []helix.ChunkType
	for c, err := range h.Stream(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, c.Type)
	}
	if types[0] != helix.ChunkRunStart || types[len(types)-1] != helix.ChunkRunEnd {
		t.Errorf("stream = %v", types)
	}
	wantStatus(t, e.wait(h), helix.StatusCompleted)
	// A completed session takes a new turn with the full history.
	res := e.execute(agentWith(t, helix.AgentConfig{Name: "slow", Model: script(t, `{"turns":[{"text":"first"},{"text":"second"}]}`)}), "more")
	wantStatus(t, res, helix.StatusCompleted)
	page, _ := e.rt.Messages(t.Context(), "s1", 0, 50)
	if page.Total != 4 || page.Items[3].Text() != "second" {
		t.Errorf("after the second turn: %d messages, last %q", page.Total, page.Items[page.Total-1].Text())
	}
}

func TestInterruptFromAnotherProcess(t *testing.T) {
	// A durable request written straight to the store (as another process
	// would) stops a streaming model call.
	e := newEnv(t, func(o *local.Options) { o.Now = time.Now; o.ControlPollInterval = time.Millisecond })
	a := agentWith(t, helix.AgentConfig{Name: "slow", Model: script(t, `{"turns":[{"text":"a b c d e f g h i j k l m n o p","chunkDelayMs":20}]}`)})
	h, err := e.rt.Execute(t.Context(), a, helix.Input{Message: "go"}, local.WithSessionID("s1"))
	if err != nil {
		t.Fatal(err)
	}
	for c := range h.Stream(t.Context()) {
		if c.Type == helix.ChunkTextDelta {
			if err := e.st.RequestControl(t.Context(), "s1", storeInterrupt()); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	res := e.wait(h)
	wantStatus(t, res, helix.StatusInterrupted)
	if n := len(e.chunksOf("s1", helix.ChunkTextDelta)); n >= 16 {
		t.Errorf("%d deltas streamed: the interrupt was not honoured mid-stream", n)
	}
}

// TestInterruptFromAnotherProcessBetweenSteps: a durable request written
// to the store (as another process would) while a tool runs stops the run
// before its next step, however soon: step boundaries always ask the store
// (the interval throttles only the polls during a model call).
func TestInterruptFromAnotherProcessBetweenSteps(t *testing.T) {
	e := newEnv(t, func(o *local.Options) { o.ControlPollInterval = time.Hour })
	tool := helix.NewTool("note", "note", func(ctx context.Context, tc *helix.ToolContext, in noteIn) (string, error) {
		return "ok", e.st.RequestControl(ctx, tc.SessionID, storeInterrupt())
	})
	a := agentWith(t, helix.AgentConfig{Name: "two-steps", Tools: []*helix.Tool{tool},
		Model: script(t, `{"turns":[{"toolCalls":[{"name":"note","arguments":{"text":"x"}}]},{"text":"done"}]}`)})
	res := e.execute(a, "go")
	wantStatus(t, res, helix.StatusInterrupted)
	if res.StepCount != 1 {
		t.Errorf("interrupted after %d steps, want 1 (before the second model call)", res.StepCount)
	}
}

func TestCloseInterruptsRuns(t *testing.T) {
	st := memstore.New()
	defer st.Close()
	rt, _ := local.New(local.Options{Store: st})
	a := agentWith(t, helix.AgentConfig{Name: "slow", Model: script(t, `{"turns":[{"text":"a b c d e f g h i j","chunkDelayMs":50}]}`)})
	h, err := rt.Execute(t.Context(), a, helix.Input{Message: "go"})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	res, _ := h.Result(t.Context())
	wantStatus(t, res, helix.StatusInterrupted)
	if _, err := rt.Execute(t.Context(), a, helix.Input{Message: "go"}); err == nil {
		t.Error("Execute after Close succeeded")
	}
}

// BenchmarkStep measures one agent step: a zero-delay scripted model call
// asking for one tool call, the tool, and the step's commit on the memory
// store. Each iteration is a 10-step run plus a final text answer; the
// per-step figures are reported as ns/step and allocs/step.
func BenchmarkStep(b *testing.B) {
	const steps = 10
	var turns []scripted.Turn
	for range steps {
		turns = append(turns, scripted.Turn{ToolCalls: []scripted.ToolCall{{Name: "add", Arguments: json.RawMessage(`{"a":1,"b":2}`)}}})
	}
	turns = append(turns, scripted.Turn{Text: "done"})
	model := scripted.New(scripted.Script{Turns: turns})
	a := helix.MustNewAgent(helix.AgentConfig{Name: "bench", Tools: []*helix.Tool{addTool}, Model: model, MaxSteps: 100})
	st := memstore.New()
	defer st.Close()
	rt, _ := local.New(local.Options{Store: st})
	defer rt.Close(context.Background())
	ctx := context.Background()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		h, err := rt.Execute(ctx, a, helix.Input{Message: "add"}, local.WithSessionID(fmt.Sprint("b", i)))
		if err != nil {
			b.Fatal(err)
		}
		res, _ := h.Result(ctx)
		if res.Status != helix.StatusCompleted {
			b.Fatalf("status %s: %+v", res.Status, res.Error)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	n := float64(b.N * (steps + 1))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/step")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/step")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/n, "B/step")
}

// windingDown is a store whose first SetStreamStatus to a status other
// than active (a run's end) holds the run's goroutine right after the
// status is set: the run has ended in the store but its execution has not
// yet let go of the session.
type windingDown struct {
	store.Store
	once    sync.Once
	ended   chan struct{} // closed when the run's end is stored
	release chan struct{} // the test closes it to let the run go on
}

func (w *windingDown) SetStreamStatus(ctx context.Context, id string, fence uint64, status helix.StreamStatus) error {
	err := w.Store.SetStreamStatus(ctx, id, fence, status)
	if status != helix.StreamActive {
		w.once.Do(func() {
			close(w.ended)
			<-w.release
		})
	}
	return err
}

// TestAnswerWhileRunWindsDown: an approval given as soon as the suspended
// run's end is stored, while its execution is still letting go of the
// session, resumes the run (it waits for the execution) instead of
// recording the answer and resuming nothing.
func TestAnswerWhileRunWindsDown(t *testing.T) {
	w := &windingDown{Store: memstore.New(), ended: make(chan struct{}), release: make(chan struct{})}
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(w.release) }) }
	e := newEnv(t, func(o *local.Options) { o.Store = w })
	t.Cleanup(release) // before the runtime closes (cleanups run last first)
	a := agentWith(t, helix.AgentConfig{Name: "janitor", Tools: []*helix.Tool{deleteTool},
		Model: script(t, `{"turns":[{"toolCalls":[{"name":"delete_file","arguments":{"path":"/x"}}]},{"text":"done"}]}`)})
	h, err := e.rt.Execute(t.Context(), a, helix.Input{Message: "go"}, local.WithSessionID("s1"))
	if err != nil {
		t.Fatal(err)
	}
	<-w.ended
	st, err := e.rt.Status(t.Context(), "s1")
	if err != nil || st.Status != helix.StatusSuspendedApproval || len(st.Pending) != 1 {
		t.Fatalf("status while the run winds down: %+v, %v", st, err)
	}
	type answer struct {
		h   *local.Handle
		err error
	}
	got := make(chan answer, 1)
	go func() {
		hh, err := e.rt.SubmitToolResult(t.Context(), "s1", helix.ToolSubmission{Kind: helix.SubmitApproval, ToolCallID: st.Pending[0].ToolCallID, Approved: true})
		got <- answer{hh, err}
	}()
	select {
	case a := <-got:
		t.Fatalf("the answer returned (%v, %v) before the ending run let go of the session", a.h, a.err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	e.wait(h)
	a2 := <-got
	if a2.err != nil || a2.h == nil {
		t.Fatalf("SubmitToolResult = %v, %v; want the resumed run", a2.h, a2.err)
	}
	wantStatus(t, e.wait(a2.h), helix.StatusCompleted)
}

// blockedCommit is a store whose first Commit waits until released: a run
// held while it is being prepared.
type blockedCommit struct {
	store.Store
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (b *blockedCommit) Commit(ctx context.Context, c store.Commit) (int64, error) {
	b.once.Do(func() {
		close(b.entered)
		<-b.release
	})
	return b.Store.Commit(ctx, c)
}

// TestExecuteWhilePreparing: a second start of a session whose first run is
// still being prepared fails at once with ErrAlreadyRunning; it does not
// wait for the first run (which has no id yet, like the session's current
// run).
func TestExecuteWhilePreparing(t *testing.T) {
	b := &blockedCommit{Store: memstore.New(), entered: make(chan struct{}), release: make(chan struct{})}
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(b.release) }) }
	e := newEnv(t, func(o *local.Options) { o.Store = b })
	t.Cleanup(release)
	a := agentWith(t, helix.AgentConfig{Name: "echo", Model: script(t, `{"turns":[{"text":"one"},{"text":"two"}]}`)})
	first := make(chan error, 1)
	go func() {
		h, err := e.rt.Execute(t.Context(), a, helix.Input{Message: "go"}, local.WithSessionID("s1"))
		if err == nil {
			_, err = h.Result(t.Context())
		}
		first <- err
	}()
	<-b.entered
	second := make(chan error, 1)
	go func() {
		_, err := e.rt.Execute(t.Context(), a, helix.Input{Message: "again"}, local.WithSessionID("s1"))
		second <- err
	}()
	select {
	case err := <-second:
		if !errors.Is(err, helix.ErrAlreadyRunning) {
			t.Errorf("second Execute = %v, want ErrAlreadyRunning", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the second Execute waited for the first run being prepared")
	}
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}

// TestSubAgentSessionSquatted: a session stored under the id a sub-agent
// call's child would get, but not created by that call (another principal
// chose the id), is neither resumed nor taken as the child's outcome: the
// call fails, and the other session is left as it was.
func TestSubAgentSessionSquatted(t *testing.T) {
	e := newEnv(t)
	m := script(t, `{"agents":{
		"lead":{"turns":[{"toolCalls":[{"name":"summarizer","arguments":{"message":"Summarize my notes"}}]},{"text":"Done."}]},
		"summarizer":{"turns":[{"toolCalls":[{"name":"__finish__","arguments":{"summary":"Bob's summary."}}]}]}}}`)
	child := agentWith(t, helix.AgentConfig{Name: "summarizer", Description: "Summarizes", Output: helix.OutputOf[Answer](), Model: m})
	lead := agentWith(t, helix.AgentConfig{Name: "lead", Tools: []*helix.Tool{helix.SubAgentTool(child)}, Model: m})
	// Bob's own session, under the id of the child Alice's call will have.
	const squatted = "s1.call_1_1"
	h, err := e.rt.Execute(t.Context(), child, helix.Input{Message: "mine"}, local.WithSessionID(squatted), local.WithPrincipal("bob"))
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.wait(h), helix.StatusCompleted)
	before, err := e.st.GetSession(t.Context(), squatted)
	if err != nil {
		t.Fatal(err)
	}

	res := e.execute(lead, "Go", local.WithPrincipal("alice"))
	wantStatus(t, res, helix.StatusCompleted)
	tr := e.transcript("s1")
	if !strings.Contains(tr, `"type":"subagent_end"`) || !strings.Contains(tr, `"status":"failed"`) {
		t.Errorf("the sub-agent call did not fail:\n%s", tr)
	}
	if strings.Contains(tr, "Bob's summary") {
		t.Errorf("Alice's run saw Bob's session's output:\n%s", tr)
	}
	after, err := e.st.GetSession(t.Context(), squatted)
	if err != nil {
		t.Fatal(err)
	}
	if after.Principal != "bob" || after.Version != before.Version || after.MessageCount != before.MessageCount {
		t.Errorf("Bob's session changed: principal %q, version %d → %d, messages %d → %d",
			after.Principal, before.Version, after.Version, before.MessageCount, after.MessageCount)
	}
}

// failingModel fails every call with err.
type failingModel struct{ err error }

func (m failingModel) Stream(context.Context, *llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) { yield(llm.Event{}, m.err) }
}

// TestProviderErrorCode: a provider's error code reaches the run's error
// only if it looks like a code; other text (an OpenAI-compatible server may
// put anything there) becomes model_error.
func TestProviderErrorCode(t *testing.T) {
	for _, tc := range []struct{ code, want string }{
		{"rate_limit_exceeded", "rate_limit_exceeded"},
		{"RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED"},
		{"", helix.CodeModelError},
		{"invalid key sk-canary123 for user bob", helix.CodeModelError},
		{strings.Repeat("a", 65), helix.CodeModelError},
		{"code\r\nInjected: 1", helix.CodeModelError},
	} {
		e := newEnv(t)
		a := agentWith(t, helix.AgentConfig{Name: "a", Model: failingModel{&llm.APIError{Provider: "test", Status: 400, Code: tc.code}}})
		res := e.execute(a, "hi")
		wantStatus(t, res, helix.StatusFailed)
		if res.Error == nil || res.Error.Code != tc.want {
			t.Errorf("code %q: run error %+v, want code %q", tc.code, res.Error, tc.want)
		}
	}
}

// TestSubAgentOutputTooLarge: a sub-agent's output over the tool result
// limit (once encoded) reaches the parent as a failed call, as a tool's
// result would.
func TestSubAgentOutputTooLarge(t *testing.T) {
	e := newEnv(t)
	big, err := json.Marshal(map[string]any{"agents": map[string]any{
		"lead": map[string]any{"turns": []any{
			map[string]any{"toolCalls": []any{map[string]any{"name": "summarizer", "arguments": map[string]string{"message": "Go"}}}},
			map[string]any{"text": "Too long."}}},
		"summarizer": map[string]any{"turns": []any{
			map[string]any{"toolCalls": []any{map[string]any{"name": "__finish__", "arguments": map[string]string{"summary": strings.Repeat("<", 200<<10)}}}}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	m := script(t, string(big))
	child := agentWith(t, helix.AgentConfig{Name: "summarizer", Description: "Summarizes", Output: helix.OutputOf[Answer](), Model: m})
	lead := agentWith(t, helix.AgentConfig{Name: "lead", Tools: []*helix.Tool{helix.SubAgentTool(child)}, Model: m})
	wantStatus(t, e.execute(lead, "Go"), helix.StatusCompleted)
	// The child's own tool_end (its __finish__) is forwarded too.
	var calls []helix.Chunk
	for _, c := range e.chunksOf("s1", helix.ChunkToolEnd) {
		if c.ToolName == "summarizer" {
			calls = append(calls, c)
		}
	}
	if len(calls) != 1 || calls[0].Success || !strings.Contains(calls[0].ToolError, "larger than 1048576 bytes") {
		for _, c := range calls {
			t.Logf("tool_end: success %v, error %q, result %d bytes", c.Success, c.ToolError, len(c.Result))
		}
		t.Fatalf("%d tool_end chunks of the sub-agent call, want one failed call over the limit", len(calls))
	}
}

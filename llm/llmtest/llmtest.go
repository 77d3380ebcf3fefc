// Package llmtest is the conformance suite every [llm.Model] adapter runs:
// the same requests and the same judgements for OpenAI, Anthropic, Gemini
// and any adapter to come.
//
// The suite runs offline. Each case's answers are cassettes: files holding
// the provider's HTTP response (status line, headers, the SSE body byte for
// byte) that an [httptest.Server] replays to the adapter. The same cassettes
// are then cut, stalled and corrupted to show that the adapter turns broken
// streams into typed errors, promptly, and never panics or hangs.
//
// With -record and the provider's key in the environment, the suite proxies
// each recordable case to the real API and rewrites its cassettes. -update
// rewrites the golden event transcripts (<case>.<n>.events) that pin what
// the adapter made of each cassette.
package llmtest

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/helix-agents/helix-go/llm"
)

var (
	record = flag.Bool("record", false, "llmtest: re-record cassettes against the real API (needs the provider's key)")
	update = registerUpdate()
)

func registerUpdate() func() bool {
	if f := flag.Lookup("update"); f != nil {
		return func() bool { return f.Value.String() == "true" }
	}
	b := flag.Bool("update", false, "rewrite golden files")
	return func() bool { return *b }
}

// TestKey is the API key the suite gives adapters. It must reach the server
// in a header and never appear in an error.
const TestKey = "sk-helix-conformance-SECRET-0123456789"

// Config is what the suite gives [Harness.New].
type Config struct {
	// BaseURL is the replay server's URL (with the upstream's path).
	BaseURL string
	// APIKey is the key to send.
	APIKey string
	// Model is the model name to use when the request names none.
	Model string
	// IdleTimeout is the stream idle timeout to apply; 0 means the
	// adapter's default.
	IdleTimeout time.Duration
	// HTTPClient, when set, is the client the adapter must send through
	// (the fuzz target answers in memory with it).
	HTTPClient *http.Client
}

// Capabilities are the optional behaviours a provider has; the suite checks
// what is declared and says what it did not check.
type Capabilities struct {
	// ToolCallIDs: the provider gives tool calls ids and expects them back.
	ToolCallIDs bool
	// ToolArgDeltas: tool-call arguments stream in pieces.
	ToolArgDeltas bool
	// ThinkingText: reasoning arrives as thinking text.
	ThinkingText bool
	// ThinkingSignature: thinking blocks carry a signature.
	ThinkingSignature bool
	// ReasoningTokens: usage counts reasoning tokens.
	ReasoningTokens bool
}

// Harness describes one adapter to the suite.
type Harness struct {
	// Provider is the adapter's [llm.APIError.Provider].
	Provider string
	// Model is the model name the cassettes were recorded with.
	Model string
	// ReasoningModel, when set, is the model the cases marked Reasoning
	// ask for (in Settings.Model), for providers whose Model cannot reason
	// (OpenAI's gpt-4o-mini rejects reasoning_effort).
	ReasoningModel string
	// Dir holds the cassettes and transcripts (default testdata/cassettes).
	Dir string
	// New returns the adapter configured by c.
	New func(c Config) (llm.Model, error)
	// Upstream is the real API's base URL, for -record
	// (e.g. https://api.openai.com/v1). Its path is kept in Config.BaseURL.
	Upstream string
	// KeyEnv names the environment variable holding the key for -record.
	KeyEnv string
	// Caps are the provider's optional behaviours.
	Caps Capabilities
	// CheckRequest checks the provider-specific encoding of the request the
	// adapter sent for call i of a case (its JSON body). It is required: the
	// suite cannot know each wire format. It must check at least the tool
	// result, tool choice, output format, cache and reasoning encodings.
	CheckRequest func(t *testing.T, caseName string, i int, body []byte)
	// BadKeyStatus is the HTTP status the provider answers a wrong key
	// with: 0 means 401; Gemini answers 400 (API_KEY_INVALID).
	BadKeyStatus int
	// Malformed is a stream event the provider's parser must reject; it is
	// spliced into a good stream between two events.
	Malformed []byte
}

func (h *Harness) badKeyStatus() int {
	if h.BadKeyStatus == 0 {
		return 401
	}
	return h.BadKeyStatus
}

func (h *Harness) dir() string {
	if h.Dir == "" {
		return "testdata/cassettes"
	}
	return h.Dir
}

// Call is one model call of a case: the request as the adapter sent it and
// what the adapter yielded.
type Call struct {
	Path   string
	Header http.Header
	Body   []byte
	Events []llm.Event
	Err    error
}

// Answer is a call's events assembled.
type Answer struct {
	Text         string
	TextDeltas   int
	Thinking     string
	ThinkingEnds int
	Signature    string
	// SignatureProvider is the Provider of the event that carried Signature.
	SignatureProvider string
	ToolCalls         []llm.ToolCall
	Usage             llm.Usage
	Finish            llm.FinishReason
	// Message is the assistant message to send back on the next turn.
	Message llm.Message
}

// Answer assembles c's events.
func (c *Call) Answer() Answer {
	var a Answer
	var thinking strings.Builder
	a.Message.Role = llm.RoleAssistant
	for _, ev := range c.Events {
		switch ev.Type {
		case llm.EventTextDelta:
			a.Text += ev.Text
			a.TextDeltas++
		case llm.EventThinkingDelta:
			a.Thinking += ev.Text
			thinking.WriteString(ev.Text)
		case llm.EventThinkingEnd:
			a.ThinkingEnds++
			if ev.Signature != "" {
				a.Signature, a.SignatureProvider = ev.Signature, ev.Provider
			}
			a.Message.Parts = append(a.Message.Parts, llm.Part{Type: llm.PartThinking, Text: thinking.String(), Signature: ev.Signature, Provider: ev.Provider, Redacted: ev.Redacted})
			thinking.Reset()
		case llm.EventToolCall:
			a.ToolCalls = append(a.ToolCalls, ev.ToolCall)
		case llm.EventUsage:
			a.Usage = ev.Usage
		case llm.EventFinish:
			a.Finish = ev.FinishReason
		}
	}
	if a.Text != "" {
		a.Message.Parts = append(a.Message.Parts, llm.TextPart(a.Text))
	}
	for _, tc := range a.ToolCalls {
		a.Message.Parts = append(a.Message.Parts, llm.Part{Type: llm.PartToolCall, ToolCall: &tc})
	}
	return a
}

// wellFormed checks the event grammar every successful answer obeys. When
// h declares ToolArgDeltas, every completed tool call must also have been
// started and have streamed its arguments in at least one delta.
func wellFormed(t *testing.T, h *Harness, evs []llm.Event) {
	t.Helper()
	started := map[string]string{}
	deltas := map[string]string{}
	done := map[string]bool{}
	finishes, usages := 0, 0
	for i, ev := range evs {
		if finishes > 0 {
			t.Errorf("event %d (%v) after EventFinish", i, ev.Type)
		}
		switch ev.Type {
		case llm.EventTextDelta, llm.EventThinkingDelta:
			if ev.Text == "" {
				t.Errorf("event %d: empty delta", i)
			}
		case llm.EventToolCallStart:
			if ev.ToolCall.ID == "" || ev.ToolCall.Name == "" {
				t.Errorf("event %d: tool call start without id or name: %+v", i, ev.ToolCall)
			}
			if _, dup := started[ev.ToolCall.ID]; dup {
				t.Errorf("event %d: tool call id %q started twice", i, ev.ToolCall.ID)
			}
			started[ev.ToolCall.ID] = ev.ToolCall.Name
		case llm.EventToolCallDelta:
			if _, ok := started[ev.ToolCall.ID]; !ok || done[ev.ToolCall.ID] {
				t.Errorf("event %d: argument delta for tool call %q that is not open", i, ev.ToolCall.ID)
			}
			deltas[ev.ToolCall.ID] += ev.ArgsDelta
		case llm.EventToolCall:
			tc := ev.ToolCall
			if tc.ID == "" || tc.Name == "" {
				t.Errorf("event %d: tool call without id or name: %+v", i, tc)
			}
			if done[tc.ID] {
				t.Errorf("event %d: tool call id %q completed twice", i, tc.ID)
			}
			done[tc.ID] = true
			if h.Caps.ToolArgDeltas {
				if _, ok := started[tc.ID]; !ok {
					t.Errorf("event %d: tool call %q completed without an EventToolCallStart (Caps.ToolArgDeltas)", i, tc.ID)
				}
				if _, ok := deltas[tc.ID]; !ok {
					t.Errorf("event %d: tool call %q completed without an EventToolCallDelta (Caps.ToolArgDeltas)", i, tc.ID)
				}
			}
			if name, ok := started[tc.ID]; ok && name != tc.Name {
				t.Errorf("event %d: tool call %q started as %q, completed as %q", i, tc.ID, name, tc.Name)
			}
			if !json.Valid(tc.Arguments) {
				t.Errorf("event %d: tool call %q arguments are not JSON: %q", i, tc.ID, tc.Arguments)
			}
			if d, ok := deltas[tc.ID]; ok && d != "" && string(llm.NormalizeArguments(d)) != string(tc.Arguments) {
				t.Errorf("event %d: tool call %q arguments %s differ from its deltas %q", i, tc.ID, tc.Arguments, d)
			}
		case llm.EventUsage:
			usages++
			u := ev.Usage
			if u.PromptTokens <= 0 || u.CompletionTokens <= 0 {
				t.Errorf("event %d: usage without prompt or completion tokens: %+v", i, u)
			}
			if u.CachedTokens > u.PromptTokens || u.ReasoningTokens > u.CompletionTokens {
				t.Errorf("event %d: cached/reasoning tokens must be counted inside prompt/completion: %+v", i, u)
			}
			if u.TotalTokens != 0 && u.TotalTokens < u.PromptTokens+u.CompletionTokens {
				t.Errorf("event %d: total below prompt+completion: %+v", i, u)
			}
		case llm.EventFinish:
			finishes++
			switch ev.FinishReason {
			case llm.FinishStop, llm.FinishToolCalls, llm.FinishLength, llm.FinishContentFilter, llm.FinishOther:
			default:
				t.Errorf("event %d: finish reason %q is not one of llm's", i, ev.FinishReason)
			}
		case llm.EventThinkingEnd:
		default:
			t.Errorf("event %d: unknown event type %d", i, ev.Type)
		}
	}
	for id := range started {
		if !done[id] {
			t.Errorf("tool call %q started but never completed", id)
		}
	}
	if finishes != 1 {
		t.Errorf("%d EventFinish; want exactly 1, last", finishes)
	}
	if usages == 0 {
		t.Errorf("no EventUsage")
	}
}

func wantFinish(t *testing.T, a Answer, want llm.FinishReason) {
	t.Helper()
	if a.Finish != want {
		t.Errorf("finish reason = %q; want %q", a.Finish, want)
	}
}

func wantCall(t *testing.T, tc llm.ToolCall, city string) {
	t.Helper()
	if tc.Name != weatherName {
		t.Errorf("tool call name = %q; want %q", tc.Name, weatherName)
	}
	var args struct {
		City string `json:"city"`
	}
	if err := json.Unmarshal(tc.Arguments, &args); err != nil || !strings.Contains(args.City, city) {
		t.Errorf("tool call arguments %s; want {\"city\": %q} (%v)", tc.Arguments, city, err)
	}
}

// wantInBody checks that the request (body or path) mentions each string,
// as is (JSON structure, such as a schema's `"country"` key) or escaped
// inside a JSON string.
func wantInBody(t *testing.T, c Call, subs ...string) {
	t.Helper()
	for _, s := range subs {
		enc, _ := json.Marshal(s)
		inner := string(enc[1 : len(enc)-1])
		if !strings.Contains(string(c.Body), inner) && !strings.Contains(string(c.Body), s) && !strings.Contains(c.Path, s) {
			t.Errorf("request does not carry %q", s)
		}
	}
}

// wantAPIError checks that c failed with an APIError of the harness's
// provider, the given status (0: any 5xx) and retryability, and that the
// error does not reveal the key.
func wantAPIError(t *testing.T, h *Harness, c Call, status int, retryable bool) *llm.APIError {
	t.Helper()
	if c.Err == nil {
		t.Errorf("call succeeded; want an APIError")
		return nil
	}
	var ae *llm.APIError
	if !errors.As(c.Err, &ae) {
		t.Errorf("error %v (%T) is not an *llm.APIError", c.Err, c.Err)
		return nil
	}
	if ae.Provider != h.Provider {
		t.Errorf("APIError.Provider = %q; want %q", ae.Provider, h.Provider)
	}
	if status == 0 && ae.Status < 500 || status != 0 && ae.Status != status {
		t.Errorf("APIError.Status = %d; want %s", ae.Status, map[bool]string{true: "5xx", false: fmt.Sprint(status)}[status == 0])
	}
	if ae.Retryable != retryable || llm.IsRetryable(c.Err) != retryable {
		t.Errorf("retryable = %v; want %v", ae.Retryable, retryable)
	}
	return ae
}

// collect runs one Stream call to the end, failing t if it does not end
// within limit.
func collect(t *testing.T, ctx context.Context, m llm.Model, req *llm.Request, limit time.Duration) ([]llm.Event, error) {
	t.Helper()
	type result struct {
		evs []llm.Event
		err error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.err = fmt.Errorf("llmtest: adapter panicked: %v", p)
			}
			done <- r
		}()
		for ev, err := range m.Stream(ctx, req) {
			if err != nil {
				r.err = err
				break
			}
			r.evs = append(r.evs, ev)
		}
	}()
	select {
	case r := <-done:
		if r.err != nil && strings.Contains(r.err.Error(), "adapter panicked") {
			t.Fatal(r.err)
		}
		return r.evs, r.err
	case <-time.After(limit):
		t.Fatalf("Stream did not end within %v", limit)
		return nil, nil
	}
}

func isAPIError(err error) bool {
	var ae *llm.APIError
	return errors.As(err, &ae)
}

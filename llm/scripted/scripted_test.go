package scripted_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/scripted"
)

type answer struct {
	text   string
	calls  []llm.ToolCall
	usage  llm.Usage
	err    error
	deltas int
}

func ask(t *testing.T, m llm.Model, req *llm.Request) answer {
	t.Helper()
	var a answer
	for ev, err := range m.Stream(t.Context(), req) {
		if err != nil {
			a.err = err
			break
		}
		switch ev.Type {
		case llm.EventTextDelta:
			a.text += ev.Text
			a.deltas++
		case llm.EventToolCall:
			a.calls = append(a.calls, ev.ToolCall)
		case llm.EventUsage:
			a.usage = ev.Usage
		}
	}
	return a
}

func conv(assistants int) *llm.Request {
	req := &llm.Request{SessionID: "s"}
	req.Messages = append(req.Messages, llm.UserMessage("hi"))
	for range assistants {
		req.Messages = append(req.Messages, llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{llm.TextPart("x")}})
	}
	return req
}

func TestTurnByAssistantCount(t *testing.T) {
	m, err := scripted.Parse([]byte(`{"turns":[{"text":"Hello brave new world"},{"toolCalls":[{"name":"add","arguments":{"a":1}},{"id":"mine","name":"x","arguments":"{bad"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	a := ask(t, m, conv(0))
	if a.text != "Hello brave new world" || a.deltas != 4 || a.usage.TotalTokens == 0 {
		t.Errorf("turn 0 = %+v, want the text in 4 word deltas with usage", a)
	}
	b := ask(t, m, conv(1))
	if len(b.calls) != 2 || b.calls[0].ID != "call_2_1" || string(b.calls[0].Arguments) != `{"a":1}` || b.calls[1].ID != "mine" || string(b.calls[1].Arguments) != "{bad" {
		t.Errorf("turn 1 calls = %+v", b.calls)
	}
	c := ask(t, m, conv(2))
	var ae *llm.APIError
	if !errors.As(c.err, &ae) || ae.Retryable || !strings.Contains(ae.Message, "exhausted") {
		t.Errorf("past the script: %v, want a non-retryable exhausted error", c.err)
	}
}

func TestErrorTurnsFailOncePerConversation(t *testing.T) {
	m := scripted.Turns(scripted.Turn{Error: &scripted.TurnError{Status: 429, Message: "slow"}}, scripted.Turn{Text: "ok"})
	first := ask(t, m, conv(0))
	var ae *llm.APIError
	if !errors.As(first.err, &ae) || !ae.Retryable || ae.Status != 429 {
		t.Fatalf("first attempt = %v, want retryable 429", first.err)
	}
	if again := ask(t, m, conv(0)); again.err != nil || again.text != "ok" {
		t.Errorf("second attempt = %+v, want the answer", again)
	}
	other := conv(0)
	other.SessionID = "other"
	if o := ask(t, m, other); o.err == nil {
		t.Error("another session must replay the failure on its own")
	}
}

func TestRouterAndParseErrors(t *testing.T) {
	m, err := scripted.Parse([]byte(`{"agents":{"a":{"turns":[{"text":"from a"}]},"b":{"turns":[{"text":"from b"}]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for agent, want := range map[string]string{"a": "from a", "b": "from b"} {
		req := conv(0)
		req.AgentType = agent
		if got := ask(t, m, req); got.text != want {
			t.Errorf("agent %s: %q", agent, got.text)
		}
	}
	req := conv(0)
	req.AgentType = "nobody"
	if got := ask(t, m, req); got.err == nil {
		t.Error("unknown agent type answered")
	}
	for _, bad := range []string{`{`, `{"turns":[{"text":1}]}`, `{"turns":[{"toolCalls":[{"arguments":{}}]}]}`, `{"turns":[],"extra":1}`, `{}`} {
		if _, err := scripted.Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%s) succeeded", bad)
		}
	}
}

func TestCancelMidStream(t *testing.T) {
	m := scripted.Turns(scripted.Turn{Text: "a b c d e f g h i j", ChunkDelayMs: 1000})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	n := 0
	var err error
	for ev, e := range m.Stream(ctx, conv(0)) {
		if e != nil {
			err = e
			break
		}
		if ev.Type == llm.EventTextDelta {
			n++
			cancel()
		}
	}
	if n != 1 || !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %d deltas, err %v; want 1 and context.Canceled at once", n, err)
	}
}

// TestClockPacing: deltas are due on the model's clock (k × ChunkDelayMs
// after the first), so a consumer that falls behind gets those already due
// at once, and the next one when it is due, not a full delay after it asked.
func TestClockPacing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := scripted.Turns(scripted.Turn{Text: "a b c d e", ChunkDelayMs: 20})
		start := time.Now()
		var at []time.Duration
		for ev, err := range m.Stream(t.Context(), conv(0)) {
			if err != nil {
				t.Fatal(err)
			}
			if ev.Type != llm.EventTextDelta {
				continue
			}
			at = append(at, time.Since(start))
			if len(at) == 1 {
				time.Sleep(70 * time.Millisecond) // falls behind by three deltas
			}
		}
		ms := time.Millisecond
		want := []time.Duration{0, 70 * ms, 70 * ms, 70 * ms, 80 * ms}
		if len(at) != len(want) {
			t.Fatalf("%d deltas, want %d", len(at), len(want))
		}
		for i := range want {
			if at[i] != want[i] {
				t.Errorf("delta %d at %v, want %v (all: %v)", i+1, at[i], want[i], at)
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"turns":[{"text":"hi","toolCalls":[{"name":"t","arguments":{}}]}]}`))
	f.Add([]byte(`{"agents":{"a":{"turns":[{"error":{"status":429}}]}}}`))
	f.Add([]byte(`{"turns":[{"toolCalls":[{"name":"t","arguments":"{bad"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := scripted.Parse(data)
		if err != nil {
			return
		}
		for range m.Stream(context.Background(), &llm.Request{}) {
		}
	})
}

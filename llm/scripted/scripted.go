// Package scripted is a deterministic [llm.Model] that answers from a
// script, for tests, examples and running Helix offline.
//
// # Script format
//
//	{"turns":[{"text":"...","thinking":"...",
//	           "toolCalls":[{"id":"optional","name":"tool","arguments":{}}],
//	           "chunkDelayMs":0,
//	           "error":{"status":429,"message":"..."}}]}
//
// A conversation that already holds k assistant messages is answered by the
// k-th answering turn (a turn without "error"), so every session replays the
// script on its own and a resumed session picks up where it stopped. A turn
// with "error" fails the call instead, once per conversation: the error
// turns placed just before an answering turn fail the first attempts at that
// point, and the next attempt gets the answer. Text and thinking stream word
// by word, chunkDelayMs apart. "arguments" is normally a JSON object; a JSON
// string is sent verbatim as the argument text (to script malformed calls).
// Asking past the last turn fails with a non-retryable error.
//
// A routing script gives each agent type its own script:
//
//	{"agents":{"researcher":{"turns":[...]},"summarizer":{"turns":[...]}}}
package scripted

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"iter"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/helix-agents/helix-go/llm"
)

// Script is a list of turns.
type Script struct {
	Turns []Turn `json:"turns"`
}

// Turn is one scripted answer or failure.
type Turn struct {
	Text      string     `json:"text,omitempty"`
	Thinking  string     `json:"thinking,omitempty"`
	ToolCalls []ToolCall `json:"toolCalls,omitempty"`
	// ChunkDelayMs paces the turn's deltas by the clock, as a provider's
	// stream is: the k-th delta after the first is due k × ChunkDelayMs
	// after the first, whatever the consumer does meanwhile, so a consumer
	// that falls behind gets the deltas already due at once (a provider's
	// tokens wait in the connection's buffer) instead of slowing the
	// model down. The first delta comes at once.
	ChunkDelayMs int        `json:"chunkDelayMs,omitempty"`
	Error        *TurnError `json:"error,omitempty"`
}

// ToolCall is a scripted tool call. An empty ID gets a deterministic one.
type ToolCall struct {
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
}

// TurnError makes a turn fail like a provider would: retryable for 408,
// 409, 429 and 5xx.
type TurnError struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

// Model answers from one script. It is safe for concurrent use.
type Model struct {
	answers  [][]Turn // answers[k]: error turns before answer k, then the answer
	trailing []Turn   // error turns after the last answer

	mu       sync.Mutex
	attempts map[string]int // guarded by mu; failures delivered per conversation point
}

var _ llm.Model = (*Model)(nil)

// New returns a model for s.
func New(s Script) *Model {
	m := &Model{attempts: map[string]int{}}
	var pending []Turn
	for _, t := range s.Turns {
		pending = append(pending, t)
		if t.Error == nil {
			m.answers = append(m.answers, pending)
			pending = nil
		}
	}
	m.trailing = pending
	return m
}

// Turns returns a model for the given turns.
func Turns(turns ...Turn) *Model { return New(Script{Turns: turns}) }

// Parse reads a script or a routing script (see the package doc).
func Parse(data []byte) (llm.Model, error) {
	var probe struct {
		Turns  json.RawMessage            `json:"turns"`
		Agents map[string]json.RawMessage `json:"agents"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("scripted: %w", err)
	}
	if probe.Agents != nil {
		r := &Router{Agents: map[string]llm.Model{}}
		for name, raw := range probe.Agents {
			s, err := decodeScript(raw)
			if err != nil {
				return nil, fmt.Errorf("scripted: agent %q: %w", name, err)
			}
			r.Agents[name] = New(s)
		}
		return r, nil
	}
	s, err := decodeScript(data)
	if err != nil {
		return nil, fmt.Errorf("scripted: %w", err)
	}
	return New(s), nil
}

func decodeScript(data []byte) (Script, error) {
	var s Script
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, err
	}
	if s.Turns == nil {
		return s, fmt.Errorf(`no "turns"`)
	}
	for i, t := range s.Turns {
		for j, c := range t.ToolCalls {
			if c.Name == "" {
				return s, fmt.Errorf("turn %d: tool call %d has no name", i, j)
			}
		}
		if t.Error != nil && t.Error.Status < 0 {
			return s, fmt.Errorf("turn %d: negative error status", i)
		}
	}
	return s, nil
}

// Load reads a script file.
func Load(path string) (llm.Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scripted: %w", err)
	}
	return Parse(data)
}

// Stream answers req from the script.
func (m *Model) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		k := 0
		for i := range req.Messages {
			if req.Messages[i].Role == llm.RoleAssistant {
				k++
			}
		}
		var turns []Turn
		if k < len(m.answers) {
			turns = m.answers[k]
		} else {
			turns = m.trailing
		}
		failures := len(turns)
		if k < len(m.answers) {
			failures-- // the last one answers
		}
		if failures > 0 {
			key := conversationKey(req, k)
			m.mu.Lock()
			n := m.attempts[key]
			if n < failures {
				m.attempts[key] = n + 1
			}
			m.mu.Unlock()
			if n < failures {
				e := turns[n].Error
				yield(llm.Event{}, &llm.APIError{Provider: "scripted", Status: e.Status, Message: e.Message, Retryable: llm.RetryableStatus(e.Status)})
				return
			}
		}
		if k >= len(m.answers) {
			yield(llm.Event{}, &llm.APIError{
				Provider: "scripted", Code: "script_exhausted",
				Message: fmt.Sprintf("script exhausted: asked for answer %d, the script has %d", k+1, len(m.answers)),
			})
			return
		}
		streamTurn(ctx, turns[len(turns)-1], k, req, yield)
	}
}

func streamTurn(ctx context.Context, t Turn, k int, req *llm.Request, yield func(llm.Event, error) bool) {
	delay := time.Duration(t.ChunkDelayMs) * time.Millisecond
	// Delta n (from 0) is due at start + n×delay (see Turn.ChunkDelayMs).
	var start time.Time
	due := 0 // deltas started so far
	// One timer for the whole turn, reset before each wait: a turn streams
	// many words, and a timer per word is garbage per word.
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	wait := func() bool {
		if ctx.Err() != nil {
			yield(llm.Event{}, ctx.Err())
			return false
		}
		if delay <= 0 {
			return true
		}
		if due == 0 {
			start = time.Now()
			due++
			return true
		}
		d := time.Until(start.Add(time.Duration(due) * delay))
		due++
		if d <= 0 {
			return true // already due: the consumer fell behind
		}
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-ctx.Done():
			yield(llm.Event{}, ctx.Err())
			return false
		case <-timer.C:
			return true
		}
	}
	var completion int64
	if t.Thinking != "" {
		for w := range words(t.Thinking) {
			if !wait() || !yield(llm.Event{Type: llm.EventThinkingDelta, Text: w}, nil) {
				return
			}
			completion++
		}
		if !yield(llm.Event{Type: llm.EventThinkingEnd}, nil) {
			return
		}
	}
	for w := range words(t.Text) {
		if !wait() || !yield(llm.Event{Type: llm.EventTextDelta, Text: w}, nil) {
			return
		}
		completion++
	}
	for i, c := range t.ToolCalls {
		id := c.ID
		if id == "" {
			id = fmt.Sprintf("call_%d_%d", k+1, i+1)
		}
		args := string(c.Arguments)
		if len(c.Arguments) > 0 && c.Arguments[0] == '"' {
			_ = json.Unmarshal(c.Arguments, &args)
		} else if args == "" {
			args = "{}"
		}
		if !wait() ||
			!yield(llm.Event{Type: llm.EventToolCallStart, ToolCall: llm.ToolCall{ID: id, Name: c.Name}}, nil) ||
			!yield(llm.Event{Type: llm.EventToolCallDelta, ToolCall: llm.ToolCall{ID: id, Name: c.Name}, ArgsDelta: args}, nil) ||
			!yield(llm.Event{Type: llm.EventToolCall, ToolCall: llm.ToolCall{ID: id, Name: c.Name, Arguments: json.RawMessage(args)}}, nil) {
			return
		}
		completion += int64(len(args)+3) / 4
	}
	prompt := promptTokens(req)
	if !yield(llm.Event{Type: llm.EventUsage, Usage: llm.Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}}, nil) {
		return
	}
	reason := llm.FinishStop
	if len(t.ToolCalls) > 0 {
		reason = llm.FinishToolCalls
	}
	yield(llm.Event{Type: llm.EventFinish, FinishReason: reason}, nil)
}

// words splits s into deltas that concatenate back to s: each word carries
// the spaces before it.
func words(s string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for len(s) > 0 {
			i := 0
			for i < len(s) && s[i] == ' ' {
				i++
			}
			j := strings.IndexByte(s[i:], ' ')
			if j < 0 {
				j = len(s)
			} else {
				j += i
			}
			if !yield(s[:j]) {
				return
			}
			s = s[j:]
		}
	}
}

// promptTokens is a deterministic stand-in for a tokenizer: one token per
// word of the prompt.
func promptTokens(req *llm.Request) int64 {
	n := int64(len(strings.Fields(req.System)))
	for i := range req.Messages {
		for _, p := range req.Messages[i].Parts {
			switch p.Type {
			case llm.PartText, llm.PartThinking:
				n += int64(len(strings.Fields(p.Text)))
			case llm.PartToolCall:
				n += int64(len(p.ToolCall.Arguments)+3) / 4
			case llm.PartToolResult:
				n += int64(len(p.ToolResult.Output)+3) / 4
			}
		}
	}
	return n
}

func conversationKey(req *llm.Request, k int) string {
	if req.SessionID != "" {
		return fmt.Sprintf("%s#%d", req.SessionID, k)
	}
	h := fnv.New64a()
	for i := range req.Messages {
		h.Write([]byte(req.Messages[i].Role))
		h.Write([]byte(req.Messages[i].Text()))
	}
	return fmt.Sprintf("%x#%d", h.Sum64(), k)
}

// Router answers each agent type from its own model, for agents with
// sub-agents. It is safe for concurrent use.
type Router struct {
	// Agents maps an agent type to its model.
	Agents map[string]llm.Model
	// Default answers agent types not in Agents; nil makes them an error.
	Default llm.Model
}

var _ llm.Model = (*Router)(nil)

// Stream answers req with the model of req.AgentType.
func (r *Router) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
	m, ok := r.Agents[req.AgentType]
	if !ok {
		m = r.Default
	}
	if m == nil {
		return func(yield func(llm.Event, error) bool) {
			yield(llm.Event{}, &llm.APIError{Provider: "scripted", Code: "no_script",
				Message: fmt.Sprintf("no script for agent %q", req.AgentType)})
		}
	}
	return m.Stream(ctx, req)
}

package openai

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	sdk "github.com/openai/openai-go/v3"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/internal/httpx"
)

// reasoningFields are the delta fields compatible servers stream reasoning
// text in, by preference: when a server sends both (some gateways do), only
// the first is read, so the text is not doubled.
var reasoningFields = [...]string{"reasoning_content", "reasoning"}

// parser turns the chunks of one answer into events. It is not safe for
// concurrent use.
type parser struct {
	out      []llm.Event
	calls    []*toolCall         // in order of appearance
	byIndex  map[int64]*toolCall // calls by their delta index
	ids      map[string]bool     // ids used in the conversation and this answer
	last     *toolCall           // the call the last tool-call delta went to
	earlier  int                 // tool calls in the conversation before this answer
	thinking bool                // a thinking block is open
	finish   string              // the first finish_reason
	usage    llm.Usage           // the last usage reported
	hasUsage bool                // usage was reported
	final    bool                // usage was reported at or after the finish_reason
}

// toolCall is a tool call being reassembled.
type toolCall struct {
	wireID  string // the id the server gave, "" if none yet
	id      string // the id reported: the wire id made unique, or generated
	name    string
	args    strings.Builder
	started bool // EventToolCallStart was emitted
}

func newParser(req *llm.Request) *parser {
	p := &parser{byIndex: map[int64]*toolCall{}, ids: map[string]bool{}}
	for i := range req.Messages {
		for _, part := range req.Messages[i].Parts {
			if part.Type == llm.PartToolCall && part.ToolCall != nil {
				p.earlier++
				p.ids[part.ToolCall.ID] = true
			}
		}
	}
	return p
}

// flush returns the events produced since the last flush. The slice is
// reused by the next call.
func (p *parser) flush() []llm.Event {
	out := p.out
	p.out = p.out[:0]
	return out
}

func (p *parser) emit(ev llm.Event) { p.out = append(p.out, ev) }

// chunk reads one chunk. Only the first choice is read: the adapter never
// asks for more.
func (p *parser) chunk(c *sdk.ChatCompletionChunk) {
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 {
			continue
		}
		p.delta(&ch.Delta)
		if ch.FinishReason != "" && p.finish == "" {
			p.finish = ch.FinishReason
		}
	}
	if c.JSON.Usage.Valid() {
		u := c.Usage
		usage := llm.Usage{
			PromptTokens:     u.PromptTokens,
			CompletionTokens: u.CompletionTokens,
			ReasoningTokens:  u.CompletionTokensDetails.ReasoningTokens,
			CachedTokens:     u.PromptTokensDetails.CachedTokens,
			TotalTokens:      u.TotalTokens,
		}
		if usage.TotalTokens == 0 {
			usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens
		}
		if !usage.IsZero() {
			p.usage, p.hasUsage = usage, true
			p.final = p.finish != ""
		}
	}
}

func (p *parser) delta(d *sdk.ChatCompletionChunkChoiceDelta) {
	if r := reasoning(d); r != "" {
		p.thinking = true
		p.emit(llm.Event{Type: llm.EventThinkingDelta, Text: r})
	}
	if d.Content != "" {
		p.endThinking()
		p.emit(llm.Event{Type: llm.EventTextDelta, Text: d.Content})
	}
	if d.Refusal != "" {
		p.endThinking()
		p.emit(llm.Event{Type: llm.EventTextDelta, Text: d.Refusal})
	}
	for i := range d.ToolCalls {
		p.endThinking()
		p.toolDelta(&d.ToolCalls[i])
	}
}

// reasoning returns the reasoning text of a delta, if any.
func reasoning(d *sdk.ChatCompletionChunkChoiceDelta) string {
	for _, k := range reasoningFields {
		f, ok := d.JSON.ExtraFields[k]
		if !ok {
			continue
		}
		raw := f.Raw()
		if !strings.HasPrefix(raw, `"`) {
			continue
		}
		var s string
		if json.Unmarshal([]byte(raw), &s) == nil && s != "" {
			return s
		}
	}
	return ""
}

func (p *parser) endThinking() {
	if p.thinking {
		p.thinking = false
		p.emit(llm.Event{Type: llm.EventThinkingEnd})
	}
}

// toolDelta reads one tool-call delta. A delta with an index goes to the
// call with that index, unless it brings an id other than that call's
// (a server numbering every call 0): then it starts a new call. A delta
// without an index continues the last call, unless it brings a new id.
// Either way, a delta that names a function when its call is already named
// starts a new call (see another): servers that number every call 0, or
// send no index, may also repeat or leave out the ids.
func (p *parser) toolDelta(d *sdk.ChatCompletionChunkChoiceDeltaToolCall) {
	var c *toolCall
	if d.JSON.Index.Valid() {
		c = p.byIndex[d.Index]
		if c != nil && (d.ID != "" && c.wireID != "" && d.ID != c.wireID || another(c, d)) {
			c = nil
		}
		if c == nil {
			c = p.newCall(d.ID)
			p.byIndex[d.Index] = c
		}
	} else {
		c = p.last
		if c == nil || d.ID != "" && d.ID != c.wireID || another(c, d) {
			c = p.newCall(d.ID)
		}
	}
	p.last = c
	if c.wireID == "" && d.ID != "" && !c.started {
		// The id came after the call's first delta: use it.
		c.wireID, c.id = d.ID, p.unique(d.ID)
	}
	if c.name == "" {
		c.name = d.Function.Name
	}
	a := d.Function.Arguments
	c.args.WriteString(a)
	switch {
	case c.started:
		if a != "" {
			p.emit(llm.Event{Type: llm.EventToolCallDelta, ToolCall: llm.ToolCall{ID: c.id, Name: c.name}, ArgsDelta: a})
		}
	case c.name != "":
		c.started = true
		p.emit(llm.Event{Type: llm.EventToolCallStart, ToolCall: llm.ToolCall{ID: c.id, Name: c.name}})
		if c.args.Len() > 0 {
			p.emit(llm.Event{Type: llm.EventToolCallDelta, ToolCall: llm.ToolCall{ID: c.id, Name: c.name}, ArgsDelta: c.args.String()})
		}
	}
}

// another reports whether d, which would otherwise continue c, starts a
// new call: it names a function and c is already named, with another name
// or with arguments that are already a complete JSON value. (A server
// repeating the name in every delta of one call sends it while the
// arguments are still incomplete.)
func another(c *toolCall, d *sdk.ChatCompletionChunkChoiceDeltaToolCall) bool {
	if d.Function.Name == "" || c.name == "" {
		return false
	}
	return d.Function.Name != c.name || json.Valid([]byte(c.args.String()))
}

func (p *parser) newCall(wireID string) *toolCall {
	c := &toolCall{wireID: wireID}
	if wireID != "" {
		c.id = p.unique(wireID)
	} else {
		c.id = p.unique(fmt.Sprintf("call_%d", p.earlier+len(p.calls)+1))
	}
	p.calls = append(p.calls, c)
	return c
}

// unique returns id, or id with a suffix if the conversation or the answer
// already used it.
func (p *parser) unique(id string) string {
	u := id
	for n := 2; p.ids[u]; n++ {
		u = fmt.Sprintf("%s_%d", id, n)
	}
	p.ids[u] = true
	return u
}

// end completes the answer once the body ended cleanly; done says whether
// the closing [DONE] line was read. The answer is complete when a
// finish_reason came and then [DONE] or the final usage chunk; otherwise
// the stream was cut. end emits the completed tool calls, the usage and
// the finish.
func (p *parser) end(done bool) error {
	if p.finish == "" || !done && !p.final {
		return httpx.Truncated(provider)
	}
	p.endThinking()
	for _, c := range p.calls {
		if c.name == "" {
			return httpx.Malformed(provider, errors.New("a tool call has no function name"))
		}
		p.emit(llm.Event{Type: llm.EventToolCall, ToolCall: llm.ToolCall{ID: c.id, Name: c.name, Arguments: llm.NormalizeArguments(c.args.String())}})
	}
	if p.hasUsage {
		p.emit(llm.Event{Type: llm.EventUsage, Usage: p.usage})
	}
	p.emit(llm.Event{Type: llm.EventFinish, FinishReason: finishReason(p.finish, len(p.calls) > 0)})
	return nil
}

// finishReason maps OpenAI's finish_reason. OpenAI ends an answer to a
// forced tool choice with "stop": with tool calls, that is a tool-calls
// finish like any other.
func finishReason(r string, calls bool) llm.FinishReason {
	switch r {
	case "stop":
		if calls {
			return llm.FinishToolCalls
		}
		return llm.FinishStop
	case "tool_calls", "function_call":
		return llm.FinishToolCalls
	case "length":
		return llm.FinishLength
	case "content_filter":
		return llm.FinishContentFilter
	}
	return llm.FinishOther
}

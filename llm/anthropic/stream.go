package anthropic

import (
	"encoding/json"
	"fmt"
	"strings"

	sdk "github.com/anthropics/anthropic-sdk-go"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/internal/httpx"
)

// Kinds of content blocks the decoder follows; others (server tools, web
// search results, …) are skipped.
const (
	blockText     = "text"
	blockThinking = "thinking"
	blockRedacted = "redacted_thinking"
	blockToolUse  = "tool_use"
)

// block is an open content block.
type block struct {
	kind      string
	id, name  string          // tool_use
	args      strings.Builder // tool_use: the joined input_json_delta pieces
	gotArgs   bool            // tool_use: an input_json_delta arrived
	input     string          // tool_use: the input of content_block_start, if not {}
	signature strings.Builder // thinking: signature_delta pieces; redacted: data
}

// decoder turns Messages stream events into [llm.Event] values. It is not
// safe for concurrent use.
type decoder struct {
	out     []llm.Event      // events of the last handle call
	started bool             // message_start seen
	open    map[int64]*block // open blocks by index
	closed  map[int64]bool   // indexes of finished blocks
	toolIDs map[string]bool  // tool_use ids seen
	stop    string           // stop_reason of message_delta
	// Usage, as last reported.
	input, cacheRead, cacheWrite, output, thinking int64
}

// malformed returns the error for an event that breaks the protocol.
func malformed(format string, args ...any) error {
	return httpx.Malformed(provider, fmt.Errorf(format, args...))
}

func (d *decoder) emit(ev llm.Event) { d.out = append(d.out, ev) }

// handle decodes one event into d.out. done reports message_stop, after
// which the answer is complete.
func (d *decoder) handle(ev *sdk.MessageStreamEventUnion) (done bool, err error) {
	if !d.started && ev.Type != "message_start" {
		if isKnownEvent(ev.Type) {
			return false, malformed("%s event before message_start", ev.Type)
		}
		return false, nil
	}
	switch ev.Type {
	case "message_start":
		if d.started {
			return false, malformed("second message_start")
		}
		d.started = true
		d.open, d.closed, d.toolIDs = map[int64]*block{}, map[int64]bool{}, map[string]bool{}
		u := ev.Message.Usage
		d.input, d.cacheRead, d.cacheWrite, d.output = u.InputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens, u.OutputTokens
		if u.OutputTokensDetails.JSON.ThinkingTokens.Valid() {
			d.thinking = u.OutputTokensDetails.ThinkingTokens
		}
	case "content_block_start":
		return false, d.start(ev)
	case "content_block_delta":
		return false, d.delta(ev)
	case "content_block_stop":
		return false, d.stopBlock(ev)
	case "message_delta":
		if ev.Delta.JSON.StopReason.Valid() {
			d.stop = string(ev.Delta.StopReason)
		}
		u := &ev.Usage
		set := func(dst *int64, v int64, ok bool) {
			if ok {
				*dst = v
			}
		}
		set(&d.input, u.InputTokens, u.JSON.InputTokens.Valid())
		set(&d.cacheRead, u.CacheReadInputTokens, u.JSON.CacheReadInputTokens.Valid())
		set(&d.cacheWrite, u.CacheCreationInputTokens, u.JSON.CacheCreationInputTokens.Valid())
		set(&d.output, u.OutputTokens, u.JSON.OutputTokens.Valid())
		set(&d.thinking, u.OutputTokensDetails.ThinkingTokens, u.OutputTokensDetails.JSON.ThinkingTokens.Valid())
	case "message_stop":
		if len(d.open) > 0 {
			return false, malformed("message_stop with %d content blocks still open", len(d.open))
		}
		if u := d.usage(); !u.IsZero() {
			d.emit(llm.Event{Type: llm.EventUsage, Usage: u})
		}
		d.emit(llm.Event{Type: llm.EventFinish, FinishReason: finishReason(d.stop)})
		return true, nil
	}
	// Unknown event types are skipped: the API may add some.
	return false, nil
}

func isKnownEvent(t string) bool {
	switch t {
	case "message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop":
		return true
	}
	return false
}

// index returns the block index of a content_block_* event.
func index(ev *sdk.MessageStreamEventUnion) (int64, error) {
	if !ev.JSON.Index.Valid() || ev.Index < 0 {
		return 0, malformed("%s event without a valid index", ev.Type)
	}
	return ev.Index, nil
}

func (d *decoder) start(ev *sdk.MessageStreamEventUnion) error {
	i, err := index(ev)
	if err != nil {
		return err
	}
	if d.open[i] != nil || d.closed[i] {
		return malformed("content block %d started twice", i)
	}
	cb := &ev.ContentBlock
	b := &block{kind: cb.Type}
	switch cb.Type {
	case blockText:
		if cb.Text != "" {
			d.emit(llm.Event{Type: llm.EventTextDelta, Text: cb.Text})
		}
	case blockThinking:
		if cb.Thinking != "" {
			d.emit(llm.Event{Type: llm.EventThinkingDelta, Text: cb.Thinking})
		}
		b.signature.WriteString(cb.Signature)
	case blockRedacted:
		b.signature.WriteString(cb.Data)
	case blockToolUse:
		if cb.ID == "" || cb.Name == "" {
			return malformed("tool_use block %d without an id or a name", i)
		}
		if d.toolIDs[cb.ID] {
			return malformed("tool_use id used twice")
		}
		d.toolIDs[cb.ID] = true
		b.id, b.name = cb.ID, cb.Name
		if in := strings.TrimSpace(cb.JSON.Input.Raw()); in != "" && in != "{}" && in != "null" {
			b.input = in
		}
		d.emit(llm.Event{Type: llm.EventToolCallStart, ToolCall: llm.ToolCall{ID: b.id, Name: b.name}})
	default:
		b.kind = "" // followed only to pair its deltas and stop
	}
	d.open[i] = b
	return nil
}

func (d *decoder) delta(ev *sdk.MessageStreamEventUnion) error {
	i, err := index(ev)
	if err != nil {
		return err
	}
	b := d.open[i]
	if b == nil {
		return malformed("delta for content block %d that is not open", i)
	}
	if b.kind == "" {
		return nil // a block the decoder skips (a server tool's, …)
	}
	dl := &ev.Delta
	want := ""
	switch dl.Type {
	case "text_delta":
		want = blockText
		if dl.Text != "" && b.kind == want {
			d.emit(llm.Event{Type: llm.EventTextDelta, Text: dl.Text})
		}
	case "thinking_delta":
		want = blockThinking
		if dl.Thinking != "" && b.kind == want {
			d.emit(llm.Event{Type: llm.EventThinkingDelta, Text: dl.Thinking})
		}
	case "signature_delta":
		want = blockThinking
		if b.kind == want {
			b.signature.WriteString(dl.Signature)
		}
	case "input_json_delta":
		want = blockToolUse
		if b.kind == want {
			b.gotArgs = true
			if dl.PartialJSON != "" {
				b.args.WriteString(dl.PartialJSON)
				d.emit(llm.Event{Type: llm.EventToolCallDelta, ToolCall: llm.ToolCall{ID: b.id, Name: b.name}, ArgsDelta: dl.PartialJSON})
			}
		}
	default:
		return nil // citations_delta and any delta to come
	}
	if b.kind != want {
		return malformed("%s for a %s block", dl.Type, b.kind)
	}
	return nil
}

func (d *decoder) stopBlock(ev *sdk.MessageStreamEventUnion) error {
	i, err := index(ev)
	if err != nil {
		return err
	}
	b := d.open[i]
	if b == nil {
		return malformed("stop for content block %d that is not open", i)
	}
	delete(d.open, i)
	d.closed[i] = true
	switch b.kind {
	case blockThinking:
		d.emit(llm.Event{Type: llm.EventThinkingEnd, Signature: b.signature.String(), Provider: signer(b.signature.Len())})
	case blockRedacted:
		d.emit(llm.Event{Type: llm.EventThinkingEnd, Redacted: true, Signature: b.signature.String(), Provider: signer(b.signature.Len())})
	case blockToolUse:
		args := llm.NormalizeArguments(b.args.String())
		if !b.gotArgs && b.input != "" && json.Valid([]byte(b.input)) {
			args = json.RawMessage(b.input)
		}
		d.emit(llm.Event{Type: llm.EventToolCall, ToolCall: llm.ToolCall{ID: b.id, Name: b.name, Arguments: args}})
	}
	return nil
}

// usage is the usage reported so far, in llm's terms.
func (d *decoder) usage() llm.Usage {
	nn := func(v int64) int64 { return max(v, 0) }
	u := llm.Usage{
		PromptTokens:     nn(d.input) + nn(d.cacheRead) + nn(d.cacheWrite),
		CachedTokens:     nn(d.cacheRead),
		CacheWriteTokens: nn(d.cacheWrite),
		CompletionTokens: nn(d.output),
	}
	u.ReasoningTokens = min(nn(d.thinking), u.CompletionTokens)
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

// finishReason maps Anthropic's stop_reason.
func finishReason(stop string) llm.FinishReason {
	switch stop {
	case "end_turn", "stop_sequence":
		return llm.FinishStop
	case "tool_use":
		return llm.FinishToolCalls
	case "max_tokens", "model_context_window_exceeded":
		return llm.FinishLength
	case "refusal":
		return llm.FinishContentFilter
	}
	return llm.FinishOther
}

// signer is the Provider of a thinking block whose signature is n bytes
// long: this adapter's, if it is signed at all.
func signer(n int) string {
	if n == 0 {
		return ""
	}
	return provider
}

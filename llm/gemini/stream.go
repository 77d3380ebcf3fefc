package gemini

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"google.golang.org/genai"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/internal/httpx"
)

// decoder turns the responses of one streamGenerateContent call into
// events. Gemini sends the first candidate's parts as they are generated,
// function calls whole, and a finish reason and cumulative usage on the
// last response.
type decoder struct {
	turn     int
	chunks   int // responses read
	calls    int // function calls seen
	ids      map[string]bool
	thinking bool // a thinking block is open
	usage    llm.Usage
	hasUsage bool
	finish   genai.FinishReason
	blocked  bool // the prompt was blocked
}

func newDecoder(turn int) *decoder { return &decoder{turn: turn, ids: map[string]bool{}} }

// chunk returns the events of one response.
func (d *decoder) chunk(r *genai.GenerateContentResponse) ([]llm.Event, error) {
	d.chunks++
	if r == nil {
		return nil, nil
	}
	if u := r.UsageMetadata; u != nil {
		d.usage, d.hasUsage = usage(u), true
	}
	if pf := r.PromptFeedback; pf != nil && pf.BlockReason != "" && pf.BlockReason != genai.BlockedReasonUnspecified {
		d.blocked = true
	}
	cand := first(r.Candidates)
	if cand == nil {
		return nil, nil
	}
	var evs []llm.Event
	if cand.Content != nil {
		for _, p := range cand.Content.Parts {
			if p == nil {
				continue
			}
			var err error
			if evs, err = d.part(evs, p); err != nil {
				return nil, err
			}
		}
	}
	if f := cand.FinishReason; f != "" && f != genai.FinishReasonUnspecified {
		d.finish = f
	}
	return evs, nil
}

// first returns the candidate with index 0 (the adapter asks for one).
func first(cs []*genai.Candidate) *genai.Candidate {
	for _, c := range cs {
		if c != nil && c.Index == 0 {
			return c
		}
	}
	return nil
}

func (d *decoder) part(evs []llm.Event, p *genai.Part) ([]llm.Event, error) {
	sig := ""
	if len(p.ThoughtSignature) > 0 {
		sig = base64.StdEncoding.EncodeToString(p.ThoughtSignature)
	}
	if p.Thought {
		if p.Text != "" {
			evs = append(evs, llm.Event{Type: llm.EventThinkingDelta, Text: p.Text})
			d.thinking = true
		}
		if sig != "" {
			evs = append(evs, llm.Event{Type: llm.EventThinkingEnd, Signature: sig, Provider: provider})
			d.thinking = false
		}
		return evs, nil
	}
	output := p.FunctionCall != nil || p.Text != ""
	// A signature on an output part is kept as a thinking block (possibly
	// without text) that ends just before the part.
	if sig != "" || (output && d.thinking) {
		ev := llm.Event{Type: llm.EventThinkingEnd, Signature: sig}
		if sig != "" {
			ev.Provider = provider
		}
		evs = append(evs, ev)
		d.thinking = false
	}
	switch {
	case p.FunctionCall != nil:
		return d.functionCall(evs, p.FunctionCall)
	case p.Text != "":
		evs = append(evs, llm.Event{Type: llm.EventTextDelta, Text: p.Text})
	}
	return evs, nil
}

func (d *decoder) functionCall(evs []llm.Event, fc *genai.FunctionCall) ([]llm.Event, error) {
	d.calls++
	if fc.Name == "" {
		return nil, httpx.Malformed(provider, fmt.Errorf("event %d: function call %d has no name", d.chunks, d.calls))
	}
	id := fc.ID
	if id == "" || d.ids[id] {
		id = fmt.Sprintf("call_%d_%d", d.turn, d.calls)
	}
	d.ids[id] = true
	args := "{}"
	if fc.Args != nil {
		b, err := json.Marshal(fc.Args)
		if err != nil {
			return nil, httpx.Malformed(provider, fmt.Errorf("event %d: function call %d: %w", d.chunks, d.calls, err))
		}
		args = string(b)
	}
	tc := llm.ToolCall{ID: id, Name: fc.Name}
	evs = append(evs,
		llm.Event{Type: llm.EventToolCallStart, ToolCall: tc},
		llm.Event{Type: llm.EventToolCallDelta, ToolCall: tc, ArgsDelta: args})
	tc.Arguments = llm.NormalizeArguments(args)
	return append(evs, llm.Event{Type: llm.EventToolCall, ToolCall: tc}), nil
}

// end returns the closing events once the stream is over, or the error for
// a stream that ended without a finish reason.
func (d *decoder) end() ([]llm.Event, error) {
	if d.finish == "" && !d.blocked {
		return nil, httpx.Truncated(provider)
	}
	var evs []llm.Event
	if d.thinking {
		evs = append(evs, llm.Event{Type: llm.EventThinkingEnd})
		d.thinking = false
	}
	if d.hasUsage {
		evs = append(evs, llm.Event{Type: llm.EventUsage, Usage: d.usage})
	}
	return append(evs, llm.Event{Type: llm.EventFinish, FinishReason: d.finishReason()}), nil
}

func (d *decoder) finishReason() llm.FinishReason {
	switch d.finish {
	case "":
		return llm.FinishContentFilter // blocked prompt
	case genai.FinishReasonStop:
		if d.calls > 0 {
			return llm.FinishToolCalls
		}
		return llm.FinishStop
	case genai.FinishReasonMaxTokens:
		return llm.FinishLength
	case genai.FinishReasonSafety, genai.FinishReasonRecitation, genai.FinishReasonBlocklist,
		genai.FinishReasonProhibitedContent, genai.FinishReasonSPII, genai.FinishReasonImageSafety,
		genai.FinishReasonImageProhibitedContent, genai.FinishReasonImageRecitation:
		return llm.FinishContentFilter
	}
	return llm.FinishOther
}

// usage maps Gemini's usage metadata. Gemini counts cached tokens inside
// promptTokenCount and thinking tokens apart from candidatesTokenCount.
func usage(u *genai.GenerateContentResponseUsageMetadata) llm.Usage {
	out := llm.Usage{
		PromptTokens:     int64(u.PromptTokenCount),
		CachedTokens:     int64(u.CachedContentTokenCount),
		ReasoningTokens:  int64(u.ThoughtsTokenCount),
		CompletionTokens: int64(u.CandidatesTokenCount) + int64(u.ThoughtsTokenCount),
		TotalTokens:      int64(u.TotalTokenCount),
	}
	if out.TotalTokens == 0 {
		out.TotalTokens = out.PromptTokens + out.CompletionTokens + int64(u.ToolUsePromptTokenCount)
	}
	return out
}

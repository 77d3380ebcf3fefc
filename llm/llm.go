// Package llm defines the streaming model interface that every provider
// adapter implements, the message and part types of a conversation, token
// usage, the typed provider error and the retry policy.
//
// # Implementing a provider
//
// A provider implements [Model]. Stream sends one request and yields [Event]
// values as the provider produces them: text and thinking deltas, tool-call
// starts, argument deltas and completed calls, usage, and a final
// [EventFinish]. Failures are returned as the error of the sequence; provider
// failures should be an [*APIError] so that callers can decide on retries
// without reading message text. Stream must stop promptly when its consumer
// stops iterating or when ctx is cancelled, and release its connection.
package llm

import (
	"context"
	"encoding/json"
	"iter"
	"strings"
)

// Model is a streaming language model. Implementations must be safe for
// concurrent use and immutable after construction.
type Model interface {
	// Stream sends req and yields the model's answer as it arrives. The
	// sequence ends after an EventFinish or with a non-nil error. The caller
	// may stop early; the implementation must then release its resources.
	Stream(ctx context.Context, req *Request) iter.Seq2[Event, error]
}

// Role is the author of a message.
type Role string

// Roles of a conversation.
const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// PartType discriminates the content of a [Part].
type PartType string

// Kinds of message parts.
const (
	PartText       PartType = "text"
	PartThinking   PartType = "thinking"
	PartToolCall   PartType = "tool_call"
	PartToolResult PartType = "tool_result"
	PartFile       PartType = "file"
)

// Message is one entry of a conversation. The system prompt is not a message:
// it travels in [Request.System].
type Message struct {
	Role  Role   `json:"role"`
	Parts []Part `json:"parts"`
	// Interrupted marks an assistant reply that was cut short by an
	// interrupt or abort; it holds what had streamed until then.
	Interrupted bool `json:"interrupted,omitempty"`
}

// Part is one piece of a message. Exactly the fields of its Type are set.
type Part struct {
	Type PartType `json:"type"`
	// Text is the text of a text or thinking part.
	Text string `json:"text,omitempty"`
	// Signature is a provider's signature of a thinking block, kept so that
	// the block can be sent back verbatim on the next turn.
	Signature string `json:"signature,omitempty"`
	// Redacted marks a thinking block the provider encrypted: Text is empty
	// and Signature holds the opaque data to send back.
	Redacted bool `json:"redacted,omitempty"`
	// Provider names the adapter whose model signed the thinking block
	// (its [APIError.Provider], such as "anthropic" or "gemini"). An
	// adapter sends back only its own signatures (and untagged ones, from
	// before the tag existed): another provider's would be refused, so a
	// session can switch models.
	Provider   string      `json:"provider,omitempty"`
	ToolCall   *ToolCall   `json:"toolCall,omitempty"`
	ToolResult *ToolResult `json:"toolResult,omitempty"`
	File       *File       `json:"file,omitempty"`
}

// ToolCall is a model's request to run a tool.
type ToolCall struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Arguments is the JSON object of arguments as the model produced it.
	Arguments json.RawMessage `json:"arguments"`
}

// ToolResult is the answer to a [ToolCall].
type ToolResult struct {
	ToolCallID string `json:"toolCallId"`
	ToolName   string `json:"toolName"`
	// Output is a JSON value. A tool that returns a Go string has its string
	// kept verbatim: Output is then a JSON string, and [ToolResult.Text]
	// returns it unquoted.
	Output  json.RawMessage `json:"output"`
	IsError bool            `json:"isError,omitempty"`
}

// Text returns the result as the text a model should see: a JSON string
// output unquoted (verbatim), anything else as its JSON encoding.
func (r *ToolResult) Text() string {
	if len(r.Output) > 0 && r.Output[0] == '"' {
		var s string
		if json.Unmarshal(r.Output, &s) == nil {
			return s
		}
	}
	return string(r.Output)
}

// File is binary content (an image, a PDF) carried inline.
type File struct {
	MediaType string `json:"mediaType"`
	Name      string `json:"name,omitempty"`
	Data      []byte `json:"data"`
}

// TextPart returns a text part.
func TextPart(s string) Part { return Part{Type: PartText, Text: s} }

// UserMessage returns a user message holding text.
func UserMessage(text string) Message {
	return Message{Role: RoleUser, Parts: []Part{TextPart(text)}}
}

// Text returns the concatenated text parts of m.
func (m *Message) Text() string {
	var n int
	var only string
	for _, p := range m.Parts {
		if p.Type == PartText {
			n++
			only = p.Text
		}
	}
	if n <= 1 {
		return only
	}
	var b []byte
	for _, p := range m.Parts {
		if p.Type == PartText {
			b = append(b, p.Text...)
		}
	}
	return string(b)
}

// ToolCalls returns the tool calls of m in the order the model made them.
func (m *Message) ToolCalls() []ToolCall {
	var calls []ToolCall
	for _, p := range m.Parts {
		if p.Type == PartToolCall && p.ToolCall != nil {
			calls = append(calls, *p.ToolCall)
		}
	}
	return calls
}

// ToolSpec describes a tool offered to the model.
type ToolSpec struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// InputSchema is the JSON Schema of the arguments object.
	InputSchema json.RawMessage `json:"inputSchema"`
	// Strict asks providers that support it for constrained decoding.
	Strict bool `json:"strict,omitempty"`
}

// ToolChoiceMode says whether and which tool the model must call.
type ToolChoiceMode string

// Tool choice modes. The zero value is ToolChoiceAuto.
const (
	ToolChoiceAuto     ToolChoiceMode = ""
	ToolChoiceNone     ToolChoiceMode = "none"
	ToolChoiceRequired ToolChoiceMode = "required"
	ToolChoiceTool     ToolChoiceMode = "tool"
)

// ToolChoice constrains tool use. With Mode ToolChoiceTool, Name is the tool
// the model must call.
type ToolChoice struct {
	Mode ToolChoiceMode `json:"mode,omitempty"`
	Name string         `json:"name,omitempty"`
}

// Settings are the sampling settings of a call. Nil pointers and zero values
// leave the provider's default.
type Settings struct {
	// Model names the provider's model; empty means the adapter's default.
	Model           string   `json:"model,omitempty"`
	Temperature     *float64 `json:"temperature,omitempty"`
	MaxOutputTokens int      `json:"maxOutputTokens,omitempty"`
	TopP            *float64 `json:"topP,omitempty"`
	StopSequences   []string `json:"stopSequences,omitempty"`
	Seed            *int64   `json:"seed,omitempty"`
	// ReasoningEffort asks reasoning models for more or less thinking:
	// "minimal", "low", "medium" or "high". Empty leaves the default.
	ReasoningEffort string `json:"reasoningEffort,omitempty"`
	// ThinkingBudget turns on extended thinking with this many tokens for
	// providers that take a budget (Anthropic, Gemini). 0 leaves it off.
	ThinkingBudget int `json:"thinkingBudget,omitempty"`
	// Cache marks prompt-cache breakpoints for providers with explicit
	// caching (Anthropic). The zero value caches nothing explicitly;
	// providers that cache on their own (OpenAI, Gemini) still report
	// cached tokens in [Usage].
	Cache CacheStrategy `json:"cache,omitzero"`
}

// CacheStrategy says where a provider with explicit prompt caching places
// its cache breakpoints. Each breakpoint caches the whole request prefix up
// to and including that point.
type CacheStrategy struct {
	// System caches the system prompt.
	System bool `json:"system,omitempty"`
	// Tools caches the tool definitions (and the system prompt before them).
	Tools bool `json:"tools,omitempty"`
	// Messages caches the conversation prefix: everything up to the last
	// message of the request, so the next turn reads it from the cache.
	Messages bool `json:"messages,omitempty"`
	// TTL is the cache lifetime: "" (the provider's default, 5 minutes for
	// Anthropic) or "1h".
	TTL string `json:"ttl,omitempty"`
}

// IsZero reports whether c asks for no caching.
func (c CacheStrategy) IsZero() bool { return !c.System && !c.Tools && !c.Messages }

// OutputFormat asks the model to answer with JSON that matches a schema
// (providers' "structured output"). The answer arrives as text.
type OutputFormat struct {
	// Name names the schema (letters, digits, _ and -).
	Name string `json:"name"`
	// Description tells the model what the object is for.
	Description string `json:"description,omitempty"`
	// Schema is the JSON Schema of the answer.
	Schema json.RawMessage `json:"schema"`
	// Strict asks for constrained decoding where the provider supports it.
	Strict bool `json:"strict,omitempty"`
}

// Request is one model call.
type Request struct {
	// SessionID identifies the conversation. Providers may use it as a cache
	// or user key; the scripted model uses it to replay failures once.
	SessionID string
	// AgentType names the agent making the call (routing test models use it).
	AgentType  string
	System     string
	Messages   []Message
	Tools      []ToolSpec
	ToolChoice ToolChoice
	// Output, when set, asks for a JSON answer matching a schema.
	Output   *OutputFormat
	Settings Settings
}

// EventType discriminates an [Event].
type EventType uint8

// Kinds of stream events.
const (
	// EventTextDelta carries Text, a piece of the reply.
	EventTextDelta EventType = iota + 1
	// EventThinkingDelta carries Text, a piece of reasoning.
	EventThinkingDelta
	// EventThinkingEnd closes a reasoning block; Signature may be set
	// (with Provider, the adapter that got it), and Redacted marks an
	// encrypted block whose data is in Signature.
	EventThinkingEnd
	// EventToolCallStart announces a tool call: ToolCall.ID and ToolCall.Name.
	EventToolCallStart
	// EventToolCallDelta carries ArgsDelta for ToolCall.ID.
	EventToolCallDelta
	// EventToolCall carries a complete ToolCall.
	EventToolCall
	// EventUsage carries Usage for the call (it may come more than once;
	// the last one wins).
	EventUsage
	// EventFinish ends the answer with FinishReason.
	EventFinish
)

// FinishReason says why a model stopped.
type FinishReason string

// Finish reasons, normalised across providers.
const (
	FinishStop          FinishReason = "stop"
	FinishToolCalls     FinishReason = "tool_calls"
	FinishLength        FinishReason = "length"
	FinishContentFilter FinishReason = "content_filter"
	FinishOther         FinishReason = "other"
)

// Event is one element of a model's streamed answer. Provider is set with
// Signature (see [Part.Provider]).
type Event struct {
	Type         EventType
	Text         string
	Signature    string
	Provider     string
	Redacted     bool
	ToolCall     ToolCall
	ArgsDelta    string
	Usage        Usage
	FinishReason FinishReason
}

// Usage counts tokens. Cached (read from the prompt cache) and cache-write
// tokens are included in PromptTokens, reasoning tokens in
// CompletionTokens, as providers report them.
type Usage struct {
	PromptTokens     int64 `json:"promptTokens"`
	CompletionTokens int64 `json:"completionTokens"`
	ReasoningTokens  int64 `json:"reasoningTokens,omitempty"`
	// CachedTokens are prompt tokens read from the prompt cache.
	CachedTokens int64 `json:"cachedTokens,omitempty"`
	// CacheWriteTokens are prompt tokens written to the prompt cache
	// (providers that bill cache writes separately, such as Anthropic).
	CacheWriteTokens int64 `json:"cacheWriteTokens,omitempty"`
	TotalTokens      int64 `json:"totalTokens"`
}

// Add adds o to u.
func (u *Usage) Add(o Usage) {
	u.PromptTokens += o.PromptTokens
	u.CompletionTokens += o.CompletionTokens
	u.ReasoningTokens += o.ReasoningTokens
	u.CachedTokens += o.CachedTokens
	u.CacheWriteTokens += o.CacheWriteTokens
	u.TotalTokens += o.TotalTokens
}

// IsZero reports whether u counts nothing.
func (u Usage) IsZero() bool { return u == Usage{} }

// NormalizeArguments turns the argument text a model produced into the
// Arguments of a [ToolCall]: empty text becomes {}, valid JSON is kept
// byte for byte, and anything else (a truncated or malformed object) is
// kept as a JSON string holding the text, so the call still serialises and
// schema validation reports the problem to the model as a tool error.
func NormalizeArguments(raw string) json.RawMessage {
	t := strings.TrimSpace(raw)
	switch {
	case t == "":
		return json.RawMessage("{}")
	case json.Valid([]byte(t)):
		return json.RawMessage(t)
	}
	b, _ := json.Marshal(raw)
	return b
}

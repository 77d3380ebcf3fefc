package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"

	"google.golang.org/genai"

	"github.com/helix-agents/helix-go/llm"
)

// built is a request in the SDK's terms.
type built struct {
	model    string
	contents []*genai.Content
	config   *genai.GenerateContentConfig
	// turn numbers the answer for synthesised tool call ids.
	turn int
}

// Thinking budgets for llm.Settings.ReasoningEffort, chosen within the
// range every Gemini 2.5 model accepts (Flash-Lite's minimum is 512, the
// Flash maximum 24576).
var effortBudgets = map[string]int32{
	"minimal": 512,
	"low":     1024,
	"medium":  8192,
	"high":    24576,
}

// syntheticID matches the tool call ids the adapter makes up for calls that
// came without one; they are not sent back.
var syntheticID = regexp.MustCompile(`^call_[0-9]+_[0-9]+$`)

func invalid(format string, args ...any) error {
	return &llm.APIError{Provider: provider, Message: "invalid request: " + fmt.Sprintf(format, args...)}
}

// build maps req to the SDK's types. Its errors are non-retryable
// *llm.APIError values with Status 0.
func (m *Model) build(req *llm.Request) (*built, error) {
	if req == nil {
		return nil, invalid("nil request")
	}
	b := &built{model: m.model, turn: 1}
	if req.Settings.Model != "" {
		b.model = req.Settings.Model
	}
	for _, msg := range req.Messages {
		if msg.Role == llm.RoleAssistant {
			b.turn++
		}
	}
	var err error
	if b.contents, err = contents(req.Messages); err != nil {
		return nil, err
	}
	if len(b.contents) == 0 {
		return nil, invalid("no message has content to send")
	}
	if b.config, err = config(req); err != nil {
		return nil, err
	}
	return b, nil
}

func contents(msgs []llm.Message) ([]*genai.Content, error) {
	var out []*genai.Content
	names := map[string]string{} // tool call id → tool name, for results without a name
	for i, msg := range msgs {
		var c *genai.Content
		var err error
		switch msg.Role {
		case llm.RoleUser, llm.RoleTool:
			c, err = userContent(msg, names)
		case llm.RoleAssistant:
			c, err = modelContent(msg, names)
		default:
			err = fmt.Errorf("unknown role %q", msg.Role)
		}
		if err != nil {
			return nil, invalid("message %d: %v", i, err)
		}
		if len(c.Parts) == 0 {
			continue
		}
		// Results of parallel calls travel together, in one user turn.
		if n := len(out); n > 0 && responsesOnly(out[n-1]) && responsesOnly(c) {
			out[n-1].Parts = append(out[n-1].Parts, c.Parts...)
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

func responsesOnly(c *genai.Content) bool {
	if c.Role != genai.RoleUser {
		return false
	}
	for _, p := range c.Parts {
		if p.FunctionResponse == nil {
			return false
		}
	}
	return true
}

func userContent(msg llm.Message, names map[string]string) (*genai.Content, error) {
	c := &genai.Content{Role: genai.RoleUser}
	for j, p := range msg.Parts {
		switch p.Type {
		case llm.PartText:
			if p.Text != "" {
				c.Parts = append(c.Parts, &genai.Part{Text: p.Text})
			}
		case llm.PartFile:
			fp, err := filePart(p.File)
			if err != nil {
				return nil, fmt.Errorf("part %d: %w", j, err)
			}
			c.Parts = append(c.Parts, fp)
		case llm.PartToolResult:
			fr, err := functionResponse(p.ToolResult, names)
			if err != nil {
				return nil, fmt.Errorf("part %d: %w", j, err)
			}
			c.Parts = append(c.Parts, &genai.Part{FunctionResponse: fr})
		case llm.PartThinking:
			// Thinking belongs to the model's turns.
		default:
			return nil, fmt.Errorf("part %d: a %s part cannot be sent in a %s message", j, p.Type, msg.Role)
		}
	}
	return c, nil
}

func modelContent(msg llm.Message, names map[string]string) (*genai.Content, error) {
	c := &genai.Content{Role: genai.RoleModel}
	type signature struct {
		at  int // the number of content parts before it
		sig []byte
	}
	var sigs []signature
	for j, p := range msg.Parts {
		switch p.Type {
		case llm.PartThinking:
			// Thought summaries are not sent back; signatures are, on a
			// content part (see place), unless another provider's model
			// made them (Gemini would refuse them).
			if p.Signature != "" && (p.Provider == "" || p.Provider == provider) {
				if s, err := base64.StdEncoding.DecodeString(p.Signature); err == nil {
					sigs = append(sigs, signature{at: len(c.Parts), sig: s})
				}
			}
		case llm.PartText:
			if p.Text != "" {
				c.Parts = append(c.Parts, &genai.Part{Text: p.Text})
			}
		case llm.PartToolCall:
			tc := p.ToolCall
			if tc == nil || tc.Name == "" {
				return nil, fmt.Errorf("part %d: tool call without a name", j)
			}
			fc := &genai.FunctionCall{Name: tc.Name, Args: argsObject(tc.Arguments)}
			if tc.ID != "" && !syntheticID.MatchString(tc.ID) {
				fc.ID = tc.ID
			}
			if tc.ID != "" {
				names[tc.ID] = tc.Name
			}
			c.Parts = append(c.Parts, &genai.Part{FunctionCall: fc})
		case llm.PartFile:
			fp, err := filePart(p.File)
			if err != nil {
				return nil, fmt.Errorf("part %d: %w", j, err)
			}
			c.Parts = append(c.Parts, fp)
		default:
			return nil, fmt.Errorf("part %d: a %s part cannot be sent in an assistant message", j, p.Type)
		}
	}
	// Later signatures first, so that each finds the part it came with
	// before an earlier one claims it.
	for i := len(sigs) - 1; i >= 0; i-- {
		if p := place(c.Parts, sigs[i].at); p != nil {
			p.ThoughtSignature = sigs[i].sig
		}
	}
	return c, nil
}

// place picks the part that gets a signature found after the first at
// content parts: the first unsigned function call after it (where Gemini
// requires it; messages assembled from events put thinking first and calls
// last), else the first unsigned part after it, else the nearest unsigned
// part before it. It returns nil when every part is signed.
func place(parts []*genai.Part, at int) *genai.Part {
	for _, p := range parts[at:] {
		if p.FunctionCall != nil && p.ThoughtSignature == nil {
			return p
		}
	}
	for _, p := range parts[at:] {
		if p.ThoughtSignature == nil {
			return p
		}
	}
	for i := at - 1; i >= 0; i-- {
		if parts[i].ThoughtSignature == nil {
			return parts[i]
		}
	}
	return nil
}

// argsObject returns a call's arguments as the object Gemini wants. Text
// that is not a JSON object (a call the model cut short, kept by
// llm.NormalizeArguments as a JSON string) is sent as no arguments.
func argsObject(raw json.RawMessage) map[string]any {
	var args map[string]any
	if err := decodeJSON(raw, &args); err != nil || args == nil {
		return map[string]any{}
	}
	return args
}

func filePart(f *llm.File) (*genai.Part, error) {
	if f == nil || f.MediaType == "" {
		return nil, fmt.Errorf("file part without a media type")
	}
	return &genai.Part{InlineData: &genai.Blob{MIMEType: f.MediaType, Data: f.Data}}, nil
}

func functionResponse(r *llm.ToolResult, names map[string]string) (*genai.FunctionResponse, error) {
	if r == nil {
		return nil, fmt.Errorf("tool result part without a result")
	}
	name := r.ToolName
	if name == "" {
		name = names[r.ToolCallID]
	}
	if name == "" {
		return nil, fmt.Errorf("tool result %q names no tool", r.ToolCallID)
	}
	var out any
	if len(bytes.TrimSpace(r.Output)) > 0 {
		if err := decodeJSON(r.Output, &out); err != nil {
			out = r.Text()
		}
	}
	key := "result"
	if r.IsError {
		key = "error"
	}
	fr := &genai.FunctionResponse{Name: name, Response: map[string]any{key: out}}
	if r.ToolCallID != "" && !syntheticID.MatchString(r.ToolCallID) {
		fr.ID = r.ToolCallID
	}
	return fr, nil
}

// decodeJSON decodes one JSON value, keeping numbers as written.
func decodeJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

func config(req *llm.Request) (*genai.GenerateContentConfig, error) {
	off := false
	cfg := &genai.GenerateContentConfig{
		// Resuming a dropped stream is a retry, and retries are the
		// caller's decision.
		AutomaticContinuation: &off,
	}
	if req.System != "" {
		cfg.SystemInstruction = &genai.Content{Role: genai.RoleUser, Parts: []*genai.Part{{Text: req.System}}}
	}
	s := req.Settings
	if s.Temperature != nil {
		t := float32(*s.Temperature)
		cfg.Temperature = &t
	}
	if s.TopP != nil {
		p := float32(*s.TopP)
		cfg.TopP = &p
	}
	if s.MaxOutputTokens < 0 || s.MaxOutputTokens > math.MaxInt32 {
		return nil, invalid("MaxOutputTokens %d is out of range", s.MaxOutputTokens)
	}
	cfg.MaxOutputTokens = int32(s.MaxOutputTokens)
	cfg.StopSequences = s.StopSequences
	if s.Seed != nil {
		if *s.Seed < math.MinInt32 || *s.Seed > math.MaxInt32 {
			return nil, invalid("Seed %d does not fit Gemini's 32-bit seed", *s.Seed)
		}
		seed := int32(*s.Seed)
		cfg.Seed = &seed
	}
	budget, err := thinkingBudget(s)
	if err != nil {
		return nil, err
	}
	if budget != 0 {
		cfg.ThinkingConfig = &genai.ThinkingConfig{ThinkingBudget: &budget, IncludeThoughts: true}
	}
	if err := tools(cfg, req); err != nil {
		return nil, err
	}
	if req.Output != nil {
		cfg.ResponseMIMEType = "application/json"
		if len(bytes.TrimSpace(req.Output.Schema)) > 0 {
			schema, err := outputSchema(req.Output)
			if err != nil {
				return nil, err
			}
			cfg.ResponseJsonSchema = schema
		}
	}
	return cfg, nil
}

// thinkingBudget returns the thinking budget to send, 0 for none.
func thinkingBudget(s llm.Settings) (int32, error) {
	switch {
	case s.ThinkingBudget < 0:
		return -1, nil
	case s.ThinkingBudget > math.MaxInt32:
		return 0, invalid("ThinkingBudget %d is out of range", s.ThinkingBudget)
	case s.ThinkingBudget > 0:
		return int32(s.ThinkingBudget), nil
	case s.ReasoningEffort == "":
		return 0, nil
	}
	b, ok := effortBudgets[strings.ToLower(s.ReasoningEffort)]
	if !ok {
		return 0, invalid("unknown ReasoningEffort %q (want minimal, low, medium or high)", s.ReasoningEffort)
	}
	return b, nil
}

func tools(cfg *genai.GenerateContentConfig, req *llm.Request) error {
	known := map[string]bool{}
	if len(req.Tools) > 0 {
		t := &genai.Tool{}
		for i, spec := range req.Tools {
			if spec.Name == "" {
				return invalid("tool %d has no name", i)
			}
			known[spec.Name] = true
			fd := &genai.FunctionDeclaration{Name: spec.Name, Description: spec.Description}
			if len(bytes.TrimSpace(spec.InputSchema)) > 0 {
				if !json.Valid(spec.InputSchema) {
					return invalid("tool %q: InputSchema is not JSON", spec.Name)
				}
				fd.ParametersJsonSchema = json.RawMessage(spec.InputSchema)
			}
			t.FunctionDeclarations = append(t.FunctionDeclarations, fd)
		}
		cfg.Tools = []*genai.Tool{t}
	}
	ch := req.ToolChoice
	var fc *genai.FunctionCallingConfig
	switch ch.Mode {
	case llm.ToolChoiceAuto:
	case llm.ToolChoiceNone:
		if len(req.Tools) > 0 {
			fc = &genai.FunctionCallingConfig{Mode: genai.FunctionCallingConfigModeNone}
		}
	case llm.ToolChoiceRequired:
		if len(req.Tools) == 0 {
			return invalid("tool choice %q without tools", ch.Mode)
		}
		fc = &genai.FunctionCallingConfig{Mode: genai.FunctionCallingConfigModeAny}
	case llm.ToolChoiceTool:
		if !known[ch.Name] {
			return invalid("tool choice names %q, which is not among the request's tools", ch.Name)
		}
		fc = &genai.FunctionCallingConfig{Mode: genai.FunctionCallingConfigModeAny, AllowedFunctionNames: []string{ch.Name}}
	default:
		return invalid("unknown tool choice mode %q", ch.Mode)
	}
	if fc != nil {
		cfg.ToolConfig = &genai.ToolConfig{FunctionCallingConfig: fc}
	}
	return nil
}

// outputSchema returns the output format's schema with its name and
// description as the schema's title and description, unless it has its
// own: Gemini has no other place for them.
func outputSchema(o *llm.OutputFormat) (any, error) {
	var schema map[string]any
	if err := decodeJSON(o.Schema, &schema); err != nil || schema == nil {
		return nil, invalid("output format %q: Schema is not a JSON object", o.Name)
	}
	if _, ok := schema["title"]; !ok && o.Name != "" {
		schema["title"] = o.Name
	}
	if _, ok := schema["description"]; !ok && o.Description != "" {
		schema["description"] = o.Description
	}
	return schema, nil
}

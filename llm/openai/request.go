package openai

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/helix-agents/helix-go/llm"
)

// params encodes req as Chat Completions parameters.
func (m *Model) params(req *llm.Request) (sdk.ChatCompletionNewParams, error) {
	var p sdk.ChatCompletionNewParams
	s := req.Settings
	p.Model = m.model
	if s.Model != "" {
		p.Model = s.Model
	}
	p.StreamOptions.IncludeUsage = sdk.Bool(true)

	if req.System != "" {
		if m.systemRole == "developer" {
			p.Messages = append(p.Messages, sdk.DeveloperMessage(req.System))
		} else {
			p.Messages = append(p.Messages, sdk.SystemMessage(req.System))
		}
	}
	for i := range req.Messages {
		msgs, err := messages(&req.Messages[i])
		if err != nil {
			return p, invalid("message %d: %w", i, err)
		}
		p.Messages = append(p.Messages, msgs...)
	}

	for _, t := range req.Tools {
		fd := sdk.FunctionDefinitionParam{Name: t.Name}
		if t.Description != "" {
			fd.Description = sdk.String(t.Description)
		}
		schema, err := schemaObject(t.InputSchema, t.Strict)
		if err != nil {
			return p, invalid("tool %q: input schema: %w", t.Name, err)
		}
		fd.Parameters = schema
		if t.Strict {
			// Strict mode rejects a schema it cannot enforce: ask for it only
			// when the schema qualifies (see strictSchema).
			fd.Strict = sdk.Bool(strictSchema(schema))
		}
		p.Tools = append(p.Tools, sdk.ChatCompletionFunctionTool(fd))
	}
	if err := toolChoice(&p, req); err != nil {
		return p, err
	}

	if o := req.Output; o != nil {
		if !json.Valid(o.Schema) {
			return p, invalid("output %q: schema is not JSON", o.Name)
		}
		name := o.Name
		if name == "" {
			name = "output"
		}
		js := shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: name, Schema: json.RawMessage(o.Schema)}
		if o.Description != "" {
			js.Description = sdk.String(o.Description)
		}
		if o.Strict {
			js.Strict = sdk.Bool(strictSchema(json.RawMessage(o.Schema)))
		}
		p.ResponseFormat.OfJSONSchema = &shared.ResponseFormatJSONSchemaParam{JSONSchema: js}
	}

	if s.Temperature != nil {
		p.Temperature = sdk.Float(*s.Temperature)
	}
	if s.TopP != nil {
		p.TopP = sdk.Float(*s.TopP)
	}
	if s.Seed != nil {
		p.Seed = sdk.Int(*s.Seed)
	}
	if s.MaxOutputTokens > 0 {
		if m.legacyMaxTokens {
			p.MaxTokens = sdk.Int(int64(s.MaxOutputTokens))
		} else {
			p.MaxCompletionTokens = sdk.Int(int64(s.MaxOutputTokens))
		}
	}
	if len(s.StopSequences) > 0 {
		p.Stop.OfStringArray = slices.Clone(s.StopSequences)
	}
	if s.ReasoningEffort != "" {
		p.ReasoningEffort = shared.ReasoningEffort(s.ReasoningEffort)
	}
	if !s.Cache.IsZero() && req.SessionID != "" {
		p.PromptCacheKey = sdk.String(req.SessionID)
	}
	return p, nil
}

// messages encodes one message. A message may become several: tool results
// each become a "tool" message, whatever the role of the message holding
// them, and come before the rest of a user message.
func messages(msg *llm.Message) ([]sdk.ChatCompletionMessageParamUnion, error) {
	var out []sdk.ChatCompletionMessageParamUnion
	var texts []string
	var parts []sdk.ChatCompletionContentPartUnionParam
	var calls []sdk.ChatCompletionMessageToolCallUnionParam
	files := false
	for j, part := range msg.Parts {
		switch part.Type {
		case llm.PartText:
			if part.Text == "" {
				continue
			}
			texts = append(texts, part.Text)
			parts = append(parts, sdk.TextContentPart(part.Text))
		case llm.PartThinking:
			// Chat Completions takes no reasoning input.
		case llm.PartToolCall:
			tc := part.ToolCall
			if tc == nil {
				return nil, fmt.Errorf("part %d: tool call part without a tool call", j)
			}
			if msg.Role != llm.RoleAssistant {
				return nil, fmt.Errorf("part %d: a tool call in a %s message", j, msg.Role)
			}
			args := strings.TrimSpace(string(tc.Arguments))
			if args == "" {
				args = "{}"
			}
			calls = append(calls, sdk.ChatCompletionMessageToolCallUnionParam{OfFunction: &sdk.ChatCompletionMessageFunctionToolCallParam{
				ID:       tc.ID,
				Function: sdk.ChatCompletionMessageFunctionToolCallFunctionParam{Name: tc.Name, Arguments: args},
			}})
		case llm.PartToolResult:
			tr := part.ToolResult
			if tr == nil {
				return nil, fmt.Errorf("part %d: tool result part without a tool result", j)
			}
			out = append(out, sdk.ToolMessage(tr.Text(), tr.ToolCallID))
		case llm.PartFile:
			if part.File == nil {
				return nil, fmt.Errorf("part %d: file part without a file", j)
			}
			if msg.Role != llm.RoleUser {
				return nil, fmt.Errorf("part %d: Chat Completions takes files in user messages only, not in a %s message", j, msg.Role)
			}
			fp, err := filePart(part.File)
			if err != nil {
				return nil, fmt.Errorf("part %d: %w", j, err)
			}
			parts = append(parts, fp)
			files = true
		default:
			return nil, fmt.Errorf("part %d: unknown part type %q", j, part.Type)
		}
	}
	switch msg.Role {
	case llm.RoleUser:
		switch {
		case files:
			out = append(out, sdk.UserMessage(parts))
		case len(texts) == 1:
			out = append(out, sdk.UserMessage(texts[0]))
		case len(texts) > 1:
			out = append(out, sdk.UserMessage(parts))
		}
	case llm.RoleAssistant:
		if len(texts) == 0 && len(calls) == 0 {
			break // nothing the API would accept: an answer that was only thinking
		}
		a := sdk.ChatCompletionAssistantMessageParam{ToolCalls: calls}
		if len(texts) > 0 {
			a.Content.OfString = sdk.String(strings.Join(texts, ""))
		}
		out = append(out, sdk.ChatCompletionMessageParamUnion{OfAssistant: &a})
	case llm.RoleTool:
		if len(texts) > 0 {
			return nil, fmt.Errorf("a tool message holds text; tool messages carry tool results only")
		}
	default:
		return nil, fmt.Errorf("unknown role %q", msg.Role)
	}
	return out, nil
}

// filePart encodes an inline file as the content part Chat Completions
// takes for its media type.
func filePart(f *llm.File) (sdk.ChatCompletionContentPartUnionParam, error) {
	mt := strings.ToLower(strings.TrimSpace(strings.SplitN(f.MediaType, ";", 2)[0]))
	b64 := base64.StdEncoding.EncodeToString(f.Data)
	switch {
	case strings.HasPrefix(mt, "image/"):
		return sdk.ImageContentPart(sdk.ChatCompletionContentPartImageImageURLParam{URL: "data:" + mt + ";base64," + b64}), nil
	case mt == "application/pdf":
		fp := sdk.ChatCompletionContentPartFileFileParam{FileData: sdk.String("data:" + mt + ";base64," + b64)}
		name := f.Name
		if name == "" {
			name = "document.pdf"
		}
		fp.Filename = sdk.String(name)
		return sdk.FileContentPart(fp), nil
	case mt == "audio/wav" || mt == "audio/x-wav" || mt == "audio/wave":
		return sdk.InputAudioContentPart(sdk.ChatCompletionContentPartInputAudioInputAudioParam{Data: b64, Format: "wav"}), nil
	case mt == "audio/mpeg" || mt == "audio/mp3":
		return sdk.InputAudioContentPart(sdk.ChatCompletionContentPartInputAudioInputAudioParam{Data: b64, Format: "mp3"}), nil
	}
	return sdk.ChatCompletionContentPartUnionParam{}, fmt.Errorf("file %q: Chat Completions does not take %q (images, PDF, WAV and MP3 only)", f.Name, f.MediaType)
}

// schemaObject decodes a tool's JSON Schema object. Its members are kept
// as raw JSON, which the SDK sends byte for byte (it would turn a
// json.Number into a string, and float64 loses large integers). An empty
// schema is an object without properties; for a strict tool it also says
// so in the terms strict mode requires.
func schemaObject(raw json.RawMessage, strict bool) (shared.FunctionParameters, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		if strict {
			return shared.FunctionParameters{"type": "object", "properties": map[string]any{},
				"required": []string{}, "additionalProperties": false}, nil
		}
		return shared.FunctionParameters{"type": "object", "properties": map[string]any{}}, nil
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, err
	}
	if members == nil {
		return nil, errors.New("schema is null")
	}
	schema := make(shared.FunctionParameters, len(members))
	for k, v := range members {
		schema[k] = v
	}
	return schema, nil
}

// toolChoice encodes req.ToolChoice. Auto is the API's default when tools
// are offered and is left out.
func toolChoice(p *sdk.ChatCompletionNewParams, req *llm.Request) error {
	tc := req.ToolChoice
	switch tc.Mode {
	case llm.ToolChoiceAuto:
	case llm.ToolChoiceNone:
		if len(req.Tools) > 0 {
			p.ToolChoice.OfAuto = sdk.String("none")
		}
	case llm.ToolChoiceRequired:
		if len(req.Tools) == 0 {
			return invalid("tool choice %q but the request offers no tools", tc.Mode)
		}
		p.ToolChoice.OfAuto = sdk.String("required")
	case llm.ToolChoiceTool:
		if !slices.ContainsFunc(req.Tools, func(t llm.ToolSpec) bool { return t.Name == tc.Name }) {
			return invalid("tool choice names %q, which the request does not offer", tc.Name)
		}
		p.ToolChoice = sdk.ToolChoiceOptionFunctionToolChoice(sdk.ChatCompletionNamedToolChoiceFunctionParam{Name: tc.Name})
	default:
		return invalid("unknown tool choice mode %q", tc.Mode)
	}
	return nil
}

// strictUnsupported are keywords OpenAI's strict mode rejects.
var strictUnsupported = [...]string{"allOf", "oneOf", "not", "if", "then", "else",
	"dependentRequired", "dependentSchemas", "patternProperties"}

// strictSchema reports whether schema (raw JSON or a decoded object) is one
// OpenAI's strict mode accepts: every object lists all its properties in
// required and sets additionalProperties to false, in every subschema
// (properties, items, prefixItems, anyOf, $defs, definitions), and no
// unsupported keyword appears. A schema that is not, for example one
// leaving optional fields out of required, is sent with strict false: a
// strict request would be refused with a 400.
func strictSchema(schema any) bool {
	b, err := json.Marshal(schema)
	if err != nil {
		return false
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return false
	}
	return strictNode(v)
}

func strictNode(v any) bool {
	s, ok := v.(map[string]any)
	if !ok {
		return false // boolean schemas included
	}
	for _, k := range strictUnsupported {
		if _, ok := s[k]; ok {
			return false
		}
	}
	props, hasProps := s["properties"]
	if hasProps || typeIs(s["type"], "object") {
		pm, ok := props.(map[string]any)
		if hasProps && !ok {
			return false
		}
		if ap, ok := s["additionalProperties"].(bool); !ok || ap {
			return false
		}
		req, _ := s["required"].([]any)
		listed := make(map[string]bool, len(req))
		for _, r := range req {
			if name, ok := r.(string); ok {
				listed[name] = true
			}
		}
		for name, sub := range pm {
			if !listed[name] || !strictNode(sub) {
				return false
			}
		}
	}
	if items, ok := s["items"]; ok {
		if list, ok := items.([]any); ok {
			if !strictAll(list) {
				return false
			}
		} else if !strictNode(items) {
			return false
		}
	}
	for _, k := range [...]string{"prefixItems", "anyOf"} {
		if x, ok := s[k]; ok {
			list, ok := x.([]any)
			if !ok || !strictAll(list) {
				return false
			}
		}
	}
	for _, k := range [...]string{"$defs", "definitions"} {
		if x, ok := s[k]; ok {
			defs, ok := x.(map[string]any)
			if !ok {
				return false
			}
			for _, sub := range defs {
				if !strictNode(sub) {
					return false
				}
			}
		}
	}
	return true
}

func strictAll(list []any) bool {
	for _, sub := range list {
		if !strictNode(sub) {
			return false
		}
	}
	return true
}

// typeIs reports whether a schema's type (a string or a list) includes t.
func typeIs(typ any, t string) bool {
	switch typ := typ.(type) {
	case string:
		return typ == t
	case []any:
		for _, x := range typ {
			if x == t {
				return true
			}
		}
	}
	return false
}

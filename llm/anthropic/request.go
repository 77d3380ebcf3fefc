package anthropic

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/packages/param"

	"github.com/helix-agents/helix-go/llm"
)

// Thinking budgets for [llm.Settings.ReasoningEffort] when
// [llm.Settings.ThinkingBudget] is 0.
const (
	minThinkingBudget = 1024 // the API's minimum, and "low"
	mediumBudget      = 4096
	highBudget        = 16384
)

// effortBudget is the thinking budget a reasoning effort stands for; 0 is
// no thinking.
func effortBudget(effort string) int64 {
	switch strings.ToLower(strings.TrimSpace(effort)) {
	case "low":
		return minThinkingBudget
	case "medium":
		return mediumBudget
	case "high":
		return highBudget
	}
	return 0
}

// params maps req to the SDK's request.
func (m *Model) params(req *llm.Request) (sdk.MessageNewParams, error) {
	s := req.Settings
	p := sdk.MessageNewParams{Model: sdk.Model(cmp.Or(strings.TrimSpace(s.Model), m.model))}

	budget := int64(max(s.ThinkingBudget, 0))
	derived := budget == 0
	if derived {
		budget = effortBudget(s.ReasoningEffort)
	}
	if forced := req.ToolChoice.Mode; forced == llm.ToolChoiceRequired || forced == llm.ToolChoiceTool {
		// The API refuses extended thinking with a forced tool choice (the
		// runtime forces __finish__ for structured output): the forced
		// call is made without thinking rather than failing with a 400.
		budget = 0
	}
	maxTokens := int64(max(s.MaxOutputTokens, 0))
	switch {
	case maxTokens == 0:
		maxTokens = m.maxTokens
		if budget > 0 {
			maxTokens += budget
		}
	case derived && budget >= maxTokens:
		budget = maxTokens - 1
		if budget < minThinkingBudget {
			budget = 0
		}
	}
	p.MaxTokens = maxTokens
	if budget > 0 {
		p.Thinking = sdk.ThinkingConfigParamOfEnabled(budget)
	} else if s.Temperature != nil {
		p.Temperature = param.NewOpt(*s.Temperature)
	}
	if s.TopP != nil {
		p.TopP = param.NewOpt(*s.TopP)
	}
	if len(s.StopSequences) > 0 {
		p.StopSequences = s.StopSequences
	}

	cc, err := cacheControl(s.Cache)
	if err != nil {
		return p, err
	}
	if req.System != "" {
		p.System = []sdk.TextBlockParam{{Text: req.System}}
		if s.Cache.System {
			p.System[0].CacheControl = cc
		}
	}
	if p.Messages, err = messages(req.Messages); err != nil {
		return p, err
	}
	if s.Cache.Messages && len(p.Messages) > 0 {
		blocks := p.Messages[len(p.Messages)-1].Content
		for i := len(blocks) - 1; i >= 0; i-- {
			if c := blocks[i].GetCacheControl(); c != nil {
				*c = cc
				break
			}
		}
	}
	if p.Tools, err = tools(req.Tools); err != nil {
		return p, err
	}
	if s.Cache.Tools && len(p.Tools) > 0 {
		p.Tools[len(p.Tools)-1].OfTool.CacheControl = cc
	}
	if len(p.Tools) > 0 {
		if p.ToolChoice, err = toolChoice(req.ToolChoice); err != nil {
			return p, err
		}
	}
	if req.Output != nil {
		if p.OutputConfig.Format, err = outputFormat(req.Output); err != nil {
			return p, err
		}
	}
	return p, nil
}

// cacheControl returns the breakpoint marker for c.
func cacheControl(c llm.CacheStrategy) (sdk.CacheControlEphemeralParam, error) {
	cc := sdk.NewCacheControlEphemeralParam()
	switch c.TTL {
	case "":
	case "5m", "1h":
		cc.TTL = sdk.CacheControlEphemeralTTL(c.TTL)
	default:
		return cc, invalid("cache TTL %q: want \"\", \"5m\" or \"1h\"", c.TTL)
	}
	return cc, nil
}

// messages maps the conversation. Tool messages become user messages of
// tool_result blocks; consecutive user and tool messages are merged into one
// user turn (as Anthropic would), its tool_result blocks first; messages
// left without content are dropped.
func messages(msgs []llm.Message) ([]sdk.MessageParam, error) {
	out := make([]sdk.MessageParam, 0, len(msgs))
	for i := range msgs {
		msg := &msgs[i]
		var blocks []sdk.ContentBlockParamUnion
		var err error
		role := sdk.MessageParamRoleUser
		switch msg.Role {
		case llm.RoleUser, llm.RoleTool:
			blocks, err = userBlocks(msg.Parts)
		case llm.RoleAssistant:
			role = sdk.MessageParamRoleAssistant
			blocks, err = assistantBlocks(msg.Parts)
		default:
			err = invalid("message %d has unknown role %q", i, msg.Role)
		}
		if err != nil {
			return nil, err
		}
		if len(blocks) == 0 {
			continue
		}
		if role == sdk.MessageParamRoleUser && len(out) > 0 && out[len(out)-1].Role == sdk.MessageParamRoleUser {
			last := &out[len(out)-1]
			last.Content = append(last.Content, blocks...)
			continue
		}
		out = append(out, sdk.MessageParam{Role: role, Content: blocks})
	}
	for i := range out {
		if out[i].Role == sdk.MessageParamRoleUser {
			toolResultsFirst(out[i].Content)
		}
	}
	return out, nil
}

// toolResultsFirst moves the tool_result blocks of a user turn ahead of its
// other blocks, keeping the order within each group: Anthropic rejects a
// user turn whose tool results do not come first.
func toolResultsFirst(blocks []sdk.ContentBlockParamUnion) {
	slices.SortStableFunc(blocks, func(a, b sdk.ContentBlockParamUnion) int {
		ra, rb := a.OfToolResult != nil, b.OfToolResult != nil
		switch {
		case ra && !rb:
			return -1
		case rb && !ra:
			return 1
		}
		return 0
	})
}

// userBlocks maps the parts of a user or tool message.
func userBlocks(parts []llm.Part) ([]sdk.ContentBlockParamUnion, error) {
	var blocks []sdk.ContentBlockParamUnion
	for _, p := range parts {
		switch p.Type {
		case llm.PartText:
			if p.Text != "" {
				blocks = append(blocks, sdk.NewTextBlock(p.Text))
			}
		case llm.PartFile:
			if p.File == nil {
				return nil, invalid("file part without a file")
			}
			b, err := fileBlock(p.File)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, b)
		case llm.PartToolResult:
			r := p.ToolResult
			if r == nil || r.ToolCallID == "" {
				return nil, invalid("tool result without a tool call id")
			}
			tr := sdk.ToolResultBlockParam{ToolUseID: r.ToolCallID}
			if text := r.Text(); text != "" {
				tr.Content = []sdk.ToolResultBlockParamContentUnion{{OfText: &sdk.TextBlockParam{Text: text}}}
			}
			if r.IsError {
				tr.IsError = param.NewOpt(true)
			}
			blocks = append(blocks, sdk.ContentBlockParamUnion{OfToolResult: &tr})
		default:
			return nil, invalid("a user message cannot carry a %s part", p.Type)
		}
	}
	return blocks, nil
}

// assistantBlocks maps the parts of an assistant message, thinking first.
func assistantBlocks(parts []llm.Part) ([]sdk.ContentBlockParamUnion, error) {
	var thinking, rest []sdk.ContentBlockParamUnion
	for _, p := range parts {
		switch p.Type {
		case llm.PartThinking:
			switch {
			case p.Provider != "" && p.Provider != provider:
				// Signed by another provider's model: Anthropic would
				// refuse the signature, so the block is not sent.
			case p.Redacted:
				if p.Signature != "" {
					thinking = append(thinking, sdk.NewRedactedThinkingBlock(p.Signature))
				}
			case p.Signature != "":
				thinking = append(thinking, sdk.NewThinkingBlock(p.Signature, p.Text))
			}
		case llm.PartText:
			if p.Text != "" {
				rest = append(rest, sdk.NewTextBlock(p.Text))
			}
		case llm.PartToolCall:
			tc := p.ToolCall
			if tc == nil || tc.ID == "" || tc.Name == "" {
				return nil, invalid("tool call without an id or a name")
			}
			rest = append(rest, sdk.NewToolUseBlock(tc.ID, toolInput(tc.Arguments), tc.Name))
		default:
			return nil, invalid("an assistant message cannot carry a %s part", p.Type)
		}
	}
	return append(thinking, rest...), nil
}

// toolInput is the input of a tool_use block: the arguments if they are a
// JSON object, else {} (the API accepts nothing else).
func toolInput(args json.RawMessage) json.RawMessage {
	t := bytes.TrimSpace(args)
	if len(t) > 0 && t[0] == '{' && json.Valid(t) {
		return t
	}
	return json.RawMessage("{}")
}

// fileBlock maps a file to an image or document block.
func fileBlock(f *llm.File) (sdk.ContentBlockParamUnion, error) {
	mt, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(f.MediaType)), ";")
	mt = strings.TrimSpace(mt)
	switch {
	case mt == "image/jpeg" || mt == "image/png" || mt == "image/gif" || mt == "image/webp":
		return sdk.NewImageBlockBase64(mt, base64.StdEncoding.EncodeToString(f.Data)), nil
	case mt == "application/pdf":
		b := sdk.NewDocumentBlock(sdk.Base64PDFSourceParam{Data: base64.StdEncoding.EncodeToString(f.Data)})
		if f.Name != "" {
			b.OfDocument.Title = param.NewOpt(f.Name)
		}
		return b, nil
	case strings.HasPrefix(mt, "text/"):
		b := sdk.NewDocumentBlock(sdk.PlainTextSourceParam{Data: string(f.Data)})
		if f.Name != "" {
			b.OfDocument.Title = param.NewOpt(f.Name)
		}
		return b, nil
	}
	return sdk.ContentBlockParamUnion{}, invalid("file media type %q is not supported (images, PDF, text)", f.MediaType)
}

// tools maps tool specs; the input schema is sent verbatim.
func tools(specs []llm.ToolSpec) ([]sdk.ToolUnionParam, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	out := make([]sdk.ToolUnionParam, 0, len(specs))
	for _, t := range specs {
		if t.Name == "" {
			return nil, invalid("tool without a name")
		}
		schema := bytes.TrimSpace(t.InputSchema)
		if len(schema) == 0 {
			schema = []byte(`{"type":"object","properties":{}}`)
		}
		if schema[0] != '{' || !json.Valid(schema) {
			return nil, invalid("tool %q: input schema is not a JSON object", t.Name)
		}
		tp := &sdk.ToolParam{
			Name:        t.Name,
			InputSchema: param.Override[sdk.ToolInputSchemaParam](json.RawMessage(schema)),
		}
		if t.Description != "" {
			tp.Description = param.NewOpt(t.Description)
		}
		if t.Strict {
			tp.Strict = param.NewOpt(true)
		}
		out = append(out, sdk.ToolUnionParam{OfTool: tp})
	}
	return out, nil
}

// toolChoice maps c; auto, the API's default, is left out.
func toolChoice(c llm.ToolChoice) (sdk.ToolChoiceUnionParam, error) {
	switch c.Mode {
	case llm.ToolChoiceAuto:
		return sdk.ToolChoiceUnionParam{}, nil
	case llm.ToolChoiceNone:
		none := sdk.NewToolChoiceNoneParam()
		return sdk.ToolChoiceUnionParam{OfNone: &none}, nil
	case llm.ToolChoiceRequired:
		return sdk.ToolChoiceUnionParam{OfAny: &sdk.ToolChoiceAnyParam{}}, nil
	case llm.ToolChoiceTool:
		if c.Name == "" {
			return sdk.ToolChoiceUnionParam{}, invalid("tool choice %q without a tool name", c.Mode)
		}
		return sdk.ToolChoiceParamOfTool(c.Name), nil
	}
	return sdk.ToolChoiceUnionParam{}, invalid("unknown tool choice mode %q", c.Mode)
}

// outputFormat maps o to a json_schema output format. The format has no
// name: Name and Description go into the schema as title and description
// unless it has its own.
func outputFormat(o *llm.OutputFormat) (sdk.JSONOutputFormatParam, error) {
	// Values stay raw: decoding them into Go values would change numbers
	// (the SDK's encoder writes a json.Number as a string).
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(o.Schema, &fields); err != nil || fields == nil {
		return sdk.JSONOutputFormatParam{}, invalid("output format %q: schema is not a JSON object", o.Name)
	}
	schema := make(map[string]any, len(fields)+2)
	for k, v := range fields {
		schema[k] = v
	}
	if _, ok := schema["title"]; !ok && o.Name != "" {
		schema["title"] = o.Name
	}
	if _, ok := schema["description"]; !ok && o.Description != "" {
		schema["description"] = o.Description
	}
	return sdk.JSONOutputFormatParam{Schema: schema}, nil
}

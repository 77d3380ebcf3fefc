package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/server/internal/jsonobj"
)

// ErrInvalidRequest is wrapped by every error of [ParseRequest]. The
// detail names the field, never its value.
var ErrInvalidRequest = errors.New("chat: invalid request")

// Triggers a request may carry (the AI SDK's ChatRequestOptions trigger;
// "resume-stream" is a GET and never has a body).
const (
	TriggerSubmit     = "submit-message"
	TriggerRegenerate = "regenerate-message"
)

// MaxAgentTypeLen bounds the agentType field.
const MaxAgentTypeLen = 128

// Request is a parsed chat request. Exactly one of Text and Answers is
// set: Text when the newest message is the user's (or the simple form),
// Answers when it is the assistant's.
type Request struct {
	// ID is the chat id the transport sent ("" if absent).
	ID string
	// Trigger is TriggerSubmit or TriggerRegenerate ("" in the simple form).
	Trigger string
	// MessageID is the messageId field ("" if absent or null).
	MessageID string
	// AgentType is the agentType field ("" if absent).
	AgentType string
	// Metadata is the metadata field (nil if absent).
	Metadata map[string]string

	// Text is the new user message: the text parts of the newest message,
	// joined by "\n".
	Text string

	// Answers holds what the newest (assistant) message says about its
	// tool calls.
	Answers *Answers
}

// Answers are the tool answers of the newest assistant message of a
// request.
type Answers struct {
	// MessageID is the assistant message's id ("" if it had none).
	MessageID string
	// ToolCallIDs are all the message's tool calls, answered or not, in
	// order: the client has parts for them.
	ToolCallIDs []string
	// Approvals are the parts in state approval-responded.
	Approvals []Approval
	// Outputs are the parts in state output-available (not preliminary)
	// or output-error. Server tools' outputs are among them; only those
	// of pending client tools are submissions.
	Outputs []ToolOutput
}

// ValidMessageID reports whether id can name the assistant message a
// stream continues: 1 to 256 bytes of valid UTF-8 without control
// characters.
func ValidMessageID(id string) bool {
	if id == "" || len(id) > 256 || !utf8.ValidString(id) {
		return false
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// Approval is an approval response of a tool part.
type Approval struct {
	ToolCallID string
	ApprovalID string
	Approved   bool
	Reason     string
}

// Submission returns the approval as a tool submission.
func (a Approval) Submission() helix.ToolSubmission {
	return helix.ToolSubmission{Kind: helix.SubmitApproval, ToolCallID: a.ToolCallID, Approved: a.Approved, Reason: a.Reason}
}

// ToolOutput is the outcome of a tool part: Output (JSON, "null" when the
// part had none) or, if IsError, ErrorText.
type ToolOutput struct {
	ToolCallID string
	Output     json.RawMessage
	IsError    bool
	ErrorText  string
}

// Submission returns the output as a client tool result.
func (o ToolOutput) Submission() helix.ToolSubmission {
	sub := helix.ToolSubmission{Kind: helix.SubmitClientToolResult, ToolCallID: o.ToolCallID}
	if o.IsError {
		sub.Error = o.ErrorText
		if sub.Error == "" {
			sub.Error = "the client tool failed"
		}
	} else {
		sub.Result = o.Output
	}
	return sub
}

var topLevelKeys = map[string]bool{
	"id": true, "messages": true, "trigger": true, "messageId": true,
	"agentType": true, "message": true, "metadata": true,
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
}

// ParseRequest parses the body of a chat request: {"message": "text"} or
// DefaultChatTransport's {id, messages, trigger, messageId}, plus agentType
// and metadata. Keys match exactly (case-sensitively), and none may appear
// twice in an object read. The top level allows only those keys; the
// newest message and its parts may hold any other fields (the UIMessage
// shape is large), but the fields read must have the right types. Older
// messages are history the session already holds: they need only be
// objects.
//
// It fails, with an error wrapping ErrInvalidRequest, for invalid JSON or
// UTF-8, a top level other than an object, an unknown or repeated key,
// both or neither of message and messages, trigger or messageId without
// messages, an unknown trigger, an empty message list, a message that is
// not an object, a newest message without a role of system, user or
// assistant or without a parts array, a part
// without a type, a newest message that is a system message, a user
// message without text, an assistant message without tool answers, answers
// breaking helix.ToolSubmission's limits, and a tool call answered twice.
func ParseRequest(data []byte) (*Request, error) {
	if !utf8.Valid(data) {
		return nil, invalid("invalid UTF-8")
	}
	var top map[string]json.RawMessage
	if err := strictObject(data, &top); err != nil {
		return nil, invalid("body: %v", err)
	}
	for k := range top {
		if !topLevelKeys[k] {
			return nil, invalid("unknown field %q", k)
		}
	}
	req := &Request{}
	var err error
	if req.ID, _, err = optString(top, "id"); err != nil {
		return nil, invalid("%v", err)
	}
	if req.AgentType, _, err = optString(top, "agentType"); err != nil {
		return nil, invalid("%v", err)
	}
	if _, ok := top["agentType"]; ok && (req.AgentType == "" || len(req.AgentType) > MaxAgentTypeLen) {
		return nil, invalid("agentType must be 1 to %d bytes", MaxAgentTypeLen)
	}
	if raw, ok := top["metadata"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &req.Metadata); err != nil {
			return nil, invalid("metadata must be an object of strings")
		}
	}
	msgRaw, hasMessage := top["message"]
	msgsRaw, hasMessages := top["messages"]
	switch {
	case hasMessage && hasMessages:
		return nil, invalid("message and messages are exclusive")
	case hasMessage:
		if _, ok := top["trigger"]; ok {
			return nil, invalid("trigger needs messages")
		}
		if _, ok := top["messageId"]; ok {
			return nil, invalid("messageId needs messages")
		}
		if err := json.Unmarshal(msgRaw, &req.Text); err != nil || isNull(msgRaw) {
			return nil, invalid("message must be a string")
		}
		if strings.TrimSpace(req.Text) == "" {
			return nil, invalid("message is empty")
		}
		return req, nil
	case !hasMessages:
		return nil, invalid("message or messages is required")
	}
	var ok bool
	if req.Trigger, ok, err = optString(top, "trigger"); err != nil {
		return nil, invalid("%v", err)
	}
	if !ok {
		req.Trigger = TriggerSubmit
	}
	if req.Trigger != TriggerSubmit && req.Trigger != TriggerRegenerate {
		return nil, invalid("unknown trigger")
	}
	if req.MessageID, _, err = optString(top, "messageId"); err != nil {
		return nil, invalid("%v", err)
	}
	var msgs []json.RawMessage
	if err := json.Unmarshal(msgsRaw, &msgs); err != nil || isNull(msgsRaw) {
		return nil, invalid("messages must be an array")
	}
	if len(msgs) == 0 {
		return nil, invalid("messages is empty")
	}
	// Only the newest message is input (the session holds the history):
	// the others must be objects, and are not read further, so a long
	// history costs no more than its bytes.
	for i, raw := range msgs[:len(msgs)-1] {
		if d := bytes.TrimLeft(raw, " \t\r\n"); len(d) == 0 || d[0] != '{' {
			return nil, invalid("messages[%d]: not an object", i)
		}
	}
	last, err := parseMessage(msgs[len(msgs)-1])
	if err != nil {
		return nil, invalid("messages[%d]: %v", len(msgs)-1, err)
	}
	switch last.role {
	case "user":
		req.Text, err = userText(last)
	case "assistant":
		req.Answers, err = answers(last)
	default:
		err = errors.New("the newest message is a system message")
	}
	if err != nil {
		return nil, invalid("messages[%d]: %v", len(msgs)-1, err)
	}
	return req, nil
}

// uiMessage is what is read of a UIMessage.
type uiMessage struct {
	id    string
	role  string
	parts []map[string]json.RawMessage
}

func parseMessage(raw json.RawMessage) (uiMessage, error) {
	var m uiMessage
	var obj map[string]json.RawMessage
	if err := strictObject(raw, &obj); err != nil {
		return m, err
	}
	var err error
	if m.id, _, err = optString(obj, "id"); err != nil {
		return m, err
	}
	if m.role, _, err = optString(obj, "role"); err != nil {
		return m, err
	}
	switch m.role {
	case "system", "user", "assistant":
	default:
		return m, errors.New("role must be system, user or assistant")
	}
	var parts []json.RawMessage
	if p, ok := obj["parts"]; !ok || isNull(p) || json.Unmarshal(p, &parts) != nil {
		return m, errors.New("parts must be an array")
	}
	for i, p := range parts {
		var part map[string]json.RawMessage
		if err := strictObject(p, &part); err != nil {
			return m, fmt.Errorf("parts[%d]: %v", i, err)
		}
		typ, _, err := optString(part, "type")
		if err != nil || typ == "" {
			return m, fmt.Errorf("parts[%d]: type must be a non-empty string", i)
		}
		m.parts = append(m.parts, part)
	}
	return m, nil
}

func userText(m uiMessage) (string, error) {
	var texts []string
	for i, p := range m.parts {
		if partType(p) != "text" {
			continue
		}
		var t string
		if raw, ok := p["text"]; !ok || isNull(raw) || json.Unmarshal(raw, &t) != nil {
			return "", fmt.Errorf("parts[%d]: text must be a string", i)
		}
		texts = append(texts, t)
	}
	text := strings.Join(texts, "\n")
	if strings.TrimSpace(text) == "" {
		return "", errors.New("the newest user message has no text")
	}
	return text, nil
}

func answers(m uiMessage) (*Answers, error) {
	a := &Answers{MessageID: m.id}
	seen := map[string]bool{}
	answered := map[string]bool{}
	for i, p := range m.parts {
		typ := partType(p)
		if typ != "dynamic-tool" && !strings.HasPrefix(typ, "tool-") {
			continue
		}
		id, _, err := optString(p, "toolCallId")
		if err != nil || id == "" || len(id) > helix.MaxToolCallIDLen {
			return nil, fmt.Errorf("parts[%d]: toolCallId must be 1 to %d bytes", i, helix.MaxToolCallIDLen)
		}
		state, _, err := optString(p, "state")
		if err != nil {
			return nil, fmt.Errorf("parts[%d]: %v", i, err)
		}
		if !seen[id] {
			seen[id] = true
			a.ToolCallIDs = append(a.ToolCallIDs, id)
		}
		var sub helix.ToolSubmission
		switch state {
		case "approval-responded":
			ap, err := approval(p, id)
			if err != nil {
				return nil, fmt.Errorf("parts[%d]: %v", i, err)
			}
			a.Approvals = append(a.Approvals, ap)
			sub = ap.Submission()
		case "output-available", "output-error":
			if state == "output-available" && isTrue(p["preliminary"]) {
				continue
			}
			o := ToolOutput{ToolCallID: id, Output: null}
			if state == "output-error" {
				o.IsError = true
				if o.ErrorText, _, err = optString(p, "errorText"); err != nil {
					return nil, fmt.Errorf("parts[%d]: %v", i, err)
				}
			} else if raw, ok := p["output"]; ok {
				o.Output = compact(raw)
			}
			a.Outputs = append(a.Outputs, o)
			sub = o.Submission()
		default:
			continue
		}
		if answered[id] {
			return nil, fmt.Errorf("parts[%d]: tool call answered twice", i)
		}
		answered[id] = true
		if err := sub.Validate(); err != nil {
			return nil, fmt.Errorf("parts[%d]: %v", i, err)
		}
	}
	if len(answered) == 0 {
		return nil, errors.New("the newest assistant message answers no tool call")
	}
	return a, nil
}

func approval(p map[string]json.RawMessage, toolCallID string) (Approval, error) {
	var obj map[string]json.RawMessage
	if raw, ok := p["approval"]; !ok || strictObject(raw, &obj) != nil {
		return Approval{}, errors.New("approval must be an object")
	}
	ap := Approval{ToolCallID: toolCallID}
	var err error
	if ap.ApprovalID, _, err = optString(obj, "id"); err != nil || ap.ApprovalID == "" || len(ap.ApprovalID) > helix.MaxToolCallIDLen {
		return ap, fmt.Errorf("approval.id must be 1 to %d bytes", helix.MaxToolCallIDLen)
	}
	raw, ok := obj["approved"]
	if !ok || (!isTrue(raw) && string(bytes.TrimSpace(raw)) != "false") {
		return ap, errors.New("approval.approved must be a boolean")
	}
	ap.Approved = isTrue(raw)
	if ap.Reason, _, err = optString(obj, "reason"); err != nil {
		return ap, fmt.Errorf("approval.%v", err)
	}
	return ap, nil
}

func partType(p map[string]json.RawMessage) string {
	t, _, _ := optString(p, "type")
	return t
}

// strictObject decodes data, which must be a JSON object, into a map.
func strictObject(data []byte, dst *map[string]json.RawMessage) error {
	d := bytes.TrimLeft(data, " \t\r\n")
	if len(d) == 0 || d[0] != '{' {
		return errors.New("not an object")
	}
	if err := json.Unmarshal(d, dst); err != nil {
		return errors.New("not valid JSON")
	}
	// A repeated name would silently replace the first.
	return jsonobj.CheckNames(d, nil)
}

// optString reads obj[key] as a string: absent and null are "" (ok false);
// any other non-string is an error.
func optString(obj map[string]json.RawMessage, key string) (s string, ok bool, err error) {
	raw, present := obj[key]
	if !present || isNull(raw) {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, fmt.Errorf("%s must be a string", key)
	}
	return s, true, nil
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

func isTrue(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "true"
}

func compact(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return null
	}
	return b.Bytes()
}

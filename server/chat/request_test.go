package chat_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/helix-agents/helix-go/server/chat"
)

// transportBody builds a body the way the AI SDK's DefaultChatTransport
// does: {...body, id, messages, trigger, messageId}, with JSON.stringify
// dropping undefined (here: nil) values.
func transportBody(id string, messages []any, extra map[string]any) string {
	body := map[string]any{}
	for k, v := range extra {
		body[k] = v
	}
	body["id"] = id
	body["messages"] = messages
	body["trigger"] = "submit-message"
	data, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	return string(data)
}

func userMsg(id, text string) map[string]any {
	return map[string]any{"id": id, "role": "user", "parts": []any{map[string]any{"type": "text", "text": text}}}
}

// approvalMsg is the assistant message after addToolApprovalResponse, as
// useChat holds it (and sends it back).
func approvalMsg(approved bool) map[string]any {
	return map[string]any{"id": "msg_run_1", "role": "assistant", "metadata": map[string]any{"runId": "run_1"}, "parts": []any{
		map[string]any{"type": "step-start"},
		map[string]any{"type": "text", "text": "let me", "state": "done"},
		map[string]any{"type": "tool-danger", "toolCallId": "call_1", "state": "approval-responded", "input": map[string]any{"x": 7},
			"approval": map[string]any{"id": "appr_1", "approved": approved, "reason": "ok"}, "callProviderMetadata": map[string]any{}},
		map[string]any{"type": "data-state-patch", "data": map[string]any{"patches": []any{}}},
	}}
}

func TestParseRequest(t *testing.T) {
	clientTool := map[string]any{"id": "m2", "role": "assistant", "parts": []any{
		map[string]any{"type": "step-start"},
		map[string]any{"type": "tool-weather", "toolCallId": "srv_1", "state": "output-available", "input": map[string]any{}, "output": "sunny"},
		map[string]any{"type": "tool-get_location", "toolCallId": "call_9", "state": "output-available", "input": map[string]any{}, "output": map[string]any{"city": "Lyon"}},
		map[string]any{"type": "dynamic-tool", "toolName": "x", "toolCallId": "call_10", "state": "output-error", "input": nil, "errorText": "no GPS"},
		map[string]any{"type": "tool-stream", "toolCallId": "call_11", "state": "output-available", "output": 1, "preliminary": true},
		map[string]any{"type": "tool-other", "toolCallId": "call_12", "state": "input-available", "input": map[string]any{}},
	}}
	cases := []struct {
		name    string
		body    string
		check   func(t *testing.T, r *chat.Request)
		wantErr bool
	}{
		{name: "simple", body: `{"message":"hello"}`, check: func(t *testing.T, r *chat.Request) {
			if r.Text != "hello" || r.Answers != nil || r.Trigger != "" {
				t.Errorf("got %+v", r)
			}
		}},
		{name: "simple with agent and metadata", body: `{"message":"hi","agentType":"echo","metadata":{"k":"v"},"id":"s1"}`, check: func(t *testing.T, r *chat.Request) {
			if r.AgentType != "echo" || r.Metadata["k"] != "v" || r.ID != "s1" {
				t.Errorf("got %+v", r)
			}
		}},
		{name: "transport first message", body: transportBody("s1", []any{userMsg("u1", "hi there")}, map[string]any{"agentType": "echo"}), check: func(t *testing.T, r *chat.Request) {
			if r.Text != "hi there" || r.ID != "s1" || r.Trigger != chat.TriggerSubmit || r.AgentType != "echo" {
				t.Errorf("got %+v", r)
			}
		}},
		{name: "only the newest user message counts", body: transportBody("s1", []any{
			userMsg("u1", "old"), map[string]any{"id": "a1", "role": "assistant", "parts": []any{map[string]any{"type": "text", "text": "reply"}}},
			map[string]any{"id": "u2", "role": "user", "parts": []any{
				map[string]any{"type": "file", "mediaType": "image/png", "url": "data:,"},
				map[string]any{"type": "text", "text": "new"}, map[string]any{"type": "text", "text": "line"}}},
		}, nil), check: func(t *testing.T, r *chat.Request) {
			if r.Text != "new\nline" {
				t.Errorf("Text = %q", r.Text)
			}
		}},
		{name: "approval", body: transportBody("s1", []any{userMsg("u1", "hi"), approvalMsg(true)}, nil), check: func(t *testing.T, r *chat.Request) {
			a := r.Answers
			if r.Text != "" || a == nil || a.MessageID != "msg_run_1" || len(a.Approvals) != 1 || len(a.Outputs) != 0 {
				t.Fatalf("got %+v", r)
			}
			if ap := a.Approvals[0]; ap != (chat.Approval{ToolCallID: "call_1", ApprovalID: "appr_1", Approved: true, Reason: "ok"}) {
				t.Errorf("approval %+v", ap)
			}
			if strings.Join(a.ToolCallIDs, ",") != "call_1" {
				t.Errorf("ToolCallIDs %v", a.ToolCallIDs)
			}
			if sub := a.Approvals[0].Submission(); sub.Kind != "approval" || !sub.Approved || sub.ToolCallID != "call_1" {
				t.Errorf("submission %+v", sub)
			}
		}},
		{name: "denial", body: transportBody("s1", []any{userMsg("u1", "hi"), approvalMsg(false)}, nil), check: func(t *testing.T, r *chat.Request) {
			if r.Answers == nil || r.Answers.Approvals[0].Approved {
				t.Errorf("got %+v", r.Answers)
			}
		}},
		{name: "client tool outputs", body: transportBody("s1", []any{userMsg("u1", "where?"), clientTool}, nil), check: func(t *testing.T, r *chat.Request) {
			a := r.Answers
			if a == nil || len(a.Outputs) != 3 || len(a.Approvals) != 0 {
				t.Fatalf("got %+v", a)
			}
			if o := a.Outputs[1]; o.ToolCallID != "call_9" || string(o.Output) != `{"city":"Lyon"}` || o.IsError {
				t.Errorf("output %+v", o)
			}
			if o := a.Outputs[2]; o.ToolCallID != "call_10" || !o.IsError || o.ErrorText != "no GPS" || o.Submission().Error != "no GPS" {
				t.Errorf("error output %+v", o)
			}
			if got := strings.Join(a.ToolCallIDs, ","); got != "srv_1,call_9,call_10,call_11,call_12" {
				t.Errorf("ToolCallIDs %s", got)
			}
		}},
		{name: "regenerate", body: `{"id":"s1","messages":[{"id":"u1","role":"user","parts":[{"type":"text","text":"again"}]}],"trigger":"regenerate-message","messageId":"a1"}`,
			check: func(t *testing.T, r *chat.Request) {
				if r.Trigger != chat.TriggerRegenerate || r.MessageID != "a1" || r.Text != "again" {
					t.Errorf("got %+v", r)
				}
			}},
		{name: "null messageId and metadata", body: `{"messages":[{"role":"user","parts":[{"type":"text","text":"x"}]}],"messageId":null,"metadata":null}`},
		{name: "unknown fields inside messages", body: `{"messages":[{"id":"u","role":"user","createdAt":"2025","parts":[{"type":"text","text":"x","providerMetadata":{"a":1},"state":"done"}],"extra":{}}]}`},

		{name: "unknown top-level field", body: `{"message":"x","temperature":1}`, wantErr: true},
		{name: "case-folded key", body: `{"Message":"x"}`, wantErr: true},
		{name: "both forms", body: `{"message":"x","messages":[]}`, wantErr: true},
		{name: "neither form", body: `{"agentType":"echo"}`, wantErr: true},
		{name: "empty message", body: `{"message":"  "}`, wantErr: true},
		{name: "message not a string", body: `{"message":5}`, wantErr: true},
		{name: "message null", body: `{"message":null}`, wantErr: true},
		{name: "trigger without messages", body: `{"message":"x","trigger":"submit-message"}`, wantErr: true},
		{name: "repeated top-level name", body: `{"message":"a","message":"b"}`, wantErr: true},
		{name: "repeated name in a part", body: `{"messages":[{"role":"user","parts":[{"type":"text","text":"x","text":"y"}]}]}`, wantErr: true},
		{name: "unknown trigger", body: `{"messages":[{"role":"user","parts":[{"type":"text","text":"x"}]}],"trigger":"resume-stream"}`, wantErr: true},
		{name: "empty messages", body: `{"messages":[]}`, wantErr: true},
		{name: "messages not an array", body: `{"messages":{}}`, wantErr: true},
		{name: "message not an object", body: `{"messages":["x"]}`, wantErr: true},
		{name: "bad role", body: `{"messages":[{"role":"tool","parts":[]}]}`, wantErr: true},
		{name: "missing parts", body: `{"messages":[{"role":"user"}]}`, wantErr: true},
		{name: "part without type", body: `{"messages":[{"role":"user","parts":[{"text":"x"}]}]}`, wantErr: true},
		{name: "text not a string", body: `{"messages":[{"role":"user","parts":[{"type":"text","text":1}]}]}`, wantErr: true},
		{name: "user without text", body: `{"messages":[{"role":"user","parts":[{"type":"file","url":"x"}]}]}`, wantErr: true},
		{name: "newest is system", body: `{"messages":[{"role":"system","parts":[{"type":"text","text":"x"}]}]}`, wantErr: true},
		{name: "assistant without answers", body: `{"messages":[{"role":"assistant","parts":[{"type":"text","text":"x"}]}]}`, wantErr: true},
		{name: "approval without object", body: `{"messages":[{"role":"assistant","parts":[{"type":"tool-a","toolCallId":"c","state":"approval-responded"}]}]}`, wantErr: true},
		{name: "approval approved not bool", body: `{"messages":[{"role":"assistant","parts":[{"type":"tool-a","toolCallId":"c","state":"approval-responded","approval":{"id":"a","approved":"yes"}}]}]}`, wantErr: true},
		{name: "approval without id", body: `{"messages":[{"role":"assistant","parts":[{"type":"tool-a","toolCallId":"c","state":"approval-responded","approval":{"approved":true}}]}]}`, wantErr: true},
		{name: "tool part without id", body: `{"messages":[{"role":"assistant","parts":[{"type":"tool-a","state":"output-available","output":1}]}]}`, wantErr: true},
		{name: "tool call id too long", body: `{"messages":[{"role":"assistant","parts":[{"type":"tool-a","toolCallId":"` + strings.Repeat("c", 257) + `","state":"output-available","output":1}]}]}`, wantErr: true},
		{name: "answered twice", body: `{"messages":[{"role":"assistant","parts":[{"type":"tool-a","toolCallId":"c","state":"output-available","output":1},{"type":"tool-a","toolCallId":"c","state":"output-error","errorText":"x"}]}]}`, wantErr: true},
		{name: "error text too long", body: `{"messages":[{"role":"assistant","parts":[{"type":"tool-a","toolCallId":"c","state":"output-error","errorText":"` + strings.Repeat("e", 9000) + `"}]}]}`, wantErr: true},
		{name: "agentType empty", body: `{"message":"x","agentType":""}`, wantErr: true},
		{name: "agentType too long", body: `{"message":"x","agentType":"` + strings.Repeat("a", 129) + `"}`, wantErr: true},
		{name: "metadata not strings", body: `{"message":"x","metadata":{"a":1}}`, wantErr: true},
		{name: "id not a string", body: `{"message":"x","id":1}`, wantErr: true},
		{name: "array", body: `[{"message":"x"}]`, wantErr: true},
		{name: "null", body: `null`, wantErr: true},
		{name: "not json", body: `{"message":`, wantErr: true},
		{name: "invalid utf-8", body: "{\"message\":\"\xff\"}", wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := chat.ParseRequest([]byte(c.body))
			if c.wantErr {
				if err == nil || !errors.Is(err, chat.ErrInvalidRequest) {
					t.Fatalf("ParseRequest(%s) = %+v, %v; want an ErrInvalidRequest", c.body, r, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRequest(%s): %v", c.body, err)
			}
			if c.check != nil {
				c.check(t, r)
			}
		})
	}
}

func TestValidMessageID(t *testing.T) {
	for id, want := range map[string]bool{"msg_1": true, "": false, "a\nb": false, strings.Repeat("m", 257): false, "ünï": true} {
		if got := chat.ValidMessageID(id); got != want {
			t.Errorf("ValidMessageID(%q) = %v, want %v", id, got, want)
		}
	}
}

// FuzzParseRequest: ParseRequest never panics, and what it accepts is a
// well-formed request: valid JSON and UTF-8, only allowed top-level keys
// (exact case), and either non-empty text or at least one valid answer.
func FuzzParseRequest(f *testing.F) {
	if testing.Short() {
		f.Skip("fuzz target skipped under -short")
	}
	for _, s := range []string{
		`{"message":"hello"}`,
		`{"message":"hi","agentType":"echo","metadata":{"k":"v"}}`,
		transportBody("s1", []any{userMsg("u1", "hi")}, map[string]any{"agentType": "echo"}),
		transportBody("s1", []any{userMsg("u1", "hi"), approvalMsg(true)}, nil),
		`{"messages":[{"role":"assistant","parts":[{"type":"tool-a","toolCallId":"c","state":"output-error","errorText":"x"}]}]}`,
		`{"messages":[{"role":"assistant","parts":[{"type":"dynamic-tool","toolCallId":"c","state":"output-available"}]}]}`,
		`{"messages":[{"role":"user","parts":[{"type":"text","text":"x"}]}],"trigger":"regenerate-message","messageId":null}`,
		`{"message":"x","Message":"y"}`,
		`{}`, `[]`, `null`, `{"messages":[null]}`,
	} {
		f.Add([]byte(s))
	}
	allowed := map[string]bool{"id": true, "messages": true, "trigger": true, "messageId": true, "agentType": true, "message": true, "metadata": true}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := chat.ParseRequest(data)
		if err != nil {
			if r != nil || !errors.Is(err, chat.ErrInvalidRequest) {
				t.Fatalf("error %v with request %+v", err, r)
			}
			return
		}
		if !utf8.Valid(data) || !json.Valid(data) {
			t.Fatalf("accepted invalid JSON or UTF-8: %q", data)
		}
		var top map[string]json.RawMessage
		if json.Unmarshal(data, &top) != nil {
			t.Fatalf("accepted a non-object: %q", data)
		}
		for k := range top {
			if !allowed[k] {
				t.Fatalf("accepted key %q: %q", k, data)
			}
		}
		_, hasMsg := top["message"]
		_, hasMsgs := top["messages"]
		if hasMsg == hasMsgs {
			t.Fatalf("accepted message=%v messages=%v: %q", hasMsg, hasMsgs, data)
		}
		if (r.Text != "") == (r.Answers != nil) {
			t.Fatalf("text %q and answers %+v: %q", r.Text, r.Answers, data)
		}
		if r.Text != "" && strings.TrimSpace(r.Text) == "" {
			t.Fatalf("blank text accepted: %q", data)
		}
		if len(r.AgentType) > chat.MaxAgentTypeLen || (top["agentType"] != nil && r.AgentType == "") {
			t.Fatalf("bad agentType accepted: %q", data)
		}
		if r.Answers != nil {
			if len(r.Answers.Approvals)+len(r.Answers.Outputs) == 0 {
				t.Fatalf("answers without an answer: %q", data)
			}
			seen := map[string]bool{}
			for _, ap := range r.Answers.Approvals {
				sub := ap.Submission()
				if err := sub.Validate(); err != nil || seen[ap.ToolCallID] || ap.ApprovalID == "" {
					t.Fatalf("bad approval %+v (%v): %q", ap, err, data)
				}
				seen[ap.ToolCallID] = true
			}
			for _, o := range r.Answers.Outputs {
				sub := o.Submission()
				if err := sub.Validate(); err != nil || seen[o.ToolCallID] || (!o.IsError && !json.Valid(o.Output)) {
					t.Fatalf("bad output %+v (%v): %q", o, err, data)
				}
				seen[o.ToolCallID] = true
			}
		}
	})
}

// TestParseSDKBodies parses bodies that the real AI SDK client (ai
// 6.0.325: AbstractChat + DefaultChatTransport with body {agentType})
// sent after addToolApprovalResponse and addToolOutput, captured verbatim
// (testdata/sdk_*_body.json).
func TestParseSDKBodies(t *testing.T) {
	read := func(name string) *chat.Request {
		t.Helper()
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		r, err := chat.ParseRequest(data)
		if err != nil {
			t.Fatalf("ParseRequest(%s): %v", name, err)
		}
		if r.ID != "s_1" || r.AgentType != "approver" || r.Trigger != chat.TriggerSubmit || r.MessageID != "msg_run_1" || r.Answers == nil ||
			r.Answers.MessageID != "msg_run_1" {
			t.Fatalf("%s: %+v", name, r)
		}
		return r
	}
	if a := read("sdk_approval_body.json").Answers; len(a.Approvals) != 1 ||
		a.Approvals[0] != (chat.Approval{ToolCallID: "call_1", ApprovalID: "appr_1", Approved: true}) {
		t.Errorf("approval: %+v", a)
	}
	if a := read("sdk_denial_body.json").Answers; len(a.Approvals) != 1 ||
		a.Approvals[0] != (chat.Approval{ToolCallID: "call_1", ApprovalID: "appr_1", Reason: "too risky"}) {
		t.Errorf("denial: %+v", a)
	}
	if a := read("sdk_client_tool_body.json").Answers; len(a.Outputs) != 1 || a.Outputs[0].ToolCallID != "call_9" ||
		string(a.Outputs[0].Output) != `{"city":"Lyon"}` {
		t.Errorf("client tool: %+v", a)
	}
}

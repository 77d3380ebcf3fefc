package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strings"
	"testing"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm/scripted"
	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/server/api"
	"github.com/helix-agents/helix-go/server/chat"
	"github.com/helix-agents/helix-go/server/sse"
	"github.com/helix-agents/helix-go/store/memstore"
)

// uiStream is a decoded UI message stream response.
type uiStream struct {
	status int
	header http.Header
	body   string           // the error body of a non-200 answer
	parts  []map[string]any // the JSON parts, in order
	done   bool             // the stream ended with [DONE]
}

func (u uiStream) types() string {
	var out []string
	for _, p := range u.parts {
		out = append(out, p["type"].(string))
	}
	return strings.Join(out, ",")
}

// text concatenates the text deltas.
func (u uiStream) text() string {
	var b strings.Builder
	for _, p := range u.parts {
		if p["type"] == "text-delta" {
			b.WriteString(p["delta"].(string))
		}
	}
	return b.String()
}

// first returns the first part of type typ, or nil.
func (u uiStream) first(typ string) map[string]any {
	for _, p := range u.parts {
		if p["type"] == typ {
			return p
		}
	}
	return nil
}

// chatDo sends a chat request and reads the whole UI message stream. A
// body that is a string is sent as is; anything else as JSON.
func (h *harness) chatDo(method, path, key string, body any) uiStream {
	h.t.Helper()
	return h.chatRead(h.open(method, path, key, body))
}

// chatRead reads and closes a chat response.
func (h *harness) chatRead(res *http.Response) uiStream {
	h.t.Helper()
	defer res.Body.Close()
	out := uiStream{status: res.StatusCode, header: res.Header}
	if res.StatusCode != 200 {
		data, _ := io.ReadAll(res.Body)
		out.body = string(data)
		return out
	}
	for ev, err := range sse.Decode(res.Body) {
		if err != nil {
			h.t.Fatalf("decode stream: %v", err)
		}
		if out.done {
			h.t.Fatalf("event after [DONE]: %+v", ev)
		}
		if ev.Name != "" || ev.ID != "" {
			h.t.Fatalf("UI stream event with a name or id: %+v", ev)
		}
		if ev.Data == chat.Done {
			out.done = true
			continue
		}
		var p map[string]any
		if err := json.Unmarshal([]byte(ev.Data), &p); err != nil {
			h.t.Fatalf("part %q: %v", ev.Data, err)
		}
		out.parts = append(out.parts, p)
	}
	return out
}

func userUIMessage(id, text string) map[string]any {
	return map[string]any{"id": id, "role": "user", "parts": []any{map[string]any{"type": "text", "text": text}}}
}

// transportBody is the body DefaultChatTransport POSTs:
// {...body, id, messages, trigger, messageId} (messageId undefined, so
// absent, for a plain submit).
func transportBody(id string, messages []any, extra map[string]any) map[string]any {
	b := map[string]any{"id": id, "messages": messages, "trigger": "submit-message"}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func TestChatMessage(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	u := h.chatDo("POST", "/chat/chat_1", aliceKey, map[string]any{"message": "hi", "agentType": "echo"})
	if u.status != 200 {
		t.Fatalf("POST /chat: %d %s", u.status, u.body)
	}
	if got := u.header.Get("Content-Type"); got != "text/event-stream" {
		t.Errorf("Content-Type %q", got)
	}
	if got := u.header.Get("X-Vercel-Ai-Ui-Message-Stream"); got != "v1" {
		t.Errorf("x-vercel-ai-ui-message-stream %q", got)
	}
	if got := u.header.Get(SessionIDHeader); got != "chat_1" {
		t.Errorf("X-Session-Id %q", got)
	}
	if !u.done {
		t.Error("stream did not end with [DONE]")
	}
	if got, want := u.types(), "start,start-step,text-start,text-delta,text-delta,text-delta,text-end,finish-step,finish"; got != want {
		t.Errorf("parts %s\nwant %s", got, want)
	}
	if u.text() != "hello from helix" {
		t.Errorf("text %q", u.text())
	}
	st := h.status(aliceKey, "chat_1")
	start, finish := u.first("start"), u.first("finish")
	if start["messageId"] != "msg_"+st.RunID || finish["finishReason"] != "stop" {
		t.Errorf("start %v finish %v (run %s)", start, finish, st.RunID)
	}
	if md, _ := finish["messageMetadata"].(map[string]any); md["status"] != "completed" || md["runId"] != st.RunID {
		t.Errorf("finish metadata %v", finish["messageMetadata"])
	}

	// The next turn, with the body useChat sends: the whole history, of
	// which only the newest user message is new.
	u = h.chatDo("POST", "/chat/chat_1", aliceKey, transportBody("chat_1", []any{
		userUIMessage("u1", "hi"),
		map[string]any{"id": start["messageId"], "role": "assistant", "parts": []any{
			map[string]any{"type": "step-start"}, map[string]any{"type": "text", "text": "hello from helix", "state": "done"}}},
		userUIMessage("u2", "again"),
	}, nil))
	if u.status != 200 || !u.done || u.first("start")["messageId"] == start["messageId"] {
		t.Fatalf("second turn: %d %s %s", u.status, u.body, u.types())
	}
	var page api.MessagePage
	if err := json.Unmarshal([]byte(h.do("GET", "/messages?sessionId=chat_1", aliceKey, nil).body), &page); err != nil {
		t.Fatal(err)
	}
	// (The scripted echo model has one answer, so the second turn's
	// reply is an error; the history still has the new message once.)
	if page.Total < 3 || page.Messages[2].Text() != "again" || page.Messages[0].Text() != "hi" {
		t.Fatalf("history %+v", page)
	}
}

// TestChatRegenerate: regenerate-message answers the last user message
// again in place of its answer; the history holds that message once.
func TestChatRegenerate(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	first := h.chatDo("POST", "/chat/chat_r", aliceKey, map[string]any{"message": "hi", "agentType": "echo"})
	if first.status != 200 || first.text() != "hello from helix" {
		t.Fatalf("first turn: %d %s", first.status, first.body)
	}
	u := h.chatDo("POST", "/chat/chat_r", aliceKey, transportBody("chat_r", []any{userUIMessage("u1", "hi")},
		map[string]any{"trigger": "regenerate-message", "messageId": first.first("start")["messageId"]}))
	if u.status != 200 || !u.done || u.text() != "hello from helix" || u.first("finish")["finishReason"] != "stop" {
		t.Fatalf("regenerate: %d %s %s", u.status, u.body, u.types())
	}
	var page api.MessagePage
	if err := json.Unmarshal([]byte(h.do("GET", "/messages?sessionId=chat_r", aliceKey, nil).body), &page); err != nil {
		t.Fatal(err)
	}
	if page.Total != 2 || page.Messages[0].Text() != "hi" || page.Messages[1].Text() != "hello from helix" {
		t.Errorf("history after regenerating: %+v, want the question once and the new answer", page)
	}
	// Another principal's chat is not found, and nothing changes.
	if u := h.chatDo("POST", "/chat/chat_r", bobKey, transportBody("chat_r", []any{userUIMessage("u1", "hi")},
		map[string]any{"trigger": "regenerate-message"})); u.status != 404 {
		t.Errorf("bob regenerating alice's chat: %d %s, want 404", u.status, u.body)
	}
}

func TestChatAgentSelection(t *testing.T) {
	h := newHarness(t, harnessConfig{opts: func(o *Options) { o.DefaultAgent = "echo" }})
	msg := map[string]any{"message": "hi"}
	// Default agent.
	if u := h.chatDo("POST", "/chat/d_1", aliceKey, msg); u.status != 200 || u.text() != "hello from helix" {
		t.Fatalf("default agent: %d %s", u.status, u.body)
	}
	// Body and query.
	if u := h.chatDo("POST", "/chat/b_1", aliceKey, map[string]any{"message": "hi", "agentType": "approver"}); u.status != 200 || u.first("tool-approval-request") == nil {
		t.Fatalf("body agentType: %d %s %s", u.status, u.body, u.types())
	}
	if u := h.chatDo("POST", "/chat/q_1?agentType=approver", aliceKey, msg); u.status != 200 || u.first("tool-approval-request") == nil {
		t.Fatalf("query agentType: %d %s %s", u.status, u.body, u.types())
	}
	if st := h.status(aliceKey, "q_1"); st.AgentType != "approver" {
		t.Fatalf("q_1 runs %s", st.AgentType)
	}
	// An existing session keeps its agent: naming it again is fine, another
	// one is not.
	if u := h.chatDo("POST", "/chat/d_1?agentType=echo", aliceKey, msg); u.status != 200 {
		t.Fatalf("same agent again: %d %s", u.status, u.body)
	}
	if u := h.chatDo("POST", "/chat/d_1", aliceKey, map[string]any{"message": "hi", "agentType": "slow"}); u.status != 400 || u.body != bodyBadRequest {
		t.Fatalf("other agent: %d %s", u.status, u.body)
	}
	if u := h.chatDo("POST", "/chat/x_1?agentType=echo", aliceKey, map[string]any{"message": "hi", "agentType": "slow"}); u.status != 400 {
		t.Fatalf("body and query disagree: %d %s", u.status, u.body)
	}
	if u := h.chatDo("POST", "/chat/x_2", aliceKey, map[string]any{"message": "hi", "agentType": "nobody"}); u.status != 404 || u.body != bodyNotFound {
		t.Fatalf("unknown agent: %d %s", u.status, u.body)
	}

	// No agent anywhere.
	h2 := newHarness(t, harnessConfig{})
	if u := h2.chatDo("POST", "/chat/n_1", aliceKey, msg); u.status != 400 || u.body != bodyBadRequest {
		t.Fatalf("no agent: %d %s", u.status, u.body)
	}
}

// approvalAnswer is the request useChat sends after addToolApprovalResponse
// (sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses):
// the history, whose newest (assistant) message has the tool part in state
// approval-responded.
func approvalAnswer(id string, first uiStream, approved bool) map[string]any {
	req := first.first("tool-approval-request")
	in := first.first("tool-input-available")
	approval := map[string]any{"id": req["approvalId"], "approved": approved}
	if !approved {
		approval["reason"] = "too risky"
	}
	return transportBody(id, []any{
		userUIMessage("u1", "please"),
		map[string]any{"id": first.first("start")["messageId"], "role": "assistant", "parts": []any{
			map[string]any{"type": "step-start"},
			map[string]any{"type": "text", "text": first.text(), "state": "done"},
			map[string]any{"type": "tool-" + in["toolName"].(string), "toolCallId": in["toolCallId"], "state": "approval-responded",
				"input": in["input"], "approval": approval},
		}},
	}, map[string]any{"agentType": "approver"})
}

func TestChatApprovalRoundTrip(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	first := h.chatDo("POST", "/chat/ap_1", aliceKey, transportBody("ap_1", []any{userUIMessage("u1", "please")}, map[string]any{"agentType": "approver"}))
	if first.status != 200 || !first.done {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	if got, want := first.types(), "start,start-step,text-start,text-delta,text-delta,text-end,tool-input-start,tool-input-delta,"+
		"tool-input-available,tool-approval-request,finish-step,finish"; got != want {
		t.Fatalf("first parts %s\nwant %s", got, want)
	}
	if f := first.first("finish"); f["finishReason"] != "tool-calls" || f["messageMetadata"].(map[string]any)["status"] != "suspended_approval" {
		t.Fatalf("finish %v", f)
	}
	if in := first.first("tool-input-available"); in["toolCallId"] != "call_1" || in["toolName"] != "danger" || in["input"].(map[string]any)["x"] != 7.0 {
		t.Fatalf("tool input %v", in)
	}

	body := approvalAnswer("ap_1", first, true)
	second := h.chatDo("POST", "/chat/ap_1", aliceKey, body)
	if second.status != 200 || !second.done {
		t.Fatalf("second: %d %s", second.status, second.body)
	}
	// The same assistant message continues: the tool part goes to
	// output-available, and no input is sent again.
	if got, want := second.types(), "start,tool-output-available,start-step,text-start,text-delta,text-end,finish-step,finish"; got != want {
		t.Fatalf("second parts %s\nwant %s", got, want)
	}
	if second.first("start")["messageId"] != first.first("start")["messageId"] {
		t.Fatalf("message id changed: %v then %v", first.first("start"), second.first("start"))
	}
	if out := second.first("tool-output-available"); out["toolCallId"] != "call_1" || out["output"] != "did 7" {
		t.Fatalf("tool output %v", out)
	}
	if second.text() != "done" || second.first("finish")["finishReason"] != "stop" {
		t.Fatalf("text %q finish %v", second.text(), second.first("finish"))
	}
	// Sending the same answer again takes nothing: the tool ran once.
	if u := h.chatDo("POST", "/chat/ap_1", aliceKey, body); u.status != 409 || u.body != bodyToolNotPend {
		t.Fatalf("repeated answer: %d %s", u.status, u.body)
	}
	h.wait("ap_1")
	if n := h.dangers.Load(); n != 1 {
		t.Fatalf("tool ran %d times", n)
	}
	if st := h.status(aliceKey, "ap_1"); st.Status != helix.StatusCompleted {
		t.Fatalf("status %s", st.Status)
	}

	// A denial: the part ends output-denied and the tool never runs.
	first = h.chatDo("POST", "/chat/ap_2", aliceKey, transportBody("ap_2", []any{userUIMessage("u1", "please")}, map[string]any{"agentType": "approver"}))
	second = h.chatDo("POST", "/chat/ap_2", aliceKey, approvalAnswer("ap_2", first, false))
	if second.status != 200 || second.first("tool-output-denied")["toolCallId"] != "call_1" || second.first("tool-output-available") != nil {
		t.Fatalf("denial: %d %s %s", second.status, second.body, second.types())
	}
	if n := h.dangers.Load(); n != 1 {
		t.Fatalf("denied tool ran (%d runs)", n)
	}
}

// TestChatSubAgentApproval: a sub-agent's call that needs approval shows
// in the parent's chat as a tool part of its own (id: the child's session,
// a slash, the call), answering it there resumes the whole tree, and the
// child's tool runs once. An answer naming a session outside the chat's
// tree is not pending.
func TestChatSubAgentApproval(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	first := h.chatDo("POST", "/chat/sa_1", aliceKey, transportBody("sa_1", []any{userUIMessage("u1", "clean up")}, map[string]any{"agentType": "lead"}))
	if first.status != 200 || !first.done {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	req := first.first("tool-approval-request")
	if req == nil || req["toolCallId"] != "sa_1.call_1/call_1" {
		t.Fatalf("first parts %s: want the child's approval request as sa_1.call_1/call_1, got %v", first.types(), req)
	}
	var lead, child map[string]any // the tool parts announced: the lead's call of the sub-agent, the child's call
	for _, p := range first.parts {
		if p["type"] == "tool-input-available" {
			switch p["toolCallId"] {
			case "call_1":
				lead = p
			case "sa_1.call_1/call_1":
				child = p
			}
		}
	}
	if lead == nil || lead["toolName"] != "cleaner" || child == nil || child["toolName"] != "danger" {
		t.Fatalf("announced tools: lead %v, child %v (parts %s)", lead, child, first.types())
	}
	if f := first.first("finish"); f["messageMetadata"].(map[string]any)["status"] != "suspended_awaiting_children" {
		t.Fatalf("finish %v", f)
	}
	answer := func(id string, toolCallID any) map[string]any {
		return transportBody(id, []any{
			userUIMessage("u1", "clean up"),
			map[string]any{"id": first.first("start")["messageId"], "role": "assistant", "parts": []any{
				map[string]any{"type": "step-start"},
				map[string]any{"type": "tool-cleaner", "toolCallId": "call_1", "state": "input-available", "input": lead["input"]},
				map[string]any{"type": "tool-danger", "toolCallId": toolCallID, "state": "approval-responded",
					"input": child["input"], "approval": map[string]any{"id": req["approvalId"], "approved": true}},
			}},
		}, map[string]any{"agentType": "lead"})
	}
	// Another chat of alice's cannot answer it: sa_1's child is not in its tree.
	other := h.chatDo("POST", "/chat/sa_2", aliceKey, transportBody("sa_2", []any{userUIMessage("u1", "clean up")}, map[string]any{"agentType": "lead"}))
	if other.status != 200 {
		t.Fatalf("second chat: %d %s", other.status, other.body)
	}
	if u := h.chatDo("POST", "/chat/sa_2", aliceKey, answer("sa_2", "sa_1.call_1/call_1")); u.status != 409 || u.body != bodyToolNotPend {
		t.Fatalf("answer of another tree's call: %d %s", u.status, u.body)
	}
	second := h.chatDo("POST", "/chat/sa_1", aliceKey, answer("sa_1", "sa_1.call_1/call_1"))
	if second.status != 200 || !second.done {
		t.Fatalf("second: %d %s", second.status, second.body)
	}
	var outs []string
	for _, p := range second.parts {
		if p["type"] == "tool-output-available" {
			outs = append(outs, p["toolCallId"].(string))
		}
	}
	if len(outs) != 2 || outs[0] != "sa_1.call_1/call_1" || outs[1] != "call_1" {
		t.Fatalf("tool outputs %v, want the child's call then the lead's (parts %s)", outs, second.types())
	}
	if second.text() != "all clean" || second.first("finish")["finishReason"] != "stop" {
		t.Fatalf("text %q finish %v", second.text(), second.first("finish"))
	}
	if second.first("start")["messageId"] != first.first("start")["messageId"] {
		t.Fatal("the resumed turn started a new message")
	}
	h.wait("sa_1")
	if n := h.dangers.Load(); n != 1 {
		t.Fatalf("the child's tool ran %d times", n)
	}
	if st := h.status(aliceKey, "sa_1"); st.Status != helix.StatusCompleted {
		t.Fatalf("status %s", st.Status)
	}
}

func TestChatClientTool(t *testing.T) {
	type locIn struct{}
	agent := helix.MustNewAgent(helix.AgentConfig{Name: "locator", Tools: []*helix.Tool{helix.ClientTool[locIn]("get_location", "where the user is")},
		Model: scripted.Turns(
			scripted.Turn{ToolCalls: []scripted.ToolCall{{ID: "call_9", Name: "get_location", Arguments: json.RawMessage(`{}`)}}},
			scripted.Turn{Text: "You are in Lyon."},
		)})
	h := newHarness(t, harnessConfig{rtOpts: func(o *local.Options) {
		if err := o.Agents.Register(agent); err != nil {
			t.Fatal(err)
		}
	}})
	first := h.chatDo("POST", "/chat/ct_1?agentType=locator", aliceKey, map[string]any{"message": "where am I?"})
	in := first.first("tool-input-available")
	if first.status != 200 || in["toolName"] != "get_location" || first.first("finish")["finishReason"] != "tool-calls" {
		t.Fatalf("first: %d %s %s", first.status, first.body, first.types())
	}
	// useChat's onToolCall ran it; addToolOutput set the part's output.
	second := h.chatDo("POST", "/chat/ct_1", aliceKey, transportBody("ct_1", []any{
		userUIMessage("u1", "where am I?"),
		map[string]any{"id": first.first("start")["messageId"], "role": "assistant", "parts": []any{
			map[string]any{"type": "step-start"},
			map[string]any{"type": "tool-get_location", "toolCallId": "call_9", "state": "output-available", "input": map[string]any{},
				"output": map[string]any{"city": "Lyon"}},
		}},
	}, nil))
	if second.status != 200 || second.text() != "You are in Lyon." {
		t.Fatalf("second: %d %s %s", second.status, second.body, second.types())
	}
	if out := second.first("tool-output-available"); out["toolCallId"] != "call_9" || out["output"].(map[string]any)["city"] != "Lyon" {
		t.Fatalf("tool output %v", out)
	}
}

func TestChatStream(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	// Unknown, another principal's, idle.
	if u := h.chatDo("GET", "/chat/nope/stream", aliceKey, nil); u.status != 404 || u.body != bodyNotFound {
		t.Fatalf("unknown: %d %s", u.status, u.body)
	}
	id := h.start(aliceKey, "echo")
	h.wait(id)
	if u := h.chatDo("GET", "/chat/"+id+"/stream", aliceKey, nil); u.status != 204 || u.body != "" {
		t.Fatalf("idle: %d %q", u.status, u.body)
	}
	if u := h.chatDo("GET", "/chat/"+id+"/stream", bobKey, nil); u.status != 404 || u.body != bodyNotFound {
		t.Fatalf("bob: %d %s", u.status, u.body)
	}

	// A reattach while slow runs rebuilds the message from the run's start.
	slow := h.start(aliceKey, "slow")
	if u := h.chatDo("POST", "/chat/"+slow, aliceKey, map[string]any{"message": "more"}); u.status != 409 || u.body != bodyAgentRunning {
		t.Fatalf("POST while running: %d %s", u.status, u.body)
	}
	u := h.chatDo("GET", "/chat/"+slow+"/stream", aliceKey, nil)
	if u.status != 200 || !u.done || u.header.Get(chat.HeaderName) != chat.HeaderValue {
		t.Fatalf("reattach: %d %s %v", u.status, u.body, u.header)
	}
	st := h.status(aliceKey, slow)
	if u.parts[0]["type"] != "start" || u.parts[0]["messageId"] != "msg_"+st.RunID || u.parts[len(u.parts)-1]["type"] != "finish" {
		t.Fatalf("reattach parts %s", u.types())
	}
	if want := strings.Repeat("word ", 200); u.text() != want {
		t.Fatalf("reattach text %d bytes, want %d", len(u.text()), len(want))
	}
}

// TestChatStreamTurn: a reattach during the run resumed after an approval
// replays the whole turn (both runs) as one message.
func TestChatStreamTurn(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{})
	slowTool := helix.NewTool("wait", "waits", func(ctx context.Context, _ *helix.ToolContext, _ struct{}) (string, error) {
		close(started)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return "waited", nil
	}, helix.RequireApproval())
	agent := helix.MustNewAgent(helix.AgentConfig{Name: "waiter", Tools: []*helix.Tool{slowTool}, Model: scripted.Turns(
		scripted.Turn{Text: "ok", ToolCalls: []scripted.ToolCall{{ID: "call_w", Name: "wait", Arguments: json.RawMessage(`{}`)}}},
		scripted.Turn{Text: "finished"},
	)})
	h := newHarness(t, harnessConfig{rtOpts: func(o *local.Options) {
		if err := o.Agents.Register(agent); err != nil {
			t.Fatal(err)
		}
	}})
	first := h.chatDo("POST", "/chat/w_1?agentType=waiter", aliceKey, map[string]any{"message": "go"})
	if first.first("tool-approval-request") == nil {
		t.Fatalf("first %s", first.types())
	}
	r := h.do("POST", "/submit-tool-result", aliceKey, map[string]any{"sessionId": "w_1", "toolCallId": "call_w", "kind": "approval", "approved": true})
	if r.status != 200 {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	<-started
	res := h.open("GET", "/chat/w_1/stream", aliceKey, nil) // the run is running: 200
	close(release)
	u := h.chatRead(res)
	if u.status != 200 || !u.done {
		t.Fatalf("reattach: %d %s", u.status, u.body)
	}
	starts := 0
	for _, p := range u.parts {
		if p["type"] == "start" {
			starts++
			if p["messageId"] != first.first("start")["messageId"] {
				t.Fatalf("start %v, want the first run's message %v", p, first.first("start"))
			}
		}
	}
	if starts != 2 || u.first("tool-approval-request") == nil || u.first("tool-output-available")["output"] != "waited" || u.text() != "okfinished" {
		t.Fatalf("turn replay: %s text %q", u.types(), u.text())
	}
}

func TestChatBadRequests(t *testing.T) {
	h := newHarness(t, harnessConfig{opts: func(o *Options) { o.DefaultAgent = "echo"; o.MaxBodyBytes = 4096 }})
	if u := h.chatDo("POST", "/chat/done_1", aliceKey, map[string]any{"message": "hi"}); u.status != 200 {
		t.Fatalf("setup: %d %s", u.status, u.body)
	}
	h.wait("done_1")
	cases := []struct {
		name, path, body string
		status           int
		want             string
	}{
		{"not json", "/chat/c1", `{"message":`, 400, bodyBadRequest},
		{"unknown field", "/chat/c1", `{"message":"x","temperature":1}`, 400, bodyBadRequest},
		{"array", "/chat/c1", `[]`, 400, bodyBadRequest},
		{"empty", "/chat/c1", ``, 400, bodyBadRequest},
		{"both forms", "/chat/c1", `{"message":"x","messages":[]}`, 400, bodyBadRequest},
		{"bad message", "/chat/c1", `{"messages":[{"role":"user","parts":[{"type":"text","text":5}]}]}`, 400, bodyBadRequest},
		{"no text", "/chat/c1", `{"messages":[{"role":"user","parts":[]}]}`, 400, bodyBadRequest},
		{"bad trigger", "/chat/c1", `{"messages":[{"role":"user","parts":[{"type":"text","text":"x"}]}],"trigger":"resume-stream"}`, 400, bodyBadRequest},
		{"id mismatch", "/chat/c1", `{"id":"c2","messages":[{"role":"user","parts":[{"type":"text","text":"x"}]}]}`, 400, bodyBadRequest},
		{"bad session id", "/chat/a%20b", `{"message":"x"}`, 400, bodyBadRequest},
		{"agentType twice", "/chat/c1?agentType=echo&agentType=echo", `{"message":"x"}`, 400, bodyBadRequest},
		{"too much metadata", "/chat/c1", `{"message":"x","metadata":{"` + strings.Repeat("k", 200) + `":"v"}}`, 400, bodyBadRequest},
		{"too large", "/chat/c1", `{"message":"` + strings.Repeat("x", 5000) + `"}`, 413, bodyTooLarge},
		{"answers nothing pending", "/chat/done_1", `{"messages":[{"role":"assistant","parts":[{"type":"tool-danger","toolCallId":"call_1","state":"approval-responded","approval":{"id":"a","approved":true}}]}]}`, 409, bodyToolNotPend},
		{"answers unknown session", "/chat/c9", `{"messages":[{"role":"assistant","parts":[{"type":"tool-danger","toolCallId":"call_1","state":"approval-responded","approval":{"id":"a","approved":true}}]}]}`, 404, bodyNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if u := h.chatDo("POST", c.path, aliceKey, c.body); u.status != c.status || u.body != c.want {
				t.Fatalf("%d %s, want %d %s", u.status, u.body, c.status, c.want)
			}
		})
	}
	// Authentication comes first, with the one 401 body.
	for _, m := range []struct{ method, path, body string }{{"POST", "/chat/done_1", `{"message":"x"}`}, {"GET", "/chat/done_1/stream", ""}} {
		var body any
		if m.body != "" {
			body = m.body
		}
		if u := h.chatDo(m.method, m.path, "", body); u.status != 401 || u.body != bodyUnauthorized {
			t.Errorf("%s %s without a key: %d %s", m.method, m.path, u.status, u.body)
		}
	}
	// Bob cannot post into alice's session, whatever the body.
	if u := h.chatDo("POST", "/chat/done_1", bobKey, map[string]any{"message": "x"}); u.status != 404 || u.body != bodyNotFound {
		t.Fatalf("bob: %d %s", u.status, u.body)
	}
}

// TestChatShutdown: a draining server ends an open chat stream without
// finish or [DONE]; the run itself is not cancelled by it.
func TestChatShutdown(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	res := h.open("POST", "/chat/sd_1?agentType=slow", aliceKey, `{"message":"go"}`)
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	next, stop := iter.Pull2(sse.Decode(res.Body))
	defer stop()
	for { // wait for text to flow
		ev, _, ok := next()
		if !ok {
			t.Fatal("stream ended early")
		}
		if strings.Contains(ev.Data, `"text-delta"`) {
			break
		}
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.srv.Shutdown(ctx)
	}()
	for {
		ev, _, ok := next()
		if !ok {
			break
		}
		if ev.Data == chat.Done || strings.Contains(ev.Data, `"type":"finish"`) {
			t.Fatalf("drained stream sent %s", ev.Data)
		}
	}
	if u := h.chatDo("POST", "/chat/sd_2", aliceKey, map[string]any{"message": "x", "agentType": "echo"}); u.status != 503 {
		t.Fatalf("POST while draining: %d %s", u.status, u.body)
	}
}

// chatAnswerBody is a chat request approving call_1 of session id.
func chatAnswerBody(id string) map[string]any {
	return map[string]any{"id": id, "trigger": "submit-message", "messages": []any{
		map[string]any{"id": "u1", "role": "user", "parts": []any{map[string]any{"type": "text", "text": "hi"}}},
		map[string]any{"id": "a1", "role": "assistant", "parts": []any{map[string]any{"type": "tool-danger", "toolCallId": "call_1",
			"state": "approval-responded", "input": map[string]any{"x": 7}, "approval": map[string]any{"id": "any", "approved": true}}}},
	}}
}

// TestChatTransportConvention: DefaultChatTransport({api: "/chat"}) POSTs to
// /chat with the chat id in the body and reconnects with GET
// /chat/{id}/stream; both work without configuration.
func TestChatTransportConvention(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	u := h.chatDo("POST", "/chat", aliceKey, transportBody("conv_1", []any{userUIMessage("u1", "hi")}, map[string]any{"agentType": "echo"}))
	if u.status != 200 || u.text() != "hello from helix" || u.header.Get(SessionIDHeader) != "conv_1" {
		t.Fatalf("POST /chat: %d %s %s", u.status, u.body, u.types())
	}
	if u := h.chatDo("GET", "/chat/conv_1/stream", aliceKey, nil); u.status != 204 {
		t.Fatalf("reconnect: %d %s", u.status, u.body)
	}
	for _, body := range []string{`{"message":"x"}`, `{"message":"x","id":"a b"}`} {
		if u := h.chatDo("POST", "/chat", aliceKey, body); u.status != 400 || u.body != bodyBadRequest {
			t.Fatalf("POST /chat %s: %d %s", body, u.status, u.body)
		}
	}
}

// TestChatAnswersNameManyChildren: the sub-agent sessions a /chat answer is
// looked for in come from the session's stored pending calls, not from the
// ids the request names: a request naming hundreds of made-up sub-agent
// calls costs a handful of session reads and answers nothing.
func TestChatAnswersNameManyChildren(t *testing.T) {
	st := &countingGets{Store: memstore.New()}
	h := newHarness(t, harnessConfig{store: st})
	first := h.chatDo("POST", "/chat/many_1", aliceKey, transportBody("many_1", []any{userUIMessage("u1", "clean up")}, map[string]any{"agentType": "lead"}))
	if first.status != 200 || !first.done {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	parts := []any{map[string]any{"type": "step-start"}}
	for i := range 500 {
		parts = append(parts, map[string]any{"type": "tool-danger", "toolCallId": fmt.Sprintf("many_1.x%d/call_1", i), "state": "approval-responded",
			"input": map[string]any{"x": 3}, "approval": map[string]any{"id": "a", "approved": true}})
	}
	body := transportBody("many_1", []any{
		userUIMessage("u1", "clean up"),
		map[string]any{"id": first.first("start")["messageId"], "role": "assistant", "parts": parts},
	}, map[string]any{"agentType": "lead"})
	before := st.gets.Load()
	if r := h.chatDo("POST", "/chat/many_1", aliceKey, body); r.status != 409 || r.body != bodyToolNotPend {
		t.Fatalf("answers of made-up calls: %d %s", r.status, r.body)
	}
	if n := st.gets.Load() - before; n > 10 {
		t.Errorf("one request read %d sessions", n)
	}
	if n := h.dangers.Load(); n != 0 {
		t.Fatalf("the child's tool ran %d times", n)
	}
}

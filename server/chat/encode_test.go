package chat_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/server/chat"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// transcript encodes chunks as the server writes them: one SSE event per
// part, then [DONE].
func transcript(t *testing.T, chunks []helix.Chunk, opts chat.Options) []byte {
	t.Helper()
	enc := chat.NewEncoder(opts)
	var b bytes.Buffer
	write := func(parts []chat.Part) {
		for _, p := range parts {
			data, err := json.Marshal(p)
			if err != nil {
				t.Fatalf("marshal %+v: %v", p, err)
			}
			b.WriteString("data: ")
			b.Write(data)
			b.WriteString("\n\n")
		}
	}
	for _, c := range chunks {
		write(enc.Encode(c))
	}
	write(enc.Close())
	b.WriteString("data: " + chat.Done + "\n\n")
	return b.Bytes()
}

func readChunks(t *testing.T, name string) []helix.Chunk {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".chunks"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []helix.Chunk
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var c helix.Chunk
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("%s: %q: %v", name, sc.Text(), err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGolden compares UI message stream transcripts of chunk sequences
// (testdata/NAME.chunks) with testdata/NAME.golden. Regenerate with
// go test ./server/chat -run TestGolden -update, and read the diff.
func TestGolden(t *testing.T) {
	cases := []struct {
		name string
		opts chat.Options
	}{
		{"plain_text", chat.Options{}},
		{"text_reasoning", chat.Options{}},
		{"tool_output", chat.Options{}},
		{"tool_error", chat.Options{}},
		// The first request: the run suspends for approval.
		{"approval_request", chat.Options{}},
		// The second request answers it: the stream continues the client's
		// assistant message, whose tool part needs no new input.
		{"approval_approved", chat.Options{MessageID: "msg_run_1", Announced: []string{"call_1"}}},
		{"approval_denied", chat.Options{MessageID: "msg_run_1", Announced: []string{"call_1"}, Denied: []string{"call_1"}}},
		// A reattach replays the whole turn as one message.
		{"approval_turn", chat.Options{}},
		{"client_tool", chat.Options{}},
		{"client_tool_result", chat.Options{MessageID: "msg_run_1", Announced: []string{"call_9"}}},
		{"state_custom", chat.Options{}},
		{"error_failed", chat.Options{}},
		{"subagent", chat.Options{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := transcript(t, readChunks(t, c.name), c.opts)
			checkWire(t, got, c.opts.Announced)
			path := filepath.Join("testdata", c.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("transcript differs from %s (rerun with -update and review the diff)\ngot:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

// checkWire checks what every transcript must satisfy for the AI SDK's
// parser: events are "data: <one-line JSON object with a string type>",
// text/reasoning deltas and ends name an open block, tool parts follow the
// call's tool-input part, and the stream ends with [DONE].
func checkWire(t *testing.T, b []byte, announced []string) {
	t.Helper()
	events := strings.Split(strings.TrimSuffix(string(b), "\n\n"), "\n\n")
	if events[len(events)-1] != "data: [DONE]" {
		t.Fatalf("last event %q, want data: [DONE]", events[len(events)-1])
	}
	open := map[string]bool{}
	tools := map[string]bool{}
	for _, id := range announced {
		tools[id] = true
	}
	for _, ev := range events[:len(events)-1] {
		data, ok := strings.CutPrefix(ev, "data: ")
		if !ok || strings.ContainsAny(data, "\r\n") {
			t.Fatalf("bad event %q", ev)
		}
		var p map[string]any
		if err := json.Unmarshal([]byte(data), &p); err != nil {
			t.Fatalf("event %q: %v", ev, err)
		}
		typ, _ := p["type"].(string)
		id, _ := p["id"].(string)
		call, _ := p["toolCallId"].(string)
		switch typ {
		case "text-start", "reasoning-start":
			open[id] = true
		case "text-delta", "reasoning-delta":
			if !open[id] || p["delta"] == nil {
				t.Errorf("%s for a block that is not open: %s", typ, data)
			}
		case "text-end", "reasoning-end":
			if !open[id] {
				t.Errorf("%s for a block that is not open: %s", typ, data)
			}
			delete(open, id)
		case "finish-step", "finish":
			if len(open) > 0 {
				t.Errorf("%s with open blocks %v", typ, open)
			}
		case "tool-input-start", "tool-input-available":
			tools[call] = true
		case "tool-input-delta", "tool-approval-request", "tool-output-available", "tool-output-error", "tool-output-denied":
			if !tools[call] {
				t.Errorf("%s before the call's input: %s", typ, data)
			}
		case "error":
			if p["errorText"] == "" {
				t.Errorf("error without text: %s", data)
			}
		case "":
			t.Errorf("part without a type: %s", data)
		}
	}
}

// TestEncoderNeverBreaksLines feeds hostile payloads: the output must stay
// one JSON line per part.
func TestEncoderNeverBreaksLines(t *testing.T) {
	enc := chat.NewEncoder(chat.Options{})
	chunks := []helix.Chunk{
		{Type: helix.ChunkRunStart, SessionID: "s", RunID: "r\n1"},
		{Type: helix.ChunkStepStart, SessionID: "s", Step: 1},
		{Type: helix.ChunkTextDelta, SessionID: "s", Step: 1, Delta: "a\r\nb\u2028c</script>"},
		{Type: helix.ChunkToolStart, SessionID: "s", ToolCallID: "c\n", ToolName: "t", Arguments: json.RawMessage("{\n\"a\": 1\n}")},
		{Type: helix.ChunkToolEnd, SessionID: "s", ToolCallID: "c\n", Result: json.RawMessage("not json\n"), Success: true},
		{Type: helix.ChunkCustom, SessionID: "s", EventName: "x\ny", Data: json.RawMessage("[1,\n2]")},
		{Type: helix.ChunkError, SessionID: "s", Error: &helix.ErrorInfo{Message: "line\nbreak"}},
		{Type: helix.ChunkRunEnd, SessionID: "s", Status: helix.StatusFailed},
	}
	for _, c := range chunks {
		for _, p := range enc.Encode(c) {
			data, err := json.Marshal(p)
			if err != nil {
				t.Fatalf("marshal %+v: %v", p, err)
			}
			if bytes.ContainsAny(data, "\r\n") || bytes.Contains(data, []byte("\u2028")) {
				t.Errorf("raw line break in %s", data)
			}
		}
	}
}

func TestDataName(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "custom",
		"progress":              "progress",
		"a b/c":                 "a_b_c",
		"état":                  "__tat",
		"ok-name_1":             "ok-name_1",
		strings.Repeat("x", 80): strings.Repeat("x", 64),
	} {
		if got := chat.DataName(in); got != want {
			t.Errorf("DataName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEncoderSkipsOrphans: deltas for calls never started, and empty
// deltas, produce nothing the client would reject.
func TestEncoderSkipsOrphans(t *testing.T) {
	enc := chat.NewEncoder(chat.Options{SessionID: "s"})
	for _, c := range []helix.Chunk{
		{Type: helix.ChunkToolArgStreamDelta, SessionID: "s", ToolCallID: "x", ArgsDelta: "{"},
		{Type: helix.ChunkTextDelta, SessionID: "s"},
		{Type: helix.ChunkThinking, SessionID: "s"},
		{Type: helix.ChunkThinking, SessionID: "s", IsComplete: true},
		{Type: helix.ChunkStepEnd, SessionID: "s"},
		{Type: "future_type", SessionID: "s"},
	} {
		if parts := enc.Encode(c); len(parts) != 0 {
			t.Errorf("Encode(%s) = %+v, want nothing", c.Type, parts)
		}
	}
	if parts := enc.Close(); len(parts) != 0 {
		t.Errorf("Close() without a run = %+v", parts)
	}
}

// TestEncoderClose finishes a stream cut before its run_end.
func TestEncoderClose(t *testing.T) {
	enc := chat.NewEncoder(chat.Options{})
	enc.Encode(helix.Chunk{Type: helix.ChunkRunStart, SessionID: "s", RunID: "r"})
	enc.Encode(helix.Chunk{Type: helix.ChunkStepStart, SessionID: "s", Step: 1})
	enc.Encode(helix.Chunk{Type: helix.ChunkTextDelta, SessionID: "s", Step: 1, Delta: "x"})
	var types []string
	for _, p := range enc.Close() {
		types = append(types, p.Type)
	}
	if got, want := strings.Join(types, ","), "text-end,finish-step,finish"; got != want {
		t.Fatalf("Close() = %s, want %s", got, want)
	}
	if enc.MessageID() != "msg_r" {
		t.Fatalf("MessageID() = %q", enc.MessageID())
	}
}

// TestEncoderChildCalls: a sub-agent's chunks stay out of the message,
// except the calls it needs the client for, shown under ChildCallID ids,
// and their outcomes.
func TestEncoderChildCalls(t *testing.T) {
	enc := chat.NewEncoder(chat.Options{SessionID: "s"})
	const child = "s.call_1"
	id := chat.ChildCallID(child, "c1")
	var got []string
	for _, c := range []helix.Chunk{
		{Type: helix.ChunkTextDelta, SessionID: child, Delta: "the child's own text"},
		{Type: helix.ChunkToolStart, SessionID: child, ToolCallID: "c0", ToolName: "read"},
		{Type: helix.ChunkToolEnd, SessionID: child, ToolCallID: "c0", ToolName: "read", Success: true},
		{Type: helix.ChunkToolApprovalRequest, SessionID: child, ToolCallID: "c1", ToolName: "danger", ApprovalID: "ap1", Input: json.RawMessage(`{"x":1}`)},
		{Type: helix.ChunkToolEnd, SessionID: child, ToolCallID: "c1", ToolName: "danger", Success: true, Result: json.RawMessage(`"ok"`)},
	} {
		for _, p := range enc.Encode(c) {
			got = append(got, p.Type+" "+p.ToolCallID)
		}
	}
	want := []string{"tool-input-available " + id, "tool-approval-request " + id, "tool-output-available " + id}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("parts %v, want %v", got, want)
	}
	if c, call, ok := chat.SplitChildCallID(id); !ok || c != child || call != "c1" {
		t.Errorf("SplitChildCallID(%q) = %q, %q, %v", id, c, call, ok)
	}
	for _, plain := range []string{"call_1", "/c1", "s.call_1/"} {
		if _, _, ok := chat.SplitChildCallID(plain); ok {
			t.Errorf("SplitChildCallID(%q) took it for a child's call", plain)
		}
	}
}

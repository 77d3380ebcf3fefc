package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/store"
)

func miscCases() []testCase {
	return []testCase{
		{"Unicode", testUnicode},
		{"LargePayloads", testLargePayloads},
		{"CancelledContext", testCancelledContext},
		{"CloseIdempotent", testCloseIdempotent},
		{"UseAfterClose", testUseAfterClose},
		{"CloseEndsSubscribe", testCloseEndsSubscribe},
	}
}

// testUnicode round-trips identifiers and payloads with emoji, right-to-left
// text, combining characters and key-like punctuation.
func testUnicode(t *testing.T, e *env) {
	for _, id := range []string{"a/b:c d", "🚀 émoji-Ω", "مرحبا-بالعالم", "שלום:עולם/1", "e\u0301*?[x]{y}%20#"} {
		principal := "用户@例え.jp " + id
		in := &store.Session{
			ID: id, AgentType: "agent/ü:1", Principal: principal, Status: helix.StatusRunning,
			State:     json.RawMessage(`{"greeting":"héllo 👋","rtl":"مرحبا","emoji":"👩‍👩‍👧‍👦","k/ey:x y":"\u202e"}`),
			Metadata:  map[string]string{"ключ/🔑": "שלום עולם", "a/b:c d": "🚀"},
			CreatedAt: base, UpdatedAt: base,
		}
		e.create(t, in)
		want := *in
		want.Version = 1
		if d := diff(&want, e.get(t, id)); d != "" {
			t.Errorf("GetSession(%q): unicode session not preserved; -want +got:\n%s", id, d)
		}
		msgs := []llm.Message{llm.UserMessage("سلام 👋 " + id), {Role: llm.RoleAssistant, Parts: []llm.Part{
			{Type: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "call/ü 1", Name: "naïve_tool", Arguments: json.RawMessage(`{"q":"日本語"}`)}},
		}}}
		run := &store.Run{ID: "run/ü:1 " + id, Status: helix.StatusRunning, StartedAt: base}
		cp := &store.Checkpoint{ID: "cp 🚩 " + id, RunID: run.ID, State: json.RawMessage(`{"ok":"✓"}`), CreatedAt: base}
		e.commit(t, id, msgs, run, cp)
		page, err := e.st.ListMessages(e.ctx, id, 0, 0)
		must(t, err, "ListMessages(%q)", id)
		if d := diff(msgs, page.Items); d != "" {
			t.Errorf("ListMessages(%q): unicode messages not preserved; -want +got:\n%s", id, d)
		}
		gotRun, err := e.st.GetRun(e.ctx, id, run.ID)
		must(t, err, "GetRun(%q, %q)", id, run.ID)
		run.SessionID = id
		if d := diff(run, gotRun); d != "" {
			t.Errorf("GetRun(%q): -want +got:\n%s", run.ID, d)
		}
		gotCP, err := e.st.GetCheckpoint(e.ctx, id, cp.ID)
		must(t, err, "GetCheckpoint(%q, %q)", id, cp.ID)
		cp.SessionID = id
		if d := diff(cp, gotCP); d != "" {
			t.Errorf("GetCheckpoint(%q): -want +got:\n%s", cp.ID, d)
		}
		chunk := helix.Chunk{Type: helix.ChunkTextDelta, SessionID: id, RunID: run.ID, AgentType: in.AgentType,
			Step: 1, Timestamp: base.UnixMilli(), Delta: "🚀🌍 مرحبا e\u0301 \u2028"}
		e.appendChunks(t, id, chunk)
		chunk.Sequence = 1
		got, err := e.st.ReadChunks(e.ctx, id, 0, 0)
		must(t, err, "ReadChunks(%q)", id)
		if d := diff([]helix.Chunk{chunk}, got); d != "" {
			t.Errorf("ReadChunks(%q): unicode chunk not preserved; -want +got:\n%s", id, d)
		}
		list, err := e.st.ListSessions(e.ctx, store.SessionQuery{Principal: principal})
		must(t, err, "ListSessions(principal %q)", principal)
		if d := diff([]string{id}, sessionIDs(list.Items)); d != "" {
			t.Errorf("ListSessions(principal %q): -want +got:\n%s", principal, d)
		}
	}
}

// testLargePayloads round-trips a 1 MB state, a 1 MB file and 1 MB chunks.
func testLargePayloads(t *testing.T, e *env) {
	const mb = 1 << 20
	var sb strings.Builder
	sb.WriteString(`{"blob":"`)
	for sb.Len() < mb {
		sb.WriteString("lorem ipsum dolor sit amet 0123456789 ")
	}
	sb.WriteString(`","n":1}`)
	state := json.RawMessage(sb.String())
	in := &store.Session{ID: "big", AgentType: "assistant", Status: helix.StatusRunning, State: state, CreatedAt: base}
	e.create(t, in)
	got := e.get(t, "big")
	if !bytes.Equal(compactJSON(t, got.State), compactJSON(t, state)) {
		t.Errorf("GetSession: 1 MB state not preserved (got %d bytes, want %d)", len(got.State), len(state))
	}

	file := make([]byte, mb)
	for i := range file {
		file[i] = byte(i*7 + i>>8)
	}
	msgs := []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartFile,
		File: &llm.File{MediaType: "application/octet-stream", Name: "big.bin", Data: file}}}}}
	got.MessageCount = 1
	_, err := e.st.Commit(e.ctx, store.Commit{Session: got, ExpectedVersion: 1, Messages: msgs,
		Checkpoint: &store.Checkpoint{ID: "cp-1", State: state, CreatedAt: base}})
	must(t, err, "Commit with a 1 MB state, checkpoint and file")
	page, err := e.st.ListMessages(e.ctx, "big", 0, 0)
	must(t, err, "ListMessages")
	if len(page.Items) != 1 || len(page.Items[0].Parts) != 1 || page.Items[0].Parts[0].File == nil ||
		!bytes.Equal(page.Items[0].Parts[0].File.Data, file) {
		t.Errorf("ListMessages: 1 MB file not preserved")
	}
	cp, err := e.st.LatestCheckpoint(e.ctx, "big")
	must(t, err, "LatestCheckpoint")
	if !bytes.Equal(compactJSON(t, cp.State), compactJSON(t, state)) {
		t.Errorf("LatestCheckpoint: 1 MB state not preserved (got %d bytes)", len(cp.State))
	}

	delta := strings.Repeat("ab🚀", mb/6)
	chunks := []helix.Chunk{
		{Type: helix.ChunkTextDelta, SessionID: "big", RunID: "run-1", Step: 1, Timestamp: 1, Delta: delta},
		{Type: helix.ChunkCustom, SessionID: "big", RunID: "run-1", Step: 1, Timestamp: 2, EventName: "blob", Data: state},
	}
	e.appendChunks(t, "big", chunks...)
	read, err := e.st.ReadChunks(e.ctx, "big", 0, 0)
	must(t, err, "ReadChunks")
	if len(read) != 2 || read[0].Delta != delta || !bytes.Equal(compactJSON(t, read[1].Data), compactJSON(t, state)) {
		t.Errorf("ReadChunks: 1 MB chunks not preserved")
	}
}

func compactJSON(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Errorf("invalid JSON read back (%d bytes): %v", len(b), err)
		return b
	}
	return buf.Bytes()
}

// testCancelledContext calls every method with a cancelled context: each
// must return promptly with an error satisfying errors.Is(err,
// context.Canceled), and write nothing.
func testCancelledContext(t *testing.T, e *env) {
	e.newSession(t, "s-1")
	before := e.snapshot(t, "s-1")
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	s := e.get(t, "s-1")
	s.MessageCount = 1
	start := time.Now()
	check := func(method string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: got error %v, want one satisfying errors.Is(err, context.Canceled)", method, err)
		}
	}
	check("CreateSession", e.st.CreateSession(ctx, &store.Session{ID: "s-2", AgentType: "assistant"}))
	_, err := e.st.GetSession(ctx, "s-1")
	check("GetSession", err)
	_, err = e.st.Commit(ctx, store.Commit{Session: s, ExpectedVersion: s.Version, Messages: textMessages(0, 1)})
	check("Commit", err)
	_, err = e.st.ListSessions(ctx, store.SessionQuery{})
	check("ListSessions", err)
	_, err = e.st.ListMessages(ctx, "s-1", 0, 0)
	check("ListMessages", err)
	_, err = e.st.GetRun(ctx, "s-1", "run-1")
	check("GetRun", err)
	_, err = e.st.ListRuns(ctx, "s-1")
	check("ListRuns", err)
	_, err = e.st.GetCheckpoint(ctx, "s-1", "cp-1")
	check("GetCheckpoint", err)
	_, err = e.st.LatestCheckpoint(ctx, "s-1")
	check("LatestCheckpoint", err)
	_, err = e.st.ListCheckpoints(ctx, "s-1", 0, 0)
	check("ListCheckpoints", err)
	check("RequestControl", e.st.RequestControl(ctx, "s-1", store.ControlRequest{Kind: store.ControlAbort, RequestedAt: base}))
	_, err = e.st.GetControl(ctx, "s-1")
	check("GetControl", err)
	_, err = e.st.NextFence(ctx, "s-1")
	check("NextFence", err)
	_, err = e.st.AppendChunks(ctx, "s-1", 0, deltas("s-1", 0, 1))
	check("AppendChunks", err)
	_, err = e.st.ReadChunks(ctx, "s-1", 0, 0)
	check("ReadChunks", err)
	check("SetStreamStatus", e.st.SetStreamStatus(ctx, "s-1", 0, helix.StreamEnded))
	_, err = e.st.StreamInfo(ctx, "s-1")
	check("StreamInfo", err)
	r := await(t, subscribeAsync(ctx, e.st, "s-1", 0), prompt, "Subscribe with a cancelled context")
	check("Subscribe", r.err)
	if d := time.Since(start); d > prompt {
		t.Errorf("calls with a cancelled context took %v; they must return promptly", d)
	}
	e.unchanged(t, "s-1", before, "calls with a cancelled context")
	if _, err := e.st.GetSession(e.ctx, "s-2"); !isNotFound(err) {
		t.Errorf("CreateSession with a cancelled context created the session (GetSession error %v)", err)
	}
}

func testCloseIdempotent(t *testing.T, e *env) {
	e.newSession(t, "s-1")
	if err := e.st.Close(); err != nil {
		t.Errorf("first Close: %v", err)
	}
	if err := e.st.Close(); err != nil {
		t.Errorf("second Close: %v, want nil (Close is idempotent)", err)
	}
}

func testUseAfterClose(t *testing.T, e *env) {
	e.newSession(t, "s-1")
	s := e.get(t, "s-1")
	must(t, e.st.Close(), "Close")
	ctx := e.ctx
	check := func(method string, err error) {
		t.Helper()
		wantIs(t, err, store.ErrClosed, "%s after Close", method)
	}
	check("CreateSession", e.st.CreateSession(ctx, &store.Session{ID: "s-2", AgentType: "assistant"}))
	_, err := e.st.GetSession(ctx, "s-1")
	check("GetSession", err)
	_, err = e.st.Commit(ctx, store.Commit{Session: s, ExpectedVersion: s.Version})
	check("Commit", err)
	_, err = e.st.ListSessions(ctx, store.SessionQuery{})
	check("ListSessions", err)
	_, err = e.st.ListMessages(ctx, "s-1", 0, 0)
	check("ListMessages", err)
	_, err = e.st.ListRuns(ctx, "s-1")
	check("ListRuns", err)
	_, err = e.st.LatestCheckpoint(ctx, "s-1")
	check("LatestCheckpoint", err)
	check("RequestControl", e.st.RequestControl(ctx, "s-1", store.ControlRequest{Kind: store.ControlAbort, RequestedAt: base}))
	_, err = e.st.GetControl(ctx, "s-1")
	check("GetControl", err)
	_, err = e.st.NextFence(ctx, "s-1")
	check("NextFence", err)
	_, err = e.st.AppendChunks(ctx, "s-1", 0, deltas("s-1", 0, 1))
	check("AppendChunks", err)
	_, err = e.st.ReadChunks(ctx, "s-1", 0, 0)
	check("ReadChunks", err)
	check("SetStreamStatus", e.st.SetStreamStatus(ctx, "s-1", 0, helix.StreamEnded))
	_, err = e.st.StreamInfo(ctx, "s-1")
	check("StreamInfo", err)
	r := await(t, subscribeAsync(ctx, e.st, "s-1", 0), prompt, "Subscribe after Close")
	check("Subscribe", r.err)
}

func testCloseEndsSubscribe(t *testing.T, e *env) {
	e.newSession(t, "s-1")
	e.appendChunks(t, "s-1", deltas("s-1", 0, 2)...)
	caughtUp := make(chan struct{})
	ch := make(chan subResult, 1)
	go func() {
		var r subResult
		for c, err := range e.st.Subscribe(e.ctx, "s-1", 0) {
			if err != nil {
				r.err = err
				break
			}
			r.chunks = append(r.chunks, c)
			if len(r.chunks) == 2 {
				close(caughtUp)
			}
		}
		ch <- r
	}()
	select {
	case <-caughtUp:
	case r := <-ch:
		t.Fatalf("Subscribe ended before Close: %d chunks, error %v", len(r.chunks), r.err)
	case <-time.After(waitTimeout):
		t.Fatalf("Subscribe did not yield the stored chunks within %v", waitTimeout)
	}
	time.Sleep(20 * time.Millisecond) // let it wait for live chunks
	must(t, e.st.Close(), "Close")
	r := await(t, ch, prompt, "an open Subscribe when the store is closed")
	wantIs(t, r.err, store.ErrClosed, "an open Subscribe when the store is closed")
	if len(r.chunks) != 2 {
		t.Errorf("Subscribe yielded %d chunks, want the 2 stored before Close", len(r.chunks))
	}
}

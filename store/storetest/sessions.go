package storetest

import (
	"errors"
	"testing"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/store"
)

func sessionCases() []testCase {
	return []testCase{
		{"SessionRoundTrip", testSessionRoundTrip},
		{"CreateSessionDefaults", testCreateSessionDefaults},
		{"CreateSessionExists", testCreateSessionExists},
		{"CopySemantics", testCopySemantics},
		{"NotFound", testNotFound},
	}
}

func testSessionRoundTrip(t *testing.T, e *env) {
	in := fullSession(t, "s-1")
	e.create(t, in)
	got := e.get(t, "s-1")
	want := fullSession(t, "s-1")
	want.Version = 1
	if d := diff(want, got); d != "" {
		t.Errorf("GetSession after CreateSession: record not preserved (want Version 1); -want +got:\n%s", d)
	}
	if d := diff(fullSession(t, "s-1"), in); d != "" {
		t.Errorf("CreateSession modified its argument; -before +after:\n%s", d)
	}
}

func testCreateSessionDefaults(t *testing.T, e *env) {
	before := time.Now().Add(-time.Minute)
	e.create(t, &store.Session{ID: "s-1", AgentType: "assistant"})
	got := e.get(t, "s-1")
	if got.Version != 1 {
		t.Errorf("CreateSession: stored Version %d, want 1", got.Version)
	}
	if got.CreatedAt.Before(before) {
		t.Errorf("CreateSession with zero CreatedAt: stored CreatedAt %v, want the current time", got.CreatedAt)
	}
	if got.UpdatedAt.IsZero() {
		t.Errorf("CreateSession with zero UpdatedAt: stored UpdatedAt is zero, want a time")
	}
	info, err := e.st.StreamInfo(e.ctx, "s-1")
	must(t, err, "StreamInfo of a new session")
	if want := (store.StreamInfo{Status: helix.StreamActive}); info != want {
		t.Errorf("StreamInfo of a new session = %+v, want %+v (active, no chunks)", info, want)
	}
	chunks, err := e.st.ReadChunks(e.ctx, "s-1", 0, 0)
	must(t, err, "ReadChunks of a new session")
	if len(chunks) != 0 {
		t.Errorf("ReadChunks of a new session returned %d chunks, want none", len(chunks))
	}
	ctl, err := e.st.GetControl(e.ctx, "s-1")
	if ctl != nil || err != nil {
		t.Errorf("GetControl of a new session = %+v, %v; want nil, nil", ctl, err)
	}
	msgs, err := e.st.ListMessages(e.ctx, "s-1", 0, 0)
	must(t, err, "ListMessages of a new session")
	if len(msgs.Items) != 0 || msgs.Total != 0 || msgs.HasMore {
		t.Errorf("ListMessages of a new session = %+v, want an empty page", msgs)
	}
	runs, err := e.st.ListRuns(e.ctx, "s-1")
	must(t, err, "ListRuns of a new session")
	if len(runs) != 0 {
		t.Errorf("ListRuns of a new session returned %d runs, want none", len(runs))
	}
	cps, err := e.st.ListCheckpoints(e.ctx, "s-1", 0, 0)
	must(t, err, "ListCheckpoints of a new session")
	if len(cps.Items) != 0 || cps.Total != 0 || cps.HasMore {
		t.Errorf("ListCheckpoints of a new session = %+v, want an empty page", cps)
	}
	_, err = e.st.LatestCheckpoint(e.ctx, "s-1")
	wantIs(t, err, store.ErrNotFound, "LatestCheckpoint of a session without checkpoints")
	f, err := e.st.NextFence(e.ctx, "s-1")
	must(t, err, "NextFence of a new session")
	if f == 0 {
		t.Errorf("NextFence returned 0, which means \"no owner\"; want a positive token")
	}
}

func testCreateSessionExists(t *testing.T, e *env) {
	e.create(t, fullSession(t, "s-1"))
	dup := &store.Session{ID: "s-1", AgentType: "other", Principal: "intruder"}
	wantIs(t, e.st.CreateSession(e.ctx, dup), store.ErrExists, "CreateSession with a taken id")
	got := e.get(t, "s-1")
	want := fullSession(t, "s-1")
	want.Version = 1
	if d := diff(want, got); d != "" {
		t.Errorf("a failed CreateSession (ErrExists) changed the stored session; -want +got:\n%s", d)
	}
}

// testCopySemantics checks that the store neither retains records passed in
// nor hands out records it keeps.
func testCopySemantics(t *testing.T, e *env) {
	in := fullSession(t, "s-1")
	e.create(t, in)
	// Change what was passed in.
	in.State[2] = 'X'
	in.Metadata["team"] = "changed"
	in.Suspension.Calls[0].Name = "changed"
	in.Suspension.Results["call-1"].Output[1] = 'X'
	in.Suspension.Calls[1].Arguments[2] = 'X'
	in.Suspension.Pending[1].Resolution.Result[2] = 'X'
	in.Output[2] = 'X'
	in.Suspension.Patches[0].Value[0] = '9'
	in.Suspension.Results["call-1"] = llm.ToolResult{ToolName: "changed"}
	in.Suspension.Pending[0].Resolution.Reason = "changed"
	in.Error.Message = "changed"
	want := fullSession(t, "s-1")
	want.Version = 1
	got := e.get(t, "s-1")
	if d := diff(want, got); d != "" {
		t.Fatalf("changing a session after CreateSession changed the stored one (records passed in must not be retained); -want +got:\n%s", d)
	}
	// Change what was returned.
	got.State[2] = 'Y'
	got.Metadata["team"] = "changed"
	got.Suspension.Pending[1].Arguments[0] = '['
	got.Suspension.Results["call-1"] = llm.ToolResult{}
	got.Error.Code = "changed"
	if d := diff(want, e.get(t, "s-1")); d != "" {
		t.Fatalf("changing a session returned by GetSession changed the stored one (returned records belong to the caller); -want +got:\n%s", d)
	}

	run := fullRun("run-1")
	cp := fullCheckpoint(t, "cp-1", "run-1", 1)
	msgs := textMessages(0, 2)
	s := e.get(t, "s-1")
	s.MessageCount = 2
	_, err := e.st.Commit(e.ctx, store.Commit{Session: s, ExpectedVersion: 1, Messages: msgs, Run: run, Checkpoint: cp})
	must(t, err, "Commit")
	run.Error.Message = "changed"
	run.Status = helix.StatusRunning
	cp.State[2] = 'X'
	cp.Suspension.Calls[1].ID = "changed"
	msgs[0] = llm.UserMessage("changed")
	s.State[2] = 'Z'

	gotRun, err := e.st.GetRun(e.ctx, "s-1", "run-1")
	must(t, err, "GetRun")
	wantRun := fullRun("run-1")
	wantRun.SessionID = "s-1"
	if d := diff(wantRun, gotRun); d != "" {
		t.Errorf("changing a run after Commit changed the stored one; -want +got:\n%s", d)
	}
	gotRun.Error.Message = "changed again"
	if gotRun, err = e.st.GetRun(e.ctx, "s-1", "run-1"); err != nil || gotRun.Error.Message != wantRun.Error.Message {
		t.Errorf("changing a run returned by GetRun changed the stored one (err %v)", err)
	}
	gotCP, err := e.st.GetCheckpoint(e.ctx, "s-1", "cp-1")
	must(t, err, "GetCheckpoint")
	wantCP := fullCheckpoint(t, "cp-1", "run-1", 1)
	wantCP.SessionID = "s-1"
	if d := diff(wantCP, gotCP); d != "" {
		t.Errorf("changing a checkpoint after Commit changed the stored one; -want +got:\n%s", d)
	}
	gotCP.State[2] = 'Q'
	gotCP.Suspension.Pending[0].Kind = "changed"
	if gotCP2, err := e.st.LatestCheckpoint(e.ctx, "s-1"); err != nil || diff(wantCP, gotCP2) != "" {
		t.Errorf("changing a checkpoint returned by GetCheckpoint changed the stored one (err %v)", err)
	}
	page, err := e.st.ListMessages(e.ctx, "s-1", 0, 0)
	must(t, err, "ListMessages")
	if d := diff(textMessages(0, 2), page.Items); d != "" {
		t.Errorf("replacing a message in the caller's slice after Commit changed the stored messages; -want +got:\n%s", d)
	}
	page.Items[0] = llm.UserMessage("changed")
	if page, err = e.st.ListMessages(e.ctx, "s-1", 0, 0); err != nil || diff(textMessages(0, 2), page.Items) != "" {
		t.Errorf("replacing an element of ListMessages' Items changed the stored messages (Items must be a fresh slice; err %v)", err)
	}
	want.Version, want.MessageCount = 2, 2
	if d := diff(want, e.get(t, "s-1"), sessionOpts); d != "" {
		t.Errorf("changing the committed session record after Commit changed the stored one; -want +got:\n%s", d)
	}

	chunks := deltas("s-1", 0, 3)
	e.appendChunks(t, "s-1", chunks...)
	chunks[0].Delta = "changed"
	chunks[1] = helix.Chunk{}
	read, err := e.st.ReadChunks(e.ctx, "s-1", 0, 0)
	must(t, err, "ReadChunks")
	checkSequences(t, read, 0, "ReadChunks after the caller changed its appended chunks (the store must keep copies)")
	read[0].Delta = "changed"
	read[2] = helix.Chunk{}
	read, err = e.st.ReadChunks(e.ctx, "s-1", 0, 0)
	must(t, err, "ReadChunks")
	checkSequences(t, read, 0, "ReadChunks after the caller changed a returned slice (it must be fresh)")

	// A checkpoint id already stored refuses the whole commit.
	again := e.get(t, "s-1")
	again.MessageCount++
	_, err = e.st.Commit(e.ctx, store.Commit{Session: again, ExpectedVersion: again.Version,
		Messages: textMessages(2, 1), Checkpoint: fullCheckpoint(t, "cp-1", "run-1", 2)})
	wantIs(t, err, store.ErrExists, "Commit with a checkpoint id already stored")
	if got := e.get(t, "s-1"); got.Version != 2 || got.MessageCount != 2 {
		t.Errorf("a Commit refused for its checkpoint id left version %d, %d messages; want 2, 2 (nothing written)", got.Version, got.MessageCount)
	}
	if page, err := e.st.ListMessages(e.ctx, "s-1", 0, 0); err != nil || page.Total != 2 {
		t.Errorf("a Commit refused for its checkpoint id stored its messages: %d (err %v), want 2", page.Total, err)
	}
}

func testNotFound(t *testing.T, e *env) {
	e.newSession(t, "exists")
	const id = "missing"
	ctx := e.ctx
	_, err := e.st.GetSession(ctx, id)
	wantIs(t, err, store.ErrNotFound, "GetSession of an unknown session")
	s := &store.Session{ID: id, AgentType: "assistant"}
	_, err = e.st.Commit(ctx, store.Commit{Session: s, ExpectedVersion: 1})
	wantIs(t, err, store.ErrNotFound, "Commit to an unknown session")
	if _, err := e.st.GetSession(ctx, id); !isNotFound(err) {
		t.Errorf("Commit to an unknown session created it (GetSession error %v)", err)
	}
	_, err = e.st.ListMessages(ctx, id, 0, 0)
	wantIs(t, err, store.ErrNotFound, "ListMessages of an unknown session")
	_, err = e.st.GetRun(ctx, id, "run-1")
	wantIs(t, err, store.ErrNotFound, "GetRun of an unknown session")
	_, err = e.st.GetRun(ctx, "exists", "run-1")
	wantIs(t, err, store.ErrNotFound, "GetRun of an unknown run")
	_, err = e.st.ListRuns(ctx, id)
	wantIs(t, err, store.ErrNotFound, "ListRuns of an unknown session")
	_, err = e.st.GetCheckpoint(ctx, id, "cp-1")
	wantIs(t, err, store.ErrNotFound, "GetCheckpoint of an unknown session")
	_, err = e.st.GetCheckpoint(ctx, "exists", "cp-1")
	wantIs(t, err, store.ErrNotFound, "GetCheckpoint of an unknown checkpoint")
	_, err = e.st.LatestCheckpoint(ctx, id)
	wantIs(t, err, store.ErrNotFound, "LatestCheckpoint of an unknown session")
	_, err = e.st.ListCheckpoints(ctx, id, 0, 0)
	wantIs(t, err, store.ErrNotFound, "ListCheckpoints of an unknown session")
	err = e.st.RequestControl(ctx, id, store.ControlRequest{Kind: store.ControlAbort, RequestedAt: base})
	wantIs(t, err, store.ErrNotFound, "RequestControl of an unknown session")
	_, err = e.st.GetControl(ctx, id)
	wantIs(t, err, store.ErrNotFound, "GetControl of an unknown session")
	_, err = e.st.NextFence(ctx, id)
	wantIs(t, err, store.ErrNotFound, "NextFence of an unknown session")
	_, err = e.st.AppendChunks(ctx, id, 0, deltas(id, 0, 1))
	wantIs(t, err, store.ErrNotFound, "AppendChunks to an unknown session")
	_, err = e.st.ReadChunks(ctx, id, 0, 0)
	wantIs(t, err, store.ErrNotFound, "ReadChunks of an unknown session")
	err = e.st.SetStreamStatus(ctx, id, 0, helix.StreamEnded)
	wantIs(t, err, store.ErrNotFound, "SetStreamStatus of an unknown session")
	_, err = e.st.StreamInfo(ctx, id)
	wantIs(t, err, store.ErrNotFound, "StreamInfo of an unknown session")
	r := await(t, subscribeAsync(ctx, e.st, id, 0), waitTimeout, "Subscribe to an unknown session")
	if len(r.chunks) != 0 {
		t.Errorf("Subscribe to an unknown session yielded %d chunks", len(r.chunks))
	}
	wantIs(t, r.err, store.ErrNotFound, "Subscribe to an unknown session")
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

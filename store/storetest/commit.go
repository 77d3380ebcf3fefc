package storetest

import (
	"encoding/json"
	"testing"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/store"
)

func commitCases() []testCase {
	return []testCase{
		{"CommitRoundTrip", testCommitRoundTrip},
		{"CommitRunUpsert", testCommitRunUpsert},
		{"CommitConflictVersion", testCommitConflictVersion},
		{"CommitConflictMessageCount", testCommitConflictMessageCount},
		{"CommitRewind", testCommitRewind},
		{"ControlRequests", testControlRequests},
		{"Fencing", testFencing},
		{"FencingPerSession", testFencingPerSession},
	}
}

func testCommitRoundTrip(t *testing.T, e *env) {
	e.create(t, fullSession(t, "s-1"))
	s := e.get(t, "s-1")
	msgs := allPartsMessages()
	s.Status = helix.StatusRunning
	s.State = json.RawMessage(`{"topic":"rust","count":4}`)
	s.Suspension = nil
	s.Error = nil
	s.StepCount = 5
	s.MessageCount = len(msgs)
	s.Usage.Add(llm.Usage{PromptTokens: 1, TotalTokens: 1})
	s.Metadata["added"] = "yes"
	run := fullRun("run-1")
	cp := fullCheckpoint(t, "cp-1", "run-1", 5)
	v, err := e.st.Commit(e.ctx, store.Commit{Session: s, ExpectedVersion: 1, Messages: msgs, Run: run, Checkpoint: cp})
	must(t, err, "Commit")
	if v != 2 {
		t.Errorf("Commit returned version %d, want 2 (ExpectedVersion+1)", v)
	}
	want := *s
	want.Version = 2
	got := e.get(t, "s-1")
	if d := diff(&want, got, sessionOpts); d != "" {
		t.Errorf("GetSession after Commit: session not saved as committed; -want +got:\n%s", d)
	}
	if got.UpdatedAt.IsZero() {
		t.Errorf("GetSession after Commit: UpdatedAt is zero")
	}
	page, err := e.st.ListMessages(e.ctx, "s-1", 0, 0)
	must(t, err, "ListMessages")
	if d := diff(store.Page[llm.Message]{Items: allPartsMessages(), Total: 4}, page); d != "" {
		t.Errorf("ListMessages after Commit: messages not preserved; -want +got:\n%s", d)
	}
	wantRun := fullRun("run-1")
	wantRun.SessionID = "s-1"
	gotRun, err := e.st.GetRun(e.ctx, "s-1", "run-1")
	must(t, err, "GetRun")
	if d := diff(wantRun, gotRun); d != "" {
		t.Errorf("GetRun after Commit: run not preserved; -want +got:\n%s", d)
	}
	runs, err := e.st.ListRuns(e.ctx, "s-1")
	must(t, err, "ListRuns")
	if d := diff([]*store.Run{wantRun}, runs); d != "" {
		t.Errorf("ListRuns after Commit; -want +got:\n%s", d)
	}
	wantCP := fullCheckpoint(t, "cp-1", "run-1", 5)
	wantCP.SessionID = "s-1"
	gotCP, err := e.st.GetCheckpoint(e.ctx, "s-1", "cp-1")
	must(t, err, "GetCheckpoint")
	if d := diff(wantCP, gotCP); d != "" {
		t.Errorf("GetCheckpoint after Commit: checkpoint not preserved; -want +got:\n%s", d)
	}
	gotCP, err = e.st.LatestCheckpoint(e.ctx, "s-1")
	must(t, err, "LatestCheckpoint")
	if d := diff(wantCP, gotCP); d != "" {
		t.Errorf("LatestCheckpoint after Commit; -want +got:\n%s", d)
	}

	// A second commit appends after the stored messages.
	s = e.get(t, "s-1")
	s.MessageCount += 2
	v, err = e.st.Commit(e.ctx, store.Commit{Session: s, ExpectedVersion: 2, Messages: textMessages(0, 2)})
	must(t, err, "second Commit")
	if v != 3 {
		t.Errorf("second Commit returned version %d, want 3", v)
	}
	page, err = e.st.ListMessages(e.ctx, "s-1", 0, 0)
	must(t, err, "ListMessages")
	if d := diff(append(allPartsMessages(), textMessages(0, 2)...), page.Items); d != "" {
		t.Errorf("ListMessages after two commits: messages must be appended in order; -want +got:\n%s", d)
	}
	if page.Total != 6 || e.get(t, "s-1").MessageCount != 6 {
		t.Errorf("after two commits: Total %d, MessageCount %d; want 6", page.Total, e.get(t, "s-1").MessageCount)
	}
	// A commit with nothing but the session bumps the version.
	s = e.get(t, "s-1")
	v, err = e.st.Commit(e.ctx, store.Commit{Session: s, ExpectedVersion: 3})
	must(t, err, "third Commit")
	if v != 4 || e.get(t, "s-1").Version != 4 {
		t.Errorf("Commit of the session alone: version %d, want 4", v)
	}
}

func testCommitRunUpsert(t *testing.T, e *env) {
	e.newSession(t, "s-1")
	r1 := &store.Run{ID: "run-1", Turn: 1, Status: helix.StatusRunning, StartedAt: base}
	e.commit(t, "s-1", nil, r1, nil)
	r1done := *r1
	r1done.Status = helix.StatusCompleted
	r1done.StepCount = 3
	r1done.CompletionReason = helix.CompletionStop
	r1done.EndedAt = base.Add(time.Minute)
	e.commit(t, "s-1", nil, &r1done, nil)
	runs, err := e.st.ListRuns(e.ctx, "s-1")
	must(t, err, "ListRuns")
	want := r1done
	want.SessionID = "s-1"
	if d := diff([]*store.Run{&want}, runs); d != "" {
		t.Errorf("Commit of a run with a stored ID must replace it; ListRuns -want +got:\n%s", d)
	}
	r2 := &store.Run{ID: "run-2", SessionID: "s-1", Turn: 2, Status: helix.StatusRunning, StartSequence: 10, StartedAt: base.Add(time.Hour)}
	e.commit(t, "s-1", nil, r2, nil)
	r0 := &store.Run{ID: "run-0", SessionID: "s-1", Turn: 3, Status: helix.StatusRunning, StartedAt: base.Add(2 * time.Hour)}
	e.commit(t, "s-1", nil, r0, nil)
	runs, err = e.st.ListRuns(e.ctx, "s-1")
	must(t, err, "ListRuns")
	if d := diff([]*store.Run{&want, r2, r0}, runs); d != "" {
		t.Errorf("ListRuns must list runs oldest first (not by ID); -want +got:\n%s", d)
	}
	got, err := e.st.GetRun(e.ctx, "s-1", "run-2")
	must(t, err, "GetRun")
	if d := diff(r2, got); d != "" {
		t.Errorf("GetRun; -want +got:\n%s", d)
	}
}

// conflictSetup makes a session with one message, a pending control request
// and a chunk, and returns the snapshot and a commit that would write
// everything.
func conflictSetup(t *testing.T, e *env) (snapshot, store.Commit) {
	e.newSession(t, "s-1")
	e.commit(t, "s-1", textMessages(0, 1), &store.Run{ID: "run-1", Status: helix.StatusRunning, StartedAt: base}, nil)
	must(t, e.st.RequestControl(e.ctx, "s-1", store.ControlRequest{Kind: store.ControlInterrupt, RequestedAt: base}), "RequestControl")
	e.appendChunks(t, "s-1", deltas("s-1", 0, 1)...)
	before := e.snapshot(t, "s-1")
	s := e.get(t, "s-1")
	s.Status = helix.StatusCompleted
	s.MessageCount = 3
	c := store.Commit{
		Session:         s,
		ExpectedVersion: s.Version,
		Messages:        textMessages(1, 2),
		Run:             &store.Run{ID: "run-1", Status: helix.StatusCompleted, StartedAt: base},
		Checkpoint:      fullCheckpoint(t, "cp-1", "run-1", 1),
		ClearControl:    true,
	}
	return before, c
}

func testCommitConflictVersion(t *testing.T, e *env) {
	before, c := conflictSetup(t, e)
	for _, v := range []int64{0, c.ExpectedVersion - 1, c.ExpectedVersion + 1} {
		c.ExpectedVersion = v
		_, err := e.st.Commit(e.ctx, c)
		wantIs(t, err, store.ErrConflict, "Commit with ExpectedVersion %d (stored %d)", v, before.Session.Version)
		e.unchanged(t, "s-1", before, "a Commit with a wrong ExpectedVersion")
	}
}

func testCommitConflictMessageCount(t *testing.T, e *env) {
	before, c := conflictSetup(t, e)
	for _, n := range []int{0, 1, 2, 4} { // stored 1 + 2 new = 3 is right
		c.Session.MessageCount = n
		_, err := e.st.Commit(e.ctx, c)
		wantIs(t, err, store.ErrConflict, "Commit with MessageCount %d (want stored 1 + 2 new)", n)
		e.unchanged(t, "s-1", before, "a Commit with a wrong MessageCount")
	}
	c.Session.MessageCount = 3
	_, err := e.st.Commit(e.ctx, c)
	must(t, err, "Commit with the right MessageCount after failed ones")
}

func testControlRequests(t *testing.T, e *env) {
	e.newSession(t, "s-1")
	get := func(what string) *store.ControlRequest {
		t.Helper()
		r, err := e.st.GetControl(e.ctx, "s-1")
		must(t, err, "GetControl %s", what)
		return r
	}
	if r := get("before any request"); r != nil {
		t.Errorf("GetControl before any request = %+v, want nil", r)
	}
	interrupt := store.ControlRequest{Kind: store.ControlInterrupt, Reason: "user pressed stop", RequestedAt: base}
	must(t, e.st.RequestControl(e.ctx, "s-1", interrupt), "RequestControl(interrupt)")
	if d := diff(&interrupt, get("after an interrupt")); d != "" {
		t.Errorf("GetControl after RequestControl(interrupt); -want +got:\n%s", d)
	}
	abort := store.ControlRequest{Kind: store.ControlAbort, Reason: "cancelled", RequestedAt: base.Add(time.Second)}
	must(t, e.st.RequestControl(e.ctx, "s-1", abort), "RequestControl(abort)")
	if d := diff(&abort, get("after interrupt then abort")); d != "" {
		t.Errorf("an abort must replace a pending interrupt; -want +got:\n%s", d)
	}
	later := store.ControlRequest{Kind: store.ControlInterrupt, Reason: "again", RequestedAt: base.Add(2 * time.Second)}
	if err := e.st.RequestControl(e.ctx, "s-1", later); err != nil {
		t.Logf("RequestControl(interrupt) over a pending abort returned %v", err)
	}
	if d := diff(&abort, get("after abort then interrupt")); d != "" {
		t.Errorf("an interrupt must never replace a pending abort; -want +got:\n%s", d)
	}
	// A commit without ClearControl keeps the request.
	e.commit(t, "s-1", nil, nil, nil)
	if d := diff(&abort, get("after a Commit without ClearControl")); d != "" {
		t.Errorf("a Commit without ClearControl must keep the pending request; -want +got:\n%s", d)
	}
	s := e.get(t, "s-1")
	_, err := e.st.Commit(e.ctx, store.Commit{Session: s, ExpectedVersion: s.Version, ClearControl: true})
	must(t, err, "Commit with ClearControl")
	if r := get("after ClearControl"); r != nil {
		t.Errorf("GetControl after a Commit with ClearControl = %+v, want nil", r)
	}
	must(t, e.st.RequestControl(e.ctx, "s-1", later), "RequestControl(interrupt) after clearing")
	if d := diff(&later, get("after a new interrupt")); d != "" {
		t.Errorf("GetControl after a new interrupt; -want +got:\n%s", d)
	}
	// Requests are per session.
	e.newSession(t, "s-2")
	r, err := e.st.GetControl(e.ctx, "s-2")
	if r != nil || err != nil {
		t.Errorf("GetControl of another session = %+v, %v; want nil, nil (requests are per session)", r, err)
	}
}

func testFencing(t *testing.T, e *env) {
	e.newSession(t, "s-1")
	var tokens []uint64
	for range 5 {
		f, err := e.st.NextFence(e.ctx, "s-1")
		must(t, err, "NextFence")
		if f == 0 || len(tokens) > 0 && f <= tokens[len(tokens)-1] {
			t.Fatalf("NextFence returned %d after %v; want a positive token greater than every earlier one", f, tokens)
		}
		tokens = append(tokens, f)
	}
	old, cur := tokens[3], tokens[4]

	before := e.snapshot(t, "s-1")
	s := e.get(t, "s-1")
	s.MessageCount = 1
	c := store.Commit{Session: s, ExpectedVersion: s.Version, Fence: old, Messages: textMessages(0, 1),
		Run: fullRun("run-1"), Checkpoint: fullCheckpoint(t, "cp-1", "run-1", 1)}
	_, err := e.st.Commit(e.ctx, c)
	wantIs(t, err, store.ErrStaleFence, "Commit with an older token")
	e.unchanged(t, "s-1", before, "a Commit with a stale fencing token")
	_, err = e.st.AppendChunks(e.ctx, "s-1", old, deltas("s-1", 0, 2))
	wantIs(t, err, store.ErrStaleFence, "AppendChunks with an older token")
	err = e.st.SetStreamStatus(e.ctx, "s-1", old, helix.StreamEnded)
	wantIs(t, err, store.ErrStaleFence, "SetStreamStatus with an older token")
	e.unchanged(t, "s-1", before, "AppendChunks or SetStreamStatus with a stale fencing token")

	// The newest token is accepted.
	c.Fence = cur
	_, err = e.st.Commit(e.ctx, c)
	must(t, err, "Commit with the newest token")
	last, err := e.st.AppendChunks(e.ctx, "s-1", cur, deltas("s-1", 0, 2))
	must(t, err, "AppendChunks with the newest token")
	if last != 2 {
		t.Errorf("AppendChunks returned last sequence %d, want 2", last)
	}
	must(t, e.st.SetStreamStatus(e.ctx, "s-1", cur, helix.StreamPaused), "SetStreamStatus with the newest token")

	// Token 0 is not an owner write and is accepted.
	s = e.get(t, "s-1")
	_, err = e.st.Commit(e.ctx, store.Commit{Session: s, ExpectedVersion: s.Version})
	must(t, err, "Commit with token 0")
	_, err = e.st.AppendChunks(e.ctx, "s-1", 0, deltas("s-1", 2, 1))
	must(t, err, "AppendChunks with token 0")
	must(t, e.st.SetStreamStatus(e.ctx, "s-1", 0, helix.StreamActive), "SetStreamStatus with token 0")

	// A new token makes the previous newest one stale.
	next, err := e.st.NextFence(e.ctx, "s-1")
	must(t, err, "NextFence")
	if next <= cur {
		t.Errorf("NextFence returned %d after %d", next, cur)
	}
	before = e.snapshot(t, "s-1")
	s = e.get(t, "s-1")
	_, err = e.st.Commit(e.ctx, store.Commit{Session: s, ExpectedVersion: s.Version, Fence: cur})
	wantIs(t, err, store.ErrStaleFence, "Commit with the token before the newest")
	_, err = e.st.AppendChunks(e.ctx, "s-1", cur, deltas("s-1", 3, 1))
	wantIs(t, err, store.ErrStaleFence, "AppendChunks with the token before the newest")
	err = e.st.SetStreamStatus(e.ctx, "s-1", cur, helix.StreamFailed)
	wantIs(t, err, store.ErrStaleFence, "SetStreamStatus with the token before the newest")
	e.unchanged(t, "s-1", before, "writes with a superseded fencing token")
	info, err := e.st.StreamInfo(e.ctx, "s-1")
	must(t, err, "StreamInfo")
	if info.LastSequence != 3 || info.Status != helix.StreamActive {
		t.Errorf("StreamInfo = %+v, want active with last sequence 3", info)
	}
}

func testFencingPerSession(t *testing.T, e *env) {
	e.newSession(t, "a")
	e.newSession(t, "b")
	fa, err := e.st.NextFence(e.ctx, "a")
	must(t, err, "NextFence(a)")
	for range 3 {
		_, err := e.st.NextFence(e.ctx, "b")
		must(t, err, "NextFence(b)")
	}
	s := e.get(t, "a")
	_, err = e.st.Commit(e.ctx, store.Commit{Session: s, ExpectedVersion: s.Version, Fence: fa})
	must(t, err, "Commit to a with a's newest token after tokens were issued for b (fencing is per session)")
	_, err = e.st.AppendChunks(e.ctx, "a", fa, deltas("a", 0, 1))
	must(t, err, "AppendChunks to a with a's newest token after tokens were issued for b")
	must(t, e.st.SetStreamStatus(e.ctx, "a", fa, helix.StreamEnded), "SetStreamStatus of a with a's newest token")
}

// testCommitRewind: a commit with a Rewind drops the messages from its
// point on and the checkpoints that count more, then appends its own, all
// or nothing; through EndRun too, where the store has it.
func testCommitRewind(t *testing.T, e *env) {
	e.newSession(t, "s-1")
	cp := func(id string, count int) *store.Checkpoint {
		return &store.Checkpoint{ID: id, RunID: "run-1", Step: 1, Status: helix.StatusCompleted, MessageCount: count, CreatedAt: base}
	}
	e.commit(t, "s-1", textMessages(0, 2), &store.Run{ID: "run-1", Turn: 1, Status: helix.StatusCompleted, StartedAt: base}, cp("cp-1", 2))
	e.commit(t, "s-1", textMessages(2, 2), &store.Run{ID: "run-2", Turn: 2, Status: helix.StatusCompleted, StartedAt: base}, cp("cp-2", 4))
	e.commit(t, "s-1", textMessages(4, 1), nil, cp("cp-3", 5))

	// Refused: past the stored messages, or a count that does not add up.
	before := e.snapshot(t, "s-1")
	for _, tc := range []struct {
		name        string
		keep, count int
	}{
		{"past the stored messages", 6, 7},
		{"a message count that ignores the rewind", 3, 6},
	} {
		s := e.get(t, "s-1")
		s.MessageCount = tc.count
		_, err := e.st.Commit(e.ctx, store.Commit{Session: s, ExpectedVersion: s.Version,
			Messages: textMessages(100, 1), Rewind: &store.Rewind{Messages: tc.keep}})
		wantIs(t, err, store.ErrConflict, "Commit with a rewind %s", tc.name)
		e.unchanged(t, "s-1", before, "a refused rewind ("+tc.name+")")
	}
	s := e.get(t, "s-1")
	_, err := e.st.Commit(e.ctx, store.Commit{Session: s, ExpectedVersion: s.Version - 1, Rewind: &store.Rewind{Messages: 1}})
	wantIs(t, err, store.ErrConflict, "Commit with a rewind and a stale version")
	e.unchanged(t, "s-1", before, "a rewind with a stale version")

	// Back to 3 messages: cp-2 and cp-3 count more and go; cp-1 stays.
	s.MessageCount = 4
	v, err := e.st.Commit(e.ctx, store.Commit{Session: s, ExpectedVersion: s.Version, Messages: textMessages(10, 1),
		Run:        &store.Run{ID: "run-3", Turn: 3, Status: helix.StatusRunning, StartedAt: base},
		Checkpoint: cp("cp-4", 4), Rewind: &store.Rewind{Messages: 3}})
	must(t, err, "Commit with a rewind to 3 messages")
	if v != s.Version+1 {
		t.Errorf("Commit with a rewind returned version %d, want %d", v, s.Version+1)
	}
	wantMsgs := append(textMessages(0, 3), textMessages(10, 1)...)
	page, err := e.st.ListMessages(e.ctx, "s-1", 0, 0)
	must(t, err, "ListMessages")
	if d := diff(store.Page[llm.Message]{Items: wantMsgs, Total: 4}, page); d != "" {
		t.Errorf("ListMessages after a rewind to 3 and one new message; -want +got:\n%s", d)
	}
	if got := e.get(t, "s-1").MessageCount; got != 4 {
		t.Errorf("MessageCount after the rewind = %d, want 4", got)
	}
	ids := func() []string {
		t.Helper()
		cps, err := e.st.ListCheckpoints(e.ctx, "s-1", 0, 0)
		must(t, err, "ListCheckpoints")
		var out []string
		for _, c := range cps.Items {
			out = append(out, c.ID)
		}
		if cps.Total != len(out) {
			t.Errorf("ListCheckpoints: Total %d for %d items", cps.Total, len(out))
		}
		return out
	}
	if d := diff([]string{"cp-1", "cp-4"}, ids()); d != "" {
		t.Errorf("checkpoints after the rewind: those counting more than 3 messages must go; -want +got:\n%s", d)
	}
	for _, id := range []string{"cp-2", "cp-3"} {
		_, err := e.st.GetCheckpoint(e.ctx, "s-1", id)
		wantIs(t, err, store.ErrNotFound, "GetCheckpoint(%q) after the rewind", id)
	}
	latest, err := e.st.LatestCheckpoint(e.ctx, "s-1")
	must(t, err, "LatestCheckpoint")
	if latest.ID != "cp-4" {
		t.Errorf("LatestCheckpoint after the rewind = %q, want cp-4", latest.ID)
	}
	runs, err := e.st.ListRuns(e.ctx, "s-1")
	must(t, err, "ListRuns")
	if len(runs) != 3 {
		t.Errorf("ListRuns after the rewind: %d runs, want all 3 (runs are kept)", len(runs))
	}
	// A later checkpoint takes the next place, and an id of a dropped one
	// can be used again.
	e.commit(t, "s-1", textMessages(11, 1), nil, cp("cp-2", 5))
	if d := diff([]string{"cp-1", "cp-4", "cp-2"}, ids()); d != "" {
		t.Errorf("checkpoints after one more commit; -want +got:\n%s", d)
	}

	// A rewind to nothing, through EndRun where the store has it.
	s = e.get(t, "s-1")
	s.MessageCount = 1
	c := store.Commit{Session: s, ExpectedVersion: s.Version, Messages: textMessages(20, 1), Rewind: &store.Rewind{}}
	if ender, ok := e.st.(store.RunEnder); ok {
		_, err = ender.EndRun(e.ctx, c, []helix.Chunk{{Type: helix.ChunkRunStart, SessionID: "s-1", RunID: "run-4", Timestamp: 1}}, helix.StreamActive)
		must(t, err, "EndRun with a rewind to 0 messages")
	} else {
		_, err = e.st.Commit(e.ctx, c)
		must(t, err, "Commit with a rewind to 0 messages")
	}
	page, err = e.st.ListMessages(e.ctx, "s-1", 0, 0)
	must(t, err, "ListMessages")
	if d := diff(store.Page[llm.Message]{Items: textMessages(20, 1), Total: 1}, page); d != "" {
		t.Errorf("ListMessages after a rewind to 0 and one new message; -want +got:\n%s", d)
	}
	if got := ids(); len(got) != 0 {
		t.Errorf("checkpoints after a rewind to 0 messages: %v, want none", got)
	}
	_, err = e.st.LatestCheckpoint(e.ctx, "s-1")
	wantIs(t, err, store.ErrNotFound, "LatestCheckpoint with none left")
}

package storetest

import (
	"errors"
	"testing"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/store"
)

// oneWriteCases are the cases of the optional interfaces that write a
// run's start or end in one write.
func oneWriteCases() []testCase {
	return []testCase{
		{"StartSession", testStartSession},
		{"EndRun", testEndRun},
	}
}

// testStartSession: a store.SessionStarter writes a new session, its first
// run's commit and the run's first chunks together, under fence 1; an
// existing session is refused with ErrExists and nothing is written; a
// commit that does not follow the fenced create is refused and creates
// nothing.
func testStartSession(t *testing.T, e *env) {
	ss, ok := e.st.(store.SessionStarter)
	if !ok {
		t.Skip("the store does not implement store.SessionStarter")
	}
	newSess := func(id string) *store.Session {
		return &store.Session{ID: id, AgentType: "assistant", Principal: "user-1", Status: helix.StatusCompleted}
	}
	first := func(id string) store.Commit {
		s := newSess(id)
		s.Status, s.CurrentRunID, s.RunCount, s.MessageCount = helix.StatusRunning, "run-1", 1, 1
		return store.Commit{Session: s, ExpectedVersion: 1, Fence: 1,
			Run:      &store.Run{ID: "run-1", Turn: 1, Status: helix.StatusRunning},
			Messages: []llm.Message{llm.UserMessage("hi")}}
	}
	start := []helix.Chunk{{Type: helix.ChunkRunStart, SessionID: "s-1", RunID: "run-1", Message: "hi"}}
	v, err := ss.StartSession(e.ctx, newSess("s-1"), first("s-1"), start)
	if err != nil || v != 2 {
		t.Fatalf("StartSession = %d, %v; want 2, nil", v, err)
	}
	if start[0].Sequence != 1 {
		t.Errorf("run_start got sequence %d, want 1 (set in place)", start[0].Sequence)
	}
	got := e.get(t, "s-1")
	if got.Status != helix.StatusRunning || got.CurrentRunID != "run-1" || got.Version != 2 || got.MessageCount != 1 || got.Principal != "user-1" {
		t.Errorf("stored session: status %s, run %q, version %d, messages %d, principal %q",
			got.Status, got.CurrentRunID, got.Version, got.MessageCount, got.Principal)
	}
	if run, err := e.st.GetRun(e.ctx, "s-1", "run-1"); err != nil || run.Status != helix.StatusRunning {
		t.Errorf("GetRun = %+v, %v", run, err)
	}
	if page, err := e.st.ListMessages(e.ctx, "s-1", 0, 0); err != nil || page.Total != 1 {
		t.Errorf("ListMessages = %+v, %v", page, err)
	}
	if info, err := e.st.StreamInfo(e.ctx, "s-1"); err != nil || info.Status != helix.StreamActive || info.LastSequence != 1 {
		t.Errorf("StreamInfo = %+v, %v; want active with the run_start at 1", info, err)
	}
	chunks, err := e.st.ReadChunks(e.ctx, "s-1", 0, 0)
	if err != nil || len(chunks) != 1 || chunks[0].Type != helix.ChunkRunStart || chunks[0].Sequence != 1 || chunks[0].Message != "hi" {
		t.Errorf("ReadChunks = %+v, %v; want the run_start at 1", chunks, err)
	}
	// The create issued fence 1: the next token is 2.
	if f, err := e.st.NextFence(e.ctx, "s-1"); err != nil || f != 2 {
		t.Errorf("NextFence after StartSession = %d, %v; want 2", f, err)
	}

	// An existing session: refused, nothing written.
	before := e.snapshot(t, "s-1")
	if _, err := ss.StartSession(e.ctx, newSess("s-1"), first("s-1"), []helix.Chunk{{Type: helix.ChunkRunStart}}); !errors.Is(err, store.ErrExists) {
		t.Errorf("StartSession of an existing session: %v, want ErrExists", err)
	}
	e.unchanged(t, "s-1", before, "a refused StartSession")

	// A commit that does not follow the fenced create (fence 2): refused,
	// and the session is not created either.
	bad := first("s-2")
	bad.Fence = 2
	if _, err := ss.StartSession(e.ctx, newSess("s-2"), bad, nil); err == nil {
		t.Error("StartSession with a commit of fence 2 succeeded")
	}
	if _, err := e.st.GetSession(e.ctx, "s-2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused StartSession created the session: %v", err)
	}
	// A commit the store refuses (its message count does not match):
	// nothing written either.
	bad = first("s-3")
	bad.Session.MessageCount = 5
	if _, err := ss.StartSession(e.ctx, newSess("s-3"), bad, []helix.Chunk{{Type: helix.ChunkRunStart}}); err == nil {
		t.Error("StartSession with a refused commit succeeded")
	}
	if _, err := e.st.GetSession(e.ctx, "s-3"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a StartSession whose commit was refused created the session: %v", err)
	}
}

// testEndRun: a store.RunEnder commits the run's end, appends its last
// chunks after those already appended, and sets the stream status, all
// together; a refused commit (a stale fence, a conflict) writes nothing
// and wraps the sentinel Commit would.
func testEndRun(t *testing.T, e *env) {
	re, ok := e.st.(store.RunEnder)
	if !ok {
		t.Skip("the store does not implement store.RunEnder")
	}
	e.newSession(t, "s-1")
	s := e.get(t, "s-1")
	fence, err := e.st.NextFence(e.ctx, "s-1")
	must(t, err, "NextFence")
	e.appendChunks(t, "s-1", helix.Chunk{Type: helix.ChunkRunStart}, helix.Chunk{Type: helix.ChunkStepEnd})
	end := func(status helix.Status, version int64, f uint64) store.Commit {
		c := *s
		c.Status, c.CurrentRunID, c.MessageCount = status, "run-1", 1
		return store.Commit{Session: &c, ExpectedVersion: version, Fence: f,
			Run: &store.Run{ID: "run-1", Turn: 1, Status: status}, Messages: []llm.Message{llm.UserMessage("hi")}}
	}
	last := []helix.Chunk{{Type: helix.ChunkRunEnd, SessionID: "s-1", Status: helix.StatusCompleted}}
	v, err := re.EndRun(e.ctx, end(helix.StatusCompleted, 1, fence), last, helix.StreamEnded)
	if err != nil || v != 2 {
		t.Fatalf("EndRun = %d, %v; want 2, nil", v, err)
	}
	if last[0].Sequence != 3 {
		t.Errorf("run_end got sequence %d, want 3 (after the two appended before)", last[0].Sequence)
	}
	if info, err := e.st.StreamInfo(e.ctx, "s-1"); err != nil || info.Status != helix.StreamEnded || info.LastSequence != 3 {
		t.Errorf("StreamInfo = %+v, %v; want ended at 3", info, err)
	}
	if got := e.get(t, "s-1"); got.Version != 2 || got.Status != helix.StatusCompleted || got.MessageCount != 1 {
		t.Errorf("GetSession: version %d, status %s, messages %d; want 2, completed, 1", got.Version, got.Status, got.MessageCount)
	}
	if run, err := e.st.GetRun(e.ctx, "s-1", "run-1"); err != nil || run.Status != helix.StatusCompleted {
		t.Errorf("GetRun = %+v, %v", run, err)
	}
	chunks, err := e.st.ReadChunks(e.ctx, "s-1", 0, 0)
	if err != nil || len(chunks) != 3 || chunks[2].Type != helix.ChunkRunEnd {
		t.Errorf("ReadChunks = %d chunks, %v; want the run_end third", len(chunks), err)
	}

	// Refused: nothing of the end is written.
	newer, err := e.st.NextFence(e.ctx, "s-1")
	must(t, err, "NextFence")
	must(t, e.st.SetStreamStatus(e.ctx, "s-1", newer, helix.StreamActive), "SetStreamStatus")
	before := e.snapshot(t, "s-1")
	for name, tc := range map[string]struct {
		c    store.Commit
		want error
	}{
		"stale fence": {end(helix.StatusFailed, 2, fence), store.ErrStaleFence},
		"conflict":    {end(helix.StatusFailed, 1, newer), store.ErrConflict},
	} {
		_, err := re.EndRun(e.ctx, tc.c, []helix.Chunk{{Type: helix.ChunkRunEnd, SessionID: "s-1", Status: helix.StatusFailed}}, helix.StreamFailed)
		wantIs(t, err, tc.want, "EndRun with a %s", name)
		e.unchanged(t, "s-1", before, "EndRun with a "+name)
	}
	if _, err := re.EndRun(e.ctx, end(helix.StatusFailed, 2, newer), nil, "bogus"); err == nil {
		t.Error("EndRun with an invalid stream status succeeded")
	}

	// The runtime starts a later run the same way: the commit, its
	// run_start and the stream active again, in one write.
	must(t, e.st.SetStreamStatus(e.ctx, "s-1", newer, helix.StreamEnded), "SetStreamStatus")
	next := *e.get(t, "s-1")
	next.Status, next.CurrentRunID, next.RunCount = helix.StatusRunning, "run-2", 2
	first := []helix.Chunk{{Type: helix.ChunkRunStart, SessionID: "s-1"}}
	v, err = re.EndRun(e.ctx, store.Commit{Session: &next, ExpectedVersion: 2, Fence: newer,
		Run: &store.Run{ID: "run-2", Turn: 2, Status: helix.StatusRunning, StartSequence: 3}}, first, helix.StreamActive)
	if err != nil || v != 3 || first[0].Sequence != 4 {
		t.Fatalf("EndRun starting a run = %d, %v, run_start at %d; want 3, nil, 4", v, err, first[0].Sequence)
	}
	if info, err := e.st.StreamInfo(e.ctx, "s-1"); err != nil || info.Status != helix.StreamActive || info.LastSequence != 4 {
		t.Errorf("StreamInfo = %+v, %v; want active at 4", info, err)
	}
	if got := e.get(t, "s-1"); got.Status != helix.StatusRunning || got.CurrentRunID != "run-2" {
		t.Errorf("GetSession: status %s, run %q; want running, run-2", got.Status, got.CurrentRunID)
	}
}

package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/store"
)

func sharedCases() []testCase {
	return []testCase{
		{"Durability", testDurability},
		{"SharedStoresSubscribe", testSharedSubscribe},
		{"SharedStoresAppend", testSharedAppend},
		{"SharedStoresFencingAndConflict", testSharedFencing},
	}
}

// shared returns e's harness as a SharedHarness, or skips the case.
func (e *env) shared(t *testing.T) SharedHarness {
	t.Helper()
	sh, ok := e.h.(SharedHarness)
	if !ok {
		t.Skipf("harness lacks capability SharedHarness (a second store over the same data): the backend keeps its data in the store value")
	}
	return sh
}

// another opens a second store over e's data, or skips the case.
func (e *env) another(t *testing.T) store.Store {
	t.Helper()
	st, err := e.shared(t).OpenAnother(e.ctx)
	must(t, err, "SharedHarness.OpenAnother")
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close of the second store: %v", err)
		}
	})
	return st
}

// testDurability writes one of every record kind, closes the store and
// opens another over the same data: everything must read back the same,
// and fencing tokens must keep increasing.
func testDurability(t *testing.T, e *env) {
	e.shared(t)
	e.create(t, fullSession(t, "s-1"))
	e.commit(t, "s-1", allPartsMessages(), fullRun("run-1"), fullCheckpoint(t, "cp-1", "run-1", 1))
	must(t, e.st.RequestControl(e.ctx, "s-1", store.ControlRequest{Kind: store.ControlInterrupt, Reason: "later", RequestedAt: base}), "RequestControl")
	fence, err := e.st.NextFence(e.ctx, "s-1")
	must(t, err, "NextFence")
	_, err = e.st.AppendChunks(e.ctx, "s-1", fence, allChunks(t, "s-1"))
	must(t, err, "AppendChunks")
	must(t, e.st.SetStreamStatus(e.ctx, "s-1", fence, helix.StreamPaused), "SetStreamStatus")
	before := e.snapshot(t, "s-1")
	must(t, e.st.Close(), "Close")

	st := e.another(t)
	reopened := &env{ctx: e.ctx, h: e.h, st: st, caps: e.caps}
	if d := diff(before, reopened.snapshot(t, "s-1")); d != "" {
		t.Errorf("data read back through a new store differs from what was written before Close; -before +after:\n%s", d)
	}
	next, err := st.NextFence(e.ctx, "s-1")
	must(t, err, "NextFence after reopening")
	if next <= fence {
		t.Errorf("NextFence after reopening = %d, want more than %d (tokens increase across restarts)", next, fence)
	}
	_, err = st.AppendChunks(e.ctx, "s-1", fence, deltas("s-1", int64(len(before.Chunks)), 1))
	wantIs(t, err, store.ErrStaleFence, "AppendChunks with the pre-restart token after a newer one was issued")
}

// testSharedSubscribe subscribes through one store while another appends:
// the subscriber sees every chunk once, in order, and ends when the writer
// ends the stream.
func testSharedSubscribe(t *testing.T, e *env) {
	other := e.another(t)
	e.newSession(t, "s-1")
	e.appendChunks(t, "s-1", deltas("s-1", 0, 5)...)
	ctx, cancel := context.WithTimeout(e.ctx, waitTimeout)
	defer cancel()
	sub := subscribeAsync(ctx, other, "s-1", 2)
	const total = 120
	for seq := int64(5); seq < total; seq += 5 {
		if _, err := e.st.AppendChunks(ctx, "s-1", 0, deltas("s-1", seq, 5)); err != nil {
			t.Fatalf("AppendChunks: %v", err)
		}
	}
	must(t, e.st.SetStreamStatus(ctx, "s-1", 0, helix.StreamEnded), "SetStreamStatus(ended)")
	r := await(t, sub, waitTimeout, "Subscribe through a second store")
	must(t, r.err, "Subscribe through a second store")
	if len(r.chunks) != total-2 {
		t.Errorf("Subscribe(after 2) through a second store got %d chunks, want %d", len(r.chunks), total-2)
	}
	checkSequences(t, r.chunks, 2, "Subscribe through a second store")
}

// testSharedAppend appends through two stores at once: sequences stay
// gap-free with no duplicate.
func testSharedAppend(t *testing.T, e *env) {
	other := e.another(t)
	e.newSession(t, "s-1")
	const writers, calls = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for i, st := range []store.Store{e.st, other, e.st, other} {
		wg.Go(func() {
			for c := range calls {
				batch := make([]helix.Chunk, 2)
				for j := range batch {
					batch[j] = helix.Chunk{Type: helix.ChunkCustom, SessionID: "s-1", RunID: fmt.Sprint("writer-", i), Step: c, EventName: "tick"}
				}
				last, err := st.AppendChunks(e.ctx, "s-1", 0, batch)
				if err != nil {
					errs <- err
					return
				}
				if batch[0].Sequence != last-1 || batch[1].Sequence != last {
					errs <- fmt.Errorf("writer %d: in-place sequences %d, %d for a call that returned %d", i, batch[0].Sequence, batch[1].Sequence, last)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("AppendChunks through two stores: %v", err)
	}
	got, err := other.ReadChunks(e.ctx, "s-1", 0, 0)
	must(t, err, "ReadChunks")
	if len(got) != writers*calls*2 {
		t.Fatalf("ReadChunks after appends through two stores: %d chunks, want %d", len(got), writers*calls*2)
	}
	checkSequences(t, got, 0, "ReadChunks after appends through two stores")
	for i := 0; i < len(got); i += 2 {
		if got[i].RunID != got[i+1].RunID || got[i].Step != got[i+1].Step {
			t.Errorf("chunks %d and %d come from different calls (%s/%d, %s/%d); one call's chunks must be contiguous",
				got[i].Sequence, got[i+1].Sequence, got[i].RunID, got[i].Step, got[i+1].RunID, got[i+1].Step)
			break
		}
	}
}

// testSharedFencing checks that tokens and versions are shared: a token
// issued through one store makes the older one stale through the other,
// and two writers that loaded the same version cannot both commit.
func testSharedFencing(t *testing.T, e *env) {
	other := e.another(t)
	e.newSession(t, "s-1")
	old, err := e.st.NextFence(e.ctx, "s-1")
	must(t, err, "NextFence")
	newer, err := other.NextFence(e.ctx, "s-1")
	must(t, err, "NextFence through the second store")
	if newer <= old {
		t.Fatalf("NextFence through the second store = %d, want more than %d", newer, old)
	}
	_, err = e.st.AppendChunks(e.ctx, "s-1", old, deltas("s-1", 0, 1))
	wantIs(t, err, store.ErrStaleFence, "AppendChunks with a token superseded through another store")
	if _, err := e.st.AppendChunks(e.ctx, "s-1", newer, deltas("s-1", 0, 1)); err != nil {
		t.Errorf("AppendChunks with the newest token (issued through another store): %v", err)
	}

	a := e.get(t, "s-1")
	b, err := other.GetSession(e.ctx, "s-1")
	must(t, err, "GetSession through the second store")
	a.StepCount, b.StepCount = 1, 2
	_, errA := e.st.Commit(e.ctx, store.Commit{Session: a, ExpectedVersion: a.Version})
	_, errB := other.Commit(e.ctx, store.Commit{Session: b, ExpectedVersion: b.Version})
	must(t, errA, "first Commit")
	wantIs(t, errB, store.ErrConflict, "second Commit of the same version through another store")
	if got := e.get(t, "s-1"); got.StepCount != 1 {
		t.Errorf("after a conflict the stored StepCount is %d, want 1 (the first writer's)", got.StepCount)
	}
}

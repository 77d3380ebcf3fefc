package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/store"
)

// ExpiryHarness is a [Harness] whose backend can expire idle sessions (a
// TTL). A harness that implements it runs the Expiry case; one that does
// not has it skipped.
type ExpiryHarness interface {
	Harness
	// MakeExpiringStore returns a fresh, empty store whose sessions are
	// deleted once they have not been written for ttl (as the backend
	// counts writes) and their stream has ended. The suite closes it.
	MakeExpiringStore(ctx context.Context, ttl time.Duration) (store.Store, error)
}

// expiryTTL is the TTL of the Expiry case's store: short, so that the case
// waits little, and long enough that creating and ending a session takes
// far less on a loaded machine.
const expiryTTL = time.Second

func expiryCases() []testCase {
	return []testCase{{"Expiry", testExpiry}}
}

// testExpiry: a session left alone (its stream ended) past the TTL is
// deleted with its stream, by the store itself, within waitTimeout.
func testExpiry(t *testing.T, e *env) {
	eh, ok := e.h.(ExpiryHarness)
	if !ok {
		t.Skipf("harness lacks capability ExpiryHarness (sessions that expire after a TTL)")
	}
	st, err := eh.MakeExpiringStore(e.ctx, expiryTTL)
	must(t, err, "ExpiryHarness.MakeExpiringStore")
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close of the expiring store: %v", err)
		}
	})
	s := &store.Session{ID: "s-exp", AgentType: "assistant", Principal: "user-1", Status: helix.StatusCompleted}
	must(t, st.CreateSession(e.ctx, s), "CreateSession")
	_, err = st.AppendChunks(e.ctx, "s-exp", 0, deltas("s-exp", 0, 3))
	must(t, err, "AppendChunks")
	must(t, st.SetStreamStatus(e.ctx, "s-exp", 0, helix.StreamEnded), "SetStreamStatus(ended)")
	if _, err := st.GetSession(e.ctx, "s-exp"); err != nil {
		t.Fatalf("GetSession right after creation, before the TTL of %v: %v", expiryTTL, err)
	}
	deadline := time.Now().Add(waitTimeout)
	for {
		_, err := st.GetSession(e.ctx, "s-exp")
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		must(t, err, "GetSession while waiting for expiry")
		if time.Now().After(deadline) {
			t.Fatalf("the session was still there %v after its last write, with a TTL of %v", waitTimeout, expiryTTL)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := st.ReadChunks(e.ctx, "s-exp", 0, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReadChunks of an expired session: %v, want ErrNotFound (its stream expires with it)", err)
	}
	// The id is free again: a new session under it starts afresh.
	must(t, st.CreateSession(e.ctx, &store.Session{ID: "s-exp", AgentType: "assistant", Principal: "user-1", Status: helix.StatusRunning}),
		"CreateSession with an expired session's id")
	if got, err := st.ReadChunks(e.ctx, "s-exp", 0, 0); err != nil || len(got) != 0 {
		t.Errorf("ReadChunks of a new session under an expired id: %d chunks, %v; want none", len(got), err)
	}
}

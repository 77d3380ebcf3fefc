package sqlitestore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/sqlitestore"
	"github.com/helix-agents/helix-go/store/storetest"
)

func TestMain(m *testing.M) {
	if crashChild() {
		return
	}
	goleak.VerifyTestMain(m)
}

// harness makes stores on database files in a temporary directory; stores
// opened by OpenAnother share the last file.
type harness struct {
	dir  string
	n    atomic.Int64
	last string
	// noRetention: stores keep every chunk (for the benchmarks).
	noRetention bool
}

func newHarness(_ context.Context, t testing.TB) (storetest.Harness, error) {
	return &harness{dir: t.TempDir()}, nil
}

// harnessMaxChunks is the retention of the conformance harness's stores:
// the least the suite allows (its other cases read back up to 600 chunks).
// The benchmarks' harness keeps every chunk (they read back 10,000).
const harnessMaxChunks = 1000

func (h *harness) options() sqlitestore.Options {
	if h.noRetention {
		return sqlitestore.Options{}
	}
	return sqlitestore.Options{MaxChunks: harnessMaxChunks}
}

func (h *harness) MakeStore(ctx context.Context) (store.Store, error) {
	h.last = filepath.Join(h.dir, fmt.Sprintf("helix-%d.db", h.n.Add(1)))
	return sqlitestore.Open(ctx, h.last, h.options())
}

func (h *harness) OpenAnother(ctx context.Context) (store.Store, error) {
	return sqlitestore.Open(ctx, h.last, h.options())
}

func (h *harness) Capabilities() storetest.Capabilities {
	if h.noRetention {
		return storetest.Capabilities{}
	}
	return storetest.Capabilities{Retention: true, RetentionMaxChunks: harnessMaxChunks}
}
func (h *harness) Close() {}

// MakeExpiringStore opens a store on a new file whose sessions expire after
// ttl.
func (h *harness) MakeExpiringStore(ctx context.Context, ttl time.Duration) (store.Store, error) {
	o := h.options()
	o.TTL = ttl
	return sqlitestore.Open(ctx, filepath.Join(h.dir, fmt.Sprintf("helix-%d.db", h.n.Add(1))), o)
}

var _ storetest.ExpiryHarness = (*harness)(nil)

func TestConformance(t *testing.T) { storetest.RunConformanceTests(t, newHarness) }

func BenchmarkStore(b *testing.B) {
	storetest.RunBenchmarks(b, func(_ context.Context, t testing.TB) (storetest.Harness, error) {
		return &harness{dir: t.TempDir(), noRetention: true}, nil
	})
}

// TestLockExclusive: a store locks its database exclusively only while
// no other store has it open; while it holds the lock, another store's
// Open waits; once released, both share it.
func TestLockExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "helix.db")
	open := func() *sqlitestore.Store {
		st, err := sqlitestore.Open(t.Context(), path, sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	a := open()
	b := open()
	// Both try at once, many times: a conversion that fails drops the
	// shared lock for a moment, which must never let the other succeed.
	var wins atomic.Int64
	var wg sync.WaitGroup
	for _, st := range []*sqlitestore.Store{a, b} {
		wg.Go(func() {
			for range 2000 {
				if release, ok := st.LockExclusive(); ok {
					wins.Add(1)
					release()
				}
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 0 {
		t.Fatalf("locked exclusively %d times while two stores have the file open", n)
	}
	b.Close()
	release, ok := a.LockExclusive()
	if !ok {
		t.Fatal("not locked exclusively though alone")
	}
	opened := make(chan *sqlitestore.Store, 1)
	go func() {
		st, err := sqlitestore.Open(context.Background(), path, sqlitestore.Options{})
		if err != nil {
			t.Error(err)
		}
		opened <- st
	}()
	select {
	case c := <-opened:
		if c != nil {
			c.Close()
		}
		t.Fatal("another store opened the file during the exclusive lock")
	case <-time.After(100 * time.Millisecond):
	}
	release()
	release() // idempotent
	c := <-opened
	if c == nil {
		t.FailNow()
	}
	defer c.Close()
	if _, ok := c.LockExclusive(); ok {
		t.Error("locked exclusively while the first store is open")
	}
	a.Close()
	mem, err := sqlitestore.Open(t.Context(), ":memory:", sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if _, ok := mem.LockExclusive(); ok {
		t.Error("an in-memory database locked exclusively")
	}
}

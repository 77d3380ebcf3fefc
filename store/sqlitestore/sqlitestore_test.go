package sqlitestore_test

import (
	"context"
	"fmt"
	"path/filepath"
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

// TestSole: the first store to open a database file is its sole user; a
// second one, while the first is open, is not; once every store has closed
// it, the next is sole again.
func TestSole(t *testing.T) {
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
	if !a.Sole() || b.Sole() {
		t.Errorf("first store sole %v, second %v; want true, false", a.Sole(), b.Sole())
	}
	a.Close()
	c := open()
	if c.Sole() {
		t.Error("a store opened while another is open is sole")
	}
	b.Close()
	c.Close()
	d := open()
	defer d.Close()
	if !d.Sole() {
		t.Error("a store opened after every other closed is not sole")
	}
	mem, err := sqlitestore.Open(t.Context(), ":memory:", sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if mem.Sole() {
		t.Error("an in-memory database is sole")
	}
}

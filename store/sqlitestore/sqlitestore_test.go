package sqlitestore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

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
}

func newHarness(_ context.Context, t testing.TB) (storetest.Harness, error) {
	return &harness{dir: t.TempDir()}, nil
}

// harnessMaxChunks is the retention the harness's stores have: above the
// 10,000 chunks the benchmarks read back.
const harnessMaxChunks = 12000

func (h *harness) MakeStore(ctx context.Context) (store.Store, error) {
	h.last = filepath.Join(h.dir, fmt.Sprintf("helix-%d.db", h.n.Add(1)))
	return sqlitestore.Open(ctx, h.last, sqlitestore.Options{MaxChunks: harnessMaxChunks})
}

func (h *harness) OpenAnother(ctx context.Context) (store.Store, error) {
	return sqlitestore.Open(ctx, h.last, sqlitestore.Options{MaxChunks: harnessMaxChunks})
}

func (h *harness) Capabilities() storetest.Capabilities {
	return storetest.Capabilities{Retention: true, RetentionMaxChunks: harnessMaxChunks}
}
func (h *harness) Close() {}

func TestConformance(t *testing.T) { storetest.RunConformanceTests(t, newHarness) }

func BenchmarkStore(b *testing.B) { storetest.RunBenchmarks(b, newHarness) }

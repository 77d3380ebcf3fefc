package memstore_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/memstore"
	"github.com/helix-agents/helix-go/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// harness makes in-memory stores for the conformance suite.
type harness struct{}

func newHarness(context.Context, testing.TB) (storetest.Harness, error) { return harness{}, nil }

func (harness) MakeStore(context.Context) (store.Store, error) { return memstore.New(), nil }
func (harness) Capabilities() storetest.Capabilities           { return storetest.Capabilities{} }
func (harness) Close()                                         {}

func TestConformance(t *testing.T) { storetest.RunConformanceTests(t, newHarness) }

func BenchmarkStore(b *testing.B) { storetest.RunBenchmarks(b, newHarness) }

// TestAllocs guards the allocation budget the agent loop relies on.
func TestAllocs(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	defer st.Close()
	if err := st.CreateSession(ctx, &store.Session{ID: "s", AgentType: "a"}); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if c, err := st.GetControl(ctx, "s"); c != nil || err != nil {
			t.Fatal(c, err)
		}
	}); n != 0 {
		t.Errorf("GetControl without a request: %v allocs, want 0", n)
	}
	chunks := make([]helix.Chunk, 4)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := st.AppendChunks(ctx, "s", 0, chunks); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Errorf("AppendChunks of 4 chunks: %v allocs, want at most 1", n)
	}
}

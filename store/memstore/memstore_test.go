package memstore_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

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

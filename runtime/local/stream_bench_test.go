//go:build unix

package local_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm/scripted"
	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/store/sqlitestore"
)

// BenchmarkStreamSQLite is the server's streaming path without HTTP: runs
// of a scripted model streaming 50 words 2 ms apart on SQLite (every chunk
// persisted), each followed by a subscriber that encodes every chunk as
// the SSE writer does, 64 runs at a time. Its figure is the process's CPU
// time (user+system) per chunk, which the wall clock of a benchmark that
// mostly waits cannot show, with the allocations per chunk.
func BenchmarkStreamSQLite(b *testing.B) {
	const words = 50
	text := strings.TrimSpace(strings.Repeat("word ", words))
	a := helix.MustNewAgent(helix.AgentConfig{Name: "bench",
		Model: scripted.Turns(scripted.Turn{Text: text, ChunkDelayMs: 2})})
	st, err := sqlitestore.Open(context.Background(), filepath.Join(b.TempDir(), "helix.db"), sqlitestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	rt, err := local.New(local.Options{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(context.Background())
	ctx := context.Background()
	var (
		next   atomic.Int64
		chunks atomic.Int64
	)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := cpuTime()
	b.SetParallelism(32) // × GOMAXPROCS goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 0, 512)
		for pb.Next() {
			id := fmt.Sprint("b", next.Add(1))
			h, err := rt.Execute(ctx, a, helix.Input{Message: "go"}, local.WithSessionID(id))
			if err != nil {
				b.Error(err)
				return
			}
			n := int64(0)
			for c, err := range st.Subscribe(ctx, id, 0) {
				if err != nil {
					b.Error(err)
					return
				}
				if buf, err = c.AppendJSON(buf[:0]); err != nil {
					b.Error(err)
					return
				}
				n++
			}
			if res, err := h.Result(ctx); err != nil || res.Status != helix.StatusCompleted {
				b.Errorf("run %s: %v, %v", id, res, err)
				return
			}
			chunks.Add(n)
		}
	})
	b.StopTimer()
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&ms1)
	n := float64(chunks.Load())
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/chunk")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/chunk")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/n, "B/chunk")
	b.ReportMetric(0, "ns/op")
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

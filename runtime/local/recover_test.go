package local_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/store/sqlitestore"
)

// crashRig runs an agent whose tool blocks while hang is set, on a SQLite
// file, and "crashes" runtimes: their store is closed under them, so
// nothing more of their runs is stored, as when a process is killed.
type crashRig struct {
	t       *testing.T
	path    string
	hang    atomic.Bool
	entered chan struct{} // a call of the tool began
	agent   *helix.Agent
}

func newCrashRig(t *testing.T) *crashRig {
	c := &crashRig{t: t, path: filepath.Join(t.TempDir(), "helix.db"), entered: make(chan struct{}, 8)}
	c.hang.Store(true)
	type in struct{}
	tool := helix.NewTool("work", "works", func(ctx context.Context, _ *helix.ToolContext, _ in) (string, error) {
		c.entered <- struct{}{}
		for c.hang.Load() && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		return "worked", nil
	})
	c.agent = agentWith(t, helix.AgentConfig{Name: "worker", Tools: []*helix.Tool{tool},
		Model: script(t, `{"turns":[{"toolCalls":[{"name":"work","arguments":{}}]},{"text":"done"}]}`)})
	return c
}

// open returns a runtime on a new store of the file, and its log.
func (c *crashRig) open() (*local.Runtime, *sqlitestore.Store, *strings.Builder) {
	c.t.Helper()
	st, err := sqlitestore.Open(c.t.Context(), c.path, sqlitestore.Options{})
	if err != nil {
		c.t.Fatal(err)
	}
	var log strings.Builder
	rt, err := local.New(local.Options{Store: st, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		c.t.Fatal(err)
	}
	rt.Agents().Register(c.agent)
	return rt, st, &log
}

// crash waits until the tool runs, then kills the runtime's store under
// it and closes the runtime.
func (c *crashRig) crash(rt *local.Runtime, st *sqlitestore.Store) {
	c.t.Helper()
	select {
	case <-c.entered:
	case <-time.After(10 * time.Second):
		c.t.Fatal("the tool never ran")
	}
	st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = rt.Close(ctx)
}

// TestRecoverCrashed: a run a crash cut off is ended as interrupted
// (reason crash) and resumed from its last checkpoint by the next runtime
// that alone uses the database; one that is cut off again right after is
// left interrupted (no crash loop); a runtime that shares the database
// with another store recovers nothing.
func TestRecoverCrashed(t *testing.T) {
	c := newCrashRig(t)
	rt, st, _ := c.open()
	if _, err := rt.Execute(t.Context(), c.agent, helix.Input{Message: "go"}, local.WithSessionID("s1")); err != nil {
		t.Fatal(err)
	}
	c.crash(rt, st)

	// Another store has the file open: nothing is recovered.
	rt2, st2, _ := c.open()
	other, err := sqlitestore.Open(t.Context(), c.path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ids, err := rt2.RecoverCrashed(t.Context()); err != nil || len(ids) != 0 {
		t.Fatalf("RecoverCrashed while another store is open: %v, %v", ids, err)
	}
	other.Close()
	// Alone: the run is re-driven, and cut off again.
	ids, err := rt2.RecoverCrashed(t.Context())
	if err != nil || len(ids) != 1 || ids[0] != "s1" {
		t.Fatalf("RecoverCrashed = %v, %v; want [s1]", ids, err)
	}
	c.crash(rt2, st2)

	// Cut off twice in a row: left interrupted.
	rt3, st3, log := c.open()
	if ids, err := rt3.RecoverCrashed(t.Context()); err != nil || len(ids) != 0 {
		t.Fatalf("RecoverCrashed after a second crash = %v, %v; want nothing re-driven", ids, err)
	}
	if !strings.Contains(log.String(), "left interrupted") {
		t.Errorf("no warning in the log:\n%s", log.String())
	}
	sess, err := st3.GetSession(t.Context(), "s1")
	if err != nil || sess.Status != helix.StatusInterrupted {
		t.Fatalf("session after the second crash: %+v, %v", sess, err)
	}
	// A client resumes it; the tool no longer hangs.
	c.hang.Store(false)
	h, err := rt3.Resume(t.Context(), "s1", local.ResumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.Result(t.Context())
	if err != nil || res.Status != helix.StatusCompleted {
		t.Fatalf("resumed: %+v, %v", res, err)
	}
	var ends []string
	for ch, err := range st3.Subscribe(t.Context(), "s1", 0) {
		if err != nil {
			t.Fatal(err)
		}
		if ch.Type == helix.ChunkRunEnd {
			ends = append(ends, string(ch.Status)+"/"+ch.CompletionReason)
		}
	}
	if want := "interrupted/crash interrupted/crash completed/stop"; strings.Join(ends, " ") != want {
		t.Errorf("run ends %v, want %s", ends, want)
	}
	if err := rt3.Close(t.Context()); err != nil {
		t.Error(err)
	}
	st3.Close()
}

// TestRetryCutOffParent: Retry of a parent a crash cut off while its
// sub-agent ran re-drives the child too (it is running, and no one runs
// it), and both complete.
func TestRetryCutOffParent(t *testing.T) {
	c := newCrashRig(t)
	type out struct {
		Answer string `json:"answer"`
	}
	m := script(t, `{"agents":{
		"lead":{"turns":[{"toolCalls":[{"id":"call_1","name":"worker","arguments":{"message":"work"}}]},{"text":"lead done"}]},
		"worker":{"turns":[{"toolCalls":[{"name":"work","arguments":{}}]},{"toolCalls":[{"name":"__finish__","arguments":{"answer":"ok"}}]}]}}}`)
	worker := agentWith(t, helix.AgentConfig{Name: "worker", Description: "works", Tools: c.agent.Tools(), Output: helix.OutputOf[out](), Model: m})
	lead := agentWith(t, helix.AgentConfig{Name: "lead", Tools: []*helix.Tool{helix.SubAgentTool(worker)}, Model: m})
	rt, st, _ := c.open()
	rt.Agents().Register(lead)
	if _, err := rt.Execute(t.Context(), lead, helix.Input{Message: "go"}, local.WithSessionID("s1")); err != nil {
		t.Fatal(err)
	}
	c.crash(rt, st)

	c.hang.Store(false)
	rt2, st2, _ := c.open()
	defer st2.Close()
	rt2.Agents().Register(lead)
	h, err := rt2.Retry(t.Context(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.Result(t.Context())
	if err != nil || res.Status != helix.StatusCompleted {
		t.Fatalf("retried parent: %+v, %v", res, err)
	}
	child, err := st2.GetSession(t.Context(), "s1.call_1")
	if err != nil || child.Status != helix.StatusCompleted {
		t.Fatalf("child: %+v, %v", child, err)
	}
	if err := rt2.Close(t.Context()); err != nil {
		t.Error(err)
	}
}

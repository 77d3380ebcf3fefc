package local_test

import (
	"errors"
	"slices"
	"testing"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/store"
)

// TestRegenerate: the last answer is dropped with what it did to the
// history, the checkpoints and the state, and the last user message is
// answered again, once.
func TestRegenerate(t *testing.T) {
	e := newEnv(t)
	rec := &recordingModel{Model: script(t, `{"turns":[
		{"toolCalls":[{"name":"note","arguments":{"text":"alpha"}}]}, {"text":"A1"},
		{"toolCalls":[{"name":"note","arguments":{"text":"beta"}}]}, {"text":"A2"}]}`)}
	a := agentWith(t, helix.AgentConfig{Name: "notes", Tools: []*helix.Tool{noteTool(0)}, State: helix.StateOf[Notes](), Model: rec})
	wantStatus(t, e.execute(a, "first", local.WithPrincipal("alice")), helix.StatusCompleted)
	wantStatus(t, e.execute(a, "second", local.WithPrincipal("alice")), helix.StatusCompleted)
	before, err := e.st.ListCheckpoints(t.Context(), "s1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}

	h, err := e.rt.Regenerate(t.Context(), "s1", local.WithPrincipal("alice"))
	if err != nil {
		t.Fatalf("Regenerate: %v", err)
	}
	res := e.wait(h)
	wantStatus(t, res, helix.StatusCompleted)
	// The model saw the history up to the last user message, without the
	// answer it replaces.
	if got := texts(rec.reqs[4].Messages); !slices.Equal(got, []string{"first", "", "noted: alpha", "A1", "second"}) {
		t.Errorf("regenerating request's history = %q, want it to end with the last user message", got)
	}
	page, err := e.rt.Messages(t.Context(), "s1", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := texts(page.Items); !slices.Equal(got, []string{"first", "", "noted: alpha", "A1", "second", "", "noted: beta", "A2"}) {
		t.Errorf("history after regenerating = %q, want the second user message once, then the new answer", got)
	}
	if n := e.notes("s1"); !slices.Equal(n.Items, []string{"alpha", "beta"}) {
		t.Errorf("state after regenerating = %v, want [alpha beta]: the dropped answer's note is undone", n.Items)
	}
	sess, err := e.st.GetSession(t.Context(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	if sess.MessageCount != 8 || sess.RunCount != 3 {
		t.Errorf("session counts %d messages and %d runs, want 8 and 3", sess.MessageCount, sess.RunCount)
	}
	after, err := e.st.ListCheckpoints(t.Context(), "s1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Each turn wrote two checkpoints: the second turn's went, the new
	// turn's came.
	if before.Total != 4 || after.Total != 4 || after.Items[1].ID != before.Items[1].ID || after.Items[2].ID == before.Items[2].ID {
		t.Errorf("checkpoints before %s, after %s: want the first turn's kept and the second's replaced", cpIDs(before.Items), cpIDs(after.Items))
	}
	for _, cp := range after.Items[2:] {
		if cp.RunID != res.RunID {
			t.Errorf("checkpoint %s is of run %s, want the regenerating run %s", cp.ID, cp.RunID, res.RunID)
		}
	}
}

// TestRegenerateRefusals: what cannot be regenerated, and who may not.
func TestRegenerateRefusals(t *testing.T) {
	e := newEnv(t)
	a := agentWith(t, helix.AgentConfig{Name: "files", Tools: []*helix.Tool{deleteTool},
		Model: script(t, `{"turns":[{"toolCalls":[{"name":"delete_file","arguments":{"path":"a.txt"}}]},{"text":"Deleted."}]}`)})
	wantStatus(t, e.execute(a, "delete a.txt", local.WithPrincipal("alice")), helix.StatusSuspendedApproval)
	for _, s := range []*store.Session{
		{ID: "child", AgentType: "files", Principal: "alice", ParentSessionID: "s1", Status: helix.StatusCompleted},
		{ID: "empty", AgentType: "files", Principal: "alice", Status: helix.StatusCompleted},
	} {
		if err := e.st.CreateSession(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, session, principal string
		want                     error
	}{
		{"suspended", "s1", "alice", helix.ErrAlreadyRunning},
		{"another principal's", "s1", "bob", helix.ErrSessionNotFound},
		{"unknown", "nope", "alice", helix.ErrSessionNotFound},
		{"a sub-agent's", "child", "alice", helix.ErrNotResumable},
		{"no user message", "empty", "alice", helix.ErrInvalidInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := e.rt.Regenerate(t.Context(), tc.session, local.WithPrincipal(tc.principal))
			if !errors.Is(err, tc.want) {
				t.Errorf("Regenerate = %v, %v; want an error wrapping %v", h, err, tc.want)
			}
		})
	}
	page, err := e.rt.Messages(t.Context(), "s1", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 2 {
		t.Errorf("a refused Regenerate changed the history: %d messages, want 2", page.Total)
	}
}

func texts(msgs []llm.Message) []string {
	out := make([]string, len(msgs))
	for i := range msgs {
		out[i] = msgs[i].Text()
		if r := msgs[i].Parts; out[i] == "" && len(r) > 0 && r[0].ToolResult != nil {
			out[i] = r[0].ToolResult.Text()
		}
	}
	return out
}

func cpIDs(cps []*store.Checkpoint) []string {
	out := make([]string, len(cps))
	for i, cp := range cps {
		out[i] = cp.ID
	}
	return out
}

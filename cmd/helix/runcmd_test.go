package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// approvalScript asks for a calculation, then a file write (which needs
// approval), then answers.
const approvalScript = `{"turns":[
 {"text":"Let me calculate.","toolCalls":[{"name":"calculator","arguments":{"expression":"6*7"}}]},
 {"text":"Now I save it.","toolCalls":[{"name":"write_file","arguments":{"path":"note.txt","content":"forty-two"}}]},
 {"text":"All done."}
]}`

// runFixture is a directory with a helix.yaml whose assistant may write
// files, a scripted model and a SQLite store.
type runFixture struct {
	dir, config, model, store, workspace string
}

func newRunFixture(t *testing.T) *runFixture {
	t.Helper()
	dir := t.TempDir()
	f := &runFixture{
		dir:       dir,
		workspace: filepath.Join(dir, "ws"),
		store:     "sqlite://" + filepath.ToSlash(filepath.Join(dir, "helix.db")),
	}
	f.config = writeFile(t, filepath.Join(dir, "helix.yaml"), `workspace: ./ws
agents:
  - name: assistant
    description: test agent
    systemPrompt: You help.
    tools: [calculator, write_file]
`)
	f.model = "scripted:" + writeFile(t, filepath.Join(dir, "script.json"), approvalScript)
	return f
}

func (f *runFixture) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	all := append([]string{"run", "--config", f.config, "--store", f.store, "--model", f.model}, args...)
	return runHelix(t, nil, stdin, all...)
}

var sessionRE = regexp.MustCompile(`session (\S+)\n`)

func sessionOf(t *testing.T, stdout string) string {
	t.Helper()
	m := sessionRE.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no session id in output:\n%s", stdout)
	}
	return m[1]
}

func TestRunApproved(t *testing.T) {
	f := newRunFixture(t)
	res := f.run(t, "y\n", "assistant", "Compute", "and save")
	if res.code != 0 {
		t.Fatalf("helix run = exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	for _, want := range []string{
		"Let me calculate.", `→ calculator({"expression":"6*7"})`, `← calculator: {"result":42}`,
		"[step 2]", "Now I save it.", `write_file({"path":"note.txt","content":"forty-two"}) needs approval`,
		"✓ approved write_file", `← write_file:`, "All done.", "completed · 3 step(s)", "tokens: ", "tool calls: 2",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, res.stdout)
		}
	}
	if !strings.Contains(res.stderr, "Approve write_file(") || !strings.Contains(res.stderr, "[y/N]") {
		t.Errorf("stderr lacks the approval prompt:\n%s", res.stderr)
	}
	if !strings.Contains(res.stderr, "Created the workspace directory") {
		t.Errorf("stderr does not say the workspace was created:\n%s", res.stderr)
	}
	got, err := os.ReadFile(filepath.Join(f.workspace, "note.txt"))
	if err != nil || string(got) != "forty-two" {
		t.Errorf("note.txt = %q, %v; want the approved write", got, err)
	}
	id := sessionOf(t, res.stdout)

	t.Run("sessions ls", func(t *testing.T) {
		res := runHelix(t, nil, "", "sessions", "ls", "--store", f.store)
		if res.code != 0 {
			t.Fatalf("sessions ls = %d: %s", res.code, res.stderr)
		}
		lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "MESSAGES") {
			t.Fatalf("sessions ls:\n%s", res.stdout)
		}
		if fields := strings.Fields(lines[1]); len(fields) < 5 || fields[0] != id || fields[1] != "assistant" ||
			fields[2] != "completed" || fields[3] != "3" {
			t.Errorf("sessions ls row = %q, want %s assistant completed 3 …", lines[1], id)
		}
		res = runHelix(t, nil, "", "sessions", "ls", "--store", f.store, "--status", "failed")
		if res.code != 0 || strings.Contains(res.stdout, id) || !strings.Contains(res.stdout, "No sessions") {
			t.Errorf("sessions ls --status failed = %d:\n%s", res.code, res.stdout)
		}
		res = runHelix(t, map[string]string{"HELIX_STORE": f.store}, "", "sessions", "ls", "--agent", "assistant")
		if res.code != 0 || !strings.Contains(res.stdout, id) {
			t.Errorf("sessions ls with HELIX_STORE = %d:\n%s%s", res.code, res.stdout, res.stderr)
		}
	})
	t.Run("sessions show", func(t *testing.T) {
		res := runHelix(t, nil, "", "sessions", "show", id, "--store", f.store)
		if res.code != 0 {
			t.Fatalf("sessions show = %d: %s", res.code, res.stderr)
		}
		var sum sessionSummary
		if err := json.Unmarshal([]byte(res.stdout), &sum); err != nil {
			t.Fatalf("sessions show output is not JSON: %v\n%s", err, res.stdout)
		}
		if sum.SessionID != id || sum.Status != "completed" || sum.AgentType != "assistant" || sum.Principal != localPrincipal ||
			sum.StepCount != 3 || sum.RunCount != 2 || len(sum.Pending) != 0 || sum.Usage.TotalTokens == 0 {
			t.Errorf("sessions show = %+v", sum)
		}
		res = runHelix(t, nil, "", "sessions", "show", "--store", f.store, "nope")
		if res.code != 1 || !strings.Contains(res.stderr, `session "nope" not found`) {
			t.Errorf("sessions show nope = %d, %q", res.code, res.stderr)
		}
	})
	t.Run("sessions messages", func(t *testing.T) {
		res := runHelix(t, nil, "", "sessions", "messages", id, "--store", f.store)
		if res.code != 0 {
			t.Fatalf("sessions messages = %d: %s", res.code, res.stderr)
		}
		for _, want := range []string{
			"[0] user: Compute and save", "[1] assistant: Let me calculate.", `[1] assistant → calculator({"expression":"6*7"})`,
			`[2] tool ← calculator: {"result":42}`, "write_file", "assistant: All done.",
		} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("sessions messages lacks %q:\n%s", want, res.stdout)
			}
		}
		res = runHelix(t, nil, "", "sessions", "messages", id, "--store", f.store, "--offset", "1", "--limit", "1")
		if res.code != 0 || strings.Contains(res.stdout, "[0]") || !strings.Contains(res.stdout, "[1] assistant") ||
			strings.Contains(res.stdout, "[2]") || !strings.Contains(res.stdout, "more with --offset 2") {
			t.Errorf("sessions messages --offset 1 --limit 1 = %d:\n%s", res.code, res.stdout)
		}
	})
	t.Run("continue the session", func(t *testing.T) {
		// The script has no fourth turn: the run fails, cleanly.
		res := f.run(t, "", "--session", id, "assistant", "more")
		if res.code != 1 || !strings.Contains(res.stderr, "the run failed") {
			t.Errorf("helix run --session = %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
		}
		if !strings.Contains(res.stdout, "session "+id) {
			t.Errorf("helix run --session %s ran in another session:\n%s", id, res.stdout)
		}
	})
}

func TestRunDenied(t *testing.T) {
	for _, answer := range []string{"n\n", "", "whatever\n"} {
		f := newRunFixture(t)
		res := f.run(t, answer, "assistant", "Compute and save")
		if res.code != 0 {
			t.Fatalf("helix run (answer %q) = exit %d\nstdout:\n%s\nstderr:\n%s", answer, res.code, res.stdout, res.stderr)
		}
		for _, want := range []string{"✗ denied write_file", "✗ write_file: denied", "All done."} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("answer %q: stdout lacks %q:\n%s", answer, want, res.stdout)
			}
		}
		if _, err := os.Stat(filepath.Join(f.workspace, "note.txt")); !os.IsNotExist(err) {
			t.Errorf("answer %q: note.txt exists (err %v); want no write after a denial", answer, err)
		}
	}
}

func TestRunMemoryStoreDefaultConfig(t *testing.T) {
	dir := t.TempDir()
	model := "scripted:" + writeFile(t, filepath.Join(dir, "s.json"), textScript)
	res := runHelix(t, map[string]string{"HELIX_MODEL": model, "HELIX_STORE": "memory://"}, "", "run", "assistant", "hi")
	if res.code != 0 || !strings.Contains(res.stdout, "Hello from the scripted model.") || !strings.Contains(res.stdout, "completed") {
		t.Errorf("helix run (env) = %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	if strings.Contains(res.stdout, "\x1b[") {
		t.Errorf("output to a non-terminal has escape codes:\n%q", res.stdout)
	}
}

func TestRunFailedRun(t *testing.T) {
	dir := t.TempDir()
	model := "scripted:" + writeFile(t, filepath.Join(dir, "s.json"), `{"turns":[{"error":{"status":400,"message":"bad request"}},{"text":"never"}]}`)
	res := runHelix(t, nil, "", "run", "--store=memory://", "--model", model, "assistant", "hi")
	if res.code != 1 || !strings.Contains(res.stderr, "helix: the run failed") || !strings.Contains(res.stdout, "failed") {
		t.Errorf("helix run (model error) = %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
}

func TestSessionsMissingSQLiteFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "none.db")
	res := runHelix(t, nil, "", "sessions", "ls", "--store", "sqlite://"+filepath.ToSlash(p))
	if res.code != 1 || !strings.Contains(res.stderr, "no store at") {
		t.Errorf("sessions ls (no db) = %d, %q", res.code, res.stderr)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("sessions ls created %s", p)
	}
}

// cancelOn cancels a context once the output contains a marker.
type cancelOn struct {
	syncBuffer
	marker string
	cancel context.CancelFunc
}

func (c *cancelOn) Write(p []byte) (int, error) {
	n, err := c.syncBuffer.Write(p)
	if strings.Contains(c.String(), c.marker) {
		c.cancel()
	}
	return n, err
}

func TestRunInterrupted(t *testing.T) {
	dir := t.TempDir()
	store := "sqlite://" + filepath.ToSlash(filepath.Join(dir, "h.db"))
	model := "scripted:" + writeFile(t, filepath.Join(dir, "s.json"),
		`{"turns":[{"text":"one two three four five six seven eight nine ten","chunkDelayMs":50},{"text":"continued"}]}`)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &cancelOn{marker: "three", cancel: cancel}
	var stderr syncBuffer
	code := run(ctx, []string{"run", "--store", store, "--model", model, "assistant", "count"}, mapEnv(nil), strings.NewReader(""), out, &stderr)
	if code != 130 || !strings.Contains(stderr.String(), "interrupted; continue with: helix run --session ") {
		t.Fatalf("helix run interrupted = %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), stderr.String())
	}
	if strings.Contains(out.String(), "ten") {
		t.Errorf("the run went on after the interrupt:\n%s", out.String())
	}
	id := regexp.MustCompile(`--session (\S+)`).FindStringSubmatch(stderr.String())[1]
	res := runHelix(t, nil, "", "run", "--store", store, "--model", model, "--session", id, "assistant", "go on")
	if res.code != 0 || !strings.Contains(res.stdout, "continued") {
		t.Errorf("helix run --session after an interrupt = %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	res = runHelix(t, nil, "", "sessions", "messages", id, "--store", store)
	if !strings.Contains(res.stdout, "(interrupted)") || !strings.Contains(res.stdout, "[3] assistant: continued") {
		t.Errorf("sessions messages after an interrupt:\n%s", res.stdout)
	}
}

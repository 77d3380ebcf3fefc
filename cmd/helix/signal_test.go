//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary be the helix command: with
// HELIX_TEST_MAIN=1 it runs main with the process's arguments (its signal
// handling included), so that a test can start helix serve as a process
// and send it SIGTERM.
func TestMain(m *testing.M) {
	if os.Getenv("HELIX_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// streamClient bounds every stream a test reads: a stall fails the test
// instead of hanging it.
var streamClient = &http.Client{Timeout: 60 * time.Second}

// helixProcess is helix serve running as a child process.
type helixProcess struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

func startProcess(t *testing.T, dir string, args ...string) *helixProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HELIX_TEST_MAIN=1")
	// A test binary that dies takes its helix serve with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &helixProcess{cmd: cmd, done: make(chan error, 1)}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		io.Copy(io.Discard, out)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	select {
	case p.url = <-urls:
		return p
	case err := <-p.done:
		p.done <- err
		t.Fatalf("helix serve exited (%v) before listening; stderr:\n%s", err, stderr.String())
		return nil
	case <-time.After(30 * time.Second):
		t.Fatalf("helix serve is not listening; stderr:\n%s", stderr.String())
		return nil
	}
}

// slowWords is n words, "w1 w2 …", for a scripted turn.
func slowWords(n int) string {
	words := make([]string, n)
	for i := range words {
		words[i] = fmt.Sprintf("w%d", i+1)
	}
	return strings.Join(words, " ")
}

// startRun starts a run of agent on p and returns its session id.
func (p *helixProcess) startRun(t *testing.T, agent string) string {
	t.Helper()
	res, err := streamClient.Post(p.url+"/start", "application/json", strings.NewReader(`{"agentType":"`+agent+`","message":"go"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var started struct {
		SessionID string `json:"sessionId"`
	}
	if err := json.NewDecoder(res.Body).Decode(&started); err != nil || res.StatusCode != 200 {
		t.Fatalf("start: %d %v", res.StatusCode, err)
	}
	return started.SessionID
}

// sseReader reads an SSE stream line by line, keeping what it read and
// the last event id.
type sseReader struct {
	rd     *bufio.Reader
	seen   strings.Builder
	lastID string
}

// openSSE opens the session's stream on p.
func (p *helixProcess) openSSE(t *testing.T, id string) *sseReader {
	t.Helper()
	res, err := streamClient.Get(p.url + "/sse?sessionId=" + id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return &sseReader{rd: bufio.NewReader(res.Body)}
}

// line reads one line.
func (r *sseReader) line() error {
	line, err := r.rd.ReadString('\n')
	r.seen.WriteString(line)
	if id, ok := strings.CutPrefix(strings.TrimSpace(line), "id: "); ok {
		r.lastID = id
	}
	return err
}

// until reads until what it read contains s.
func (r *sseReader) until(t *testing.T, s string) {
	t.Helper()
	for !strings.Contains(r.seen.String(), s) {
		if err := r.line(); err != nil {
			t.Fatalf("stream ended before %s: %v\n%s", s, err, r.seen.String())
		}
	}
}

// resume reads the session's stream on p from the event after lastID to
// its end.
func (p *helixProcess) resume(t *testing.T, id, lastID string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", p.url+"/sse?sessionId="+id, nil)
	req.Header.Set("Last-Event-ID", lastID)
	res, err := streamClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// kill kills p (SIGKILL) and waits for it.
func (p *helixProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.done <- <-p.done // for the cleanup
}

// TestSIGTERMDrains: SIGTERM makes helix serve tell an open stream to
// reconnect (SSE retry:, no end event) and exit with status 0; the next
// helix serve on the same store resumes the run, and the client resuming
// from the last id it saw gets the rest of the run, then its end.
func TestSIGTERMDrains(t *testing.T) {
	dir := t.TempDir()
	script := writeFile(t, filepath.Join(dir, "slow.json"),
		// The resumed run asks again: the partial reply is history by then.
		fmt.Sprintf(`{"turns":[{"text":%q,"chunkDelayMs":50},{"text":"resumed."}]}`, slowWords(60)))
	args := []string{"--store", "sqlite://" + filepath.Join(dir, "helix.db"), "--allow-unauthenticated", "--model", "scripted:" + script}
	p := startProcess(t, dir, args...)
	id := p.startRun(t, "assistant")
	stream := p.openSSE(t, id)
	stream.until(t, `"delta":" w3"`)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for stream.line() == nil { // until the server closes the stream
	}
	if seen := stream.seen.String(); !strings.Contains(seen, "\nretry: ") || strings.Contains(seen, "event: end") {
		t.Fatalf("stream at SIGTERM: want a retry hint and no end event:\n%s", seen)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("helix serve exited with %v after SIGTERM, want status 0", err)
		}
		p.done <- nil // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("helix serve did not exit within 30s of SIGTERM")
	}

	// The next process resumes the run; the client resumes its stream.
	q := startProcess(t, dir, args...)
	if b := q.resume(t, id, stream.lastID); !strings.Contains(b, `"resumed":true`) || !strings.Contains(b, `"delta":"resumed."`) ||
		!strings.HasSuffix(b, "event: end\ndata: {\"status\":\"completed\"}\n\n") {
		t.Fatalf("stream after the restart, from id %s:\n%s", stream.lastID, b)
	}
}

// TestCrashRecovery: a run whose helix serve was killed (SIGKILL: no
// shutdown at all) is re-driven from its last checkpoint by the next helix
// serve on the same SQLite file, which alone uses it; the client resuming
// from the last id it saw gets the new run, then the end.
func TestCrashRecovery(t *testing.T) {
	dir := t.TempDir()
	script := writeFile(t, filepath.Join(dir, "slow.json"), fmt.Sprintf(`{"turns":[{"text":%q,"chunkDelayMs":30}]}`, slowWords(40)))
	args := []string{"--store", "sqlite://" + filepath.Join(dir, "helix.db"), "--allow-unauthenticated", "--model", "scripted:" + script}
	p := startProcess(t, dir, args...)
	id := p.startRun(t, "assistant")
	stream := p.openSSE(t, id)
	stream.until(t, `"delta":" w3"`)
	p.kill(t)

	// Without the recovery the stream would wait for ever (streamClient's
	// timeout ends it).
	q := startProcess(t, dir, args...)
	if b := q.resume(t, id, stream.lastID); !strings.Contains(b, `"resumed":true`) || !strings.Contains(b, `"delta":" w40"`) ||
		!strings.HasSuffix(b, "event: end\ndata: {\"status\":\"completed\"}\n\n") {
		t.Fatalf("stream after the crash, from id %s:\n%s", stream.lastID, b)
	}
}

// TestCrashRecoverySubAgent: a crash while a sub-agent streams: the next
// process re-drives the parent, which re-drives the child from its own
// last checkpoint; both end completed.
func TestCrashRecoverySubAgent(t *testing.T) {
	dir := t.TempDir()
	script := writeFile(t, filepath.Join(dir, "script.json"), fmt.Sprintf(`{"agents":{
		"lead":{"turns":[{"toolCalls":[{"id":"call_1","name":"helper","arguments":{"message":"help"}}]},{"text":"lead done"}]},
		"helper":{"turns":[{"text":%q,"chunkDelayMs":30,"toolCalls":[{"name":"__finish__","arguments":{"answer":"ok"}}]}]}}}`, slowWords(40)))
	cfg := writeFile(t, filepath.Join(dir, "helix.yaml"), "agents:\n  - name: lead\n    subAgents: [helper]\n  - name: helper\n    description: Helps\n"+
		"    output: { type: object, properties: { answer: { type: string } }, required: [answer] }\n")
	args := []string{"--store", "sqlite://" + filepath.Join(dir, "helix.db"), "--allow-unauthenticated", "--model", "scripted:" + script, "--config", cfg}
	p := startProcess(t, dir, args...)
	id := p.startRun(t, "lead")
	p.openSSE(t, id).until(t, `"delta":" w3"`)
	p.kill(t)

	q := startProcess(t, dir, args...)
	status := func(id string) string {
		res, err := streamClient.Get(q.url + "/status?sessionId=" + id)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var st struct {
			Status string `json:"status"`
		}
		_ = json.NewDecoder(res.Body).Decode(&st)
		return st.Status
	}
	deadline := time.Now().Add(30 * time.Second)
	for status(id) != "completed" || status(id+".call_1") != "completed" {
		if time.Now().After(deadline) {
			t.Fatalf("after the crash: lead %s, helper %s", status(id), status(id+".call_1"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

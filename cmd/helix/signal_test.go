//go:build linux

package main

import (
	"bufio"
	"context"
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

// TestSIGTERMDrains: SIGTERM makes helix serve tell an open stream to
// reconnect (SSE retry:, no end event) and exit with status 0; the next
// helix serve on the same store resumes the run, and the client resuming
// from the last id it saw gets the rest of the run, then its end.
func TestSIGTERMDrains(t *testing.T) {
	dir := t.TempDir()
	words := make([]string, 60)
	for i := range words {
		words[i] = fmt.Sprintf("w%d", i+1)
	}
	script := writeFile(t, filepath.Join(dir, "slow.json"),
		// The resumed run asks again: the partial reply is history by then.
		fmt.Sprintf(`{"turns":[{"text":%q,"chunkDelayMs":50},{"text":"resumed."}]}`, strings.Join(words, " ")))
	args := []string{"--store", "sqlite://" + filepath.Join(dir, "helix.db"), "--allow-unauthenticated", "--model", "scripted:" + script}
	p := startProcess(t, dir, args...)

	res, err := http.Post(p.url+"/start", "application/json", strings.NewReader(`{"agentType":"assistant","message":"go"}`))
	if err != nil {
		t.Fatal(err)
	}
	var started struct {
		SessionID string `json:"sessionId"`
	}
	if err := json.NewDecoder(res.Body).Decode(&started); err != nil || res.StatusCode != 200 {
		t.Fatalf("start: %d %v", res.StatusCode, err)
	}
	res.Body.Close()
	stream, err := streamClient.Get(p.url + "/sse?sessionId=" + started.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	rd := bufio.NewReader(stream.Body)
	var lastID string
	var body strings.Builder
	readLine := func() (string, error) {
		line, err := rd.ReadString('\n')
		body.WriteString(line)
		if id, ok := strings.CutPrefix(strings.TrimSpace(line), "id: "); ok {
			lastID = id
		}
		return line, err
	}
	for !strings.Contains(body.String(), `"delta":" w3"`) {
		if _, err := readLine(); err != nil {
			t.Fatalf("stream before SIGTERM: %v\n%s", err, body.String())
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := readLine(); err != nil {
			break // the server closed the stream
		}
	}
	if !strings.Contains(body.String(), "\nretry: ") || strings.Contains(body.String(), "event: end") {
		t.Fatalf("stream at SIGTERM: want a retry hint and no end event:\n%s", body.String())
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
	req, _ := http.NewRequest("GET", q.url+"/sse?sessionId="+started.SessionID, nil)
	req.Header.Set("Last-Event-ID", lastID)
	rest, err := streamClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rest.Body.Close()
	b, err := io.ReadAll(rest.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"resumed":true`) || !strings.Contains(string(b), `"delta":"resumed."`) || !strings.HasSuffix(string(b), "event: end\ndata: {\"status\":\"completed\"}\n\n") {
		t.Fatalf("stream after the restart, from id %s:\n%s", lastID, b)
	}
}

// TestCrashRecovery: a run whose helix serve was killed (SIGKILL: no
// shutdown at all) is re-driven from its last checkpoint by the next helix
// serve on the same SQLite file, which alone uses it; the client resuming
// from the last id it saw gets the new run, then the end.
func TestCrashRecovery(t *testing.T) {
	dir := t.TempDir()
	words := make([]string, 40)
	for i := range words {
		words[i] = fmt.Sprintf("w%d", i+1)
	}
	script := writeFile(t, filepath.Join(dir, "slow.json"),
		fmt.Sprintf(`{"turns":[{"text":%q,"chunkDelayMs":30}]}`, strings.Join(words, " ")))
	args := []string{"--store", "sqlite://" + filepath.Join(dir, "helix.db"), "--allow-unauthenticated", "--model", "scripted:" + script}
	p := startProcess(t, dir, args...)
	res, err := http.Post(p.url+"/start", "application/json", strings.NewReader(`{"agentType":"assistant","message":"go"}`))
	if err != nil {
		t.Fatal(err)
	}
	var started struct {
		SessionID string `json:"sessionId"`
	}
	if err := json.NewDecoder(res.Body).Decode(&started); err != nil || res.StatusCode != 200 {
		t.Fatalf("start: %d %v", res.StatusCode, err)
	}
	res.Body.Close()
	stream, err := streamClient.Get(p.url + "/sse?sessionId=" + started.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(stream.Body)
	var lastID, seen string
	for !strings.Contains(seen, `"delta":" w3"`) {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("stream before the kill: %v\n%s", err, seen)
		}
		seen += line
		if id, ok := strings.CutPrefix(strings.TrimSpace(line), "id: "); ok {
			lastID = id
		}
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	stream.Body.Close()
	<-p.done
	p.done <- nil

	q := startProcess(t, dir, args...)
	// Without the recovery the stream would wait for ever.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", q.url+"/sse?sessionId="+started.SessionID, nil)
	req.Header.Set("Last-Event-ID", lastID)
	rest, err := streamClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rest.Body.Close()
	b, _ := io.ReadAll(rest.Body)
	if !strings.Contains(string(b), `"resumed":true`) || !strings.Contains(string(b), `"delta":" w40"`) ||
		!strings.HasSuffix(string(b), "event: end\ndata: {\"status\":\"completed\"}\n\n") {
		t.Fatalf("stream after the crash, from id %s:\n%s", lastID, b)
	}
}

// TestCrashRecoverySubAgent: a crash while a sub-agent streams: the next
// process re-drives the parent, which re-drives the child from its own
// last checkpoint; both end completed.
func TestCrashRecoverySubAgent(t *testing.T) {
	dir := t.TempDir()
	words := make([]string, 40)
	for i := range words {
		words[i] = fmt.Sprintf("w%d", i+1)
	}
	script := writeFile(t, filepath.Join(dir, "script.json"), fmt.Sprintf(`{"agents":{
		"lead":{"turns":[{"toolCalls":[{"id":"call_1","name":"helper","arguments":{"message":"help"}}]},{"text":"lead done"}]},
		"helper":{"turns":[{"text":%q,"chunkDelayMs":30,"toolCalls":[{"name":"__finish__","arguments":{"answer":"ok"}}]}]}}}`, strings.Join(words, " ")))
	cfg := writeFile(t, filepath.Join(dir, "helix.yaml"), "agents:\n  - name: lead\n    subAgents: [helper]\n  - name: helper\n    description: Helps\n"+
		"    output: { type: object, properties: { answer: { type: string } }, required: [answer] }\n")
	args := []string{"--store", "sqlite://" + filepath.Join(dir, "helix.db"), "--allow-unauthenticated", "--model", "scripted:" + script, "--config", cfg}
	p := startProcess(t, dir, args...)
	res, err := http.Post(p.url+"/start", "application/json", strings.NewReader(`{"agentType":"lead","message":"go"}`))
	if err != nil {
		t.Fatal(err)
	}
	var started struct {
		SessionID string `json:"sessionId"`
	}
	if err := json.NewDecoder(res.Body).Decode(&started); err != nil || res.StatusCode != 200 {
		t.Fatalf("start: %d %v", res.StatusCode, err)
	}
	res.Body.Close()
	stream, err := streamClient.Get(p.url + "/sse?sessionId=" + started.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(stream.Body)
	var seen string
	for !strings.Contains(seen, `"delta":" w3"`) {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("stream before the kill: %v\n%s", err, seen)
		}
		seen += line
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	stream.Body.Close()
	<-p.done
	p.done <- nil

	q := startProcess(t, dir, args...)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
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
	for status(started.SessionID) != "completed" || status(started.SessionID+".call_1") != "completed" {
		if ctx.Err() != nil {
			t.Fatalf("after the crash: lead %s, helper %s", status(started.SessionID), status(started.SessionID+".call_1"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

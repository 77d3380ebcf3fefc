package sqlitestore_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/sqlitestore"
)

// The crash test runs this test binary again as a child process (selected
// by crashEnv) that writes to a database as fast as it can and prints a line
// for every write the store acknowledged; the parent kills it with SIGKILL
// at a random moment, then checks the file.
const crashEnv = "HELIX_SQLITE_CRASH_CHILD"

// crashStreams is the number of sessions the child appends chunks to, each
// from its own goroutine (so appends are group-committed together).
const crashStreams = 3

// crashChild runs the child's writer loop if this process is the child. It
// never returns in the child: the parent kills it.
func crashChild() bool {
	path := os.Getenv(crashEnv)
	if path == "" {
		return false
	}
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open:", err)
		os.Exit(3)
	}
	var out sync.Mutex
	ack := func(format string, args ...any) {
		out.Lock()
		defer out.Unlock()
		// One write(2) per line, unbuffered: once printed, the parent
		// holds the acknowledgement even if we die the next instant.
		fmt.Fprintf(os.Stdout, format+"\n", args...)
	}
	ids := []string{"msgs"}
	for i := range crashStreams {
		ids = append(ids, fmt.Sprint("stream-", i))
	}
	for _, id := range ids {
		err := st.CreateSession(ctx, &store.Session{ID: id, AgentType: "crash", Status: helix.StatusRunning})
		if err != nil && !errors.Is(err, store.ErrExists) {
			fmt.Fprintln(os.Stderr, "child: create:", err)
			os.Exit(3)
		}
	}
	for _, id := range ids[1:] {
		go func() {
			for n := 0; ; n++ {
				batch := make([]helix.Chunk, 1+n%4)
				for i := range batch {
					batch[i] = helix.Chunk{Type: helix.ChunkTextDelta, SessionID: id, RunID: "crash", Step: 1, Delta: "payload " + strings.Repeat("x", n%50)}
				}
				last, err := st.AppendChunks(ctx, id, 0, batch)
				if err != nil {
					fmt.Fprintln(os.Stderr, "child: append:", err)
					os.Exit(3)
				}
				ack("chunk %s %d", id, last)
			}
		}()
	}
	for {
		s, err := st.GetSession(ctx, "msgs")
		if err != nil {
			fmt.Fprintln(os.Stderr, "child: get:", err)
			os.Exit(3)
		}
		msgs := make([]llm.Message, 1+s.MessageCount%3)
		for i := range msgs {
			msgs[i] = llm.UserMessage("m" + strconv.Itoa(s.MessageCount+i))
		}
		s.MessageCount += len(msgs)
		s.StepCount++
		if _, err := st.Commit(ctx, store.Commit{Session: s, ExpectedVersion: s.Version, Messages: msgs}); err != nil {
			fmt.Fprintln(os.Stderr, "child: commit:", err)
			os.Exit(3)
		}
		ack("msgs %d", s.MessageCount)
	}
}

// TestCrashConsistency kills a writing process with SIGKILL at random
// moments and checks after each kill that the database is intact, that
// every acknowledged write is present, and that sequences and message
// indices are gap-free with no torn record. HELIX_CRASH_ROUNDS sets the
// number of kills (default 30).
func TestCrashConsistency(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test starts child processes; skipped with -short")
	}
	rounds := 30
	if v := os.Getenv("HELIX_CRASH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("HELIX_CRASH_ROUNDS=%q: want a positive number", v)
		}
		rounds = n
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	acked := map[string]int64{} // session → highest acknowledged sequence / message count
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for round := range rounds {
		kill := time.Duration(5+rng.IntN(150)) * time.Millisecond
		n := runChild(t, path, kill, acked)
		t.Logf("round %d: killed after %v, %d acknowledgements", round, kill, n)
		verifyCrash(t, path, acked)
		if t.Failed() {
			t.Fatalf("round %d: database inconsistent after SIGKILL", round)
		}
	}
	if acked["msgs"] == 0 || acked["stream-0"] == 0 {
		t.Errorf("the child acknowledged no writes (%v): the test checked nothing", acked)
	}
}

// runChild starts the child, kills it kill after its first acknowledgement
// and folds its acknowledgements into acked. It returns how many it read.
func runChild(t *testing.T, path string, kill time.Duration, acked map[string]int64) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	count := 0
	record := func(line string) {
		f := strings.Fields(line)
		var id, v string
		switch {
		case len(f) == 3 && f[0] == "chunk":
			id, v = f[1], f[2]
		case len(f) == 2 && f[0] == "msgs":
			id, v = "msgs", f[1]
		default:
			t.Errorf("child printed %q", line)
			return
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Errorf("child printed %q", line)
			return
		}
		count++
		acked[id] = max(acked[id], n)
	}
	var timer <-chan time.Time
	deadline := time.After(30 * time.Second)
loop:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				break loop
			}
			record(line)
			if timer == nil {
				timer = time.After(kill)
			}
		case <-timer:
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("SIGKILL: %v", err)
			}
			timer = nil
			for line := range lines { // what it printed before dying
				record(line)
			}
			break loop
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("child made no progress in 30 s; stderr:\n%s", stderr.String())
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, not by our SIGKILL; stderr:\n%s", err, stderr.String())
	}
	return count
}

// verifyCrash checks the database file after a kill.
func verifyCrash(t *testing.T, path string, acked map[string]int64) {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("PRAGMA integrity_check = %q, %v; want ok", check, err)
	}
	db.Close()

	st, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		t.Fatalf("reopening after SIGKILL: %v", err)
	}
	defer st.Close()
	for id, want := range acked {
		if id == "msgs" {
			s, err := st.GetSession(ctx, id)
			if err != nil {
				t.Fatalf("GetSession(%s): %v", id, err)
			}
			if int64(s.MessageCount) < want {
				t.Errorf("session %s: %d messages stored, but %d were acknowledged", id, s.MessageCount, want)
			}
			page, err := st.ListMessages(ctx, id, 0, 0)
			if err != nil {
				t.Fatalf("ListMessages(%s): %v (a torn record?)", id, err)
			}
			if len(page.Items) != s.MessageCount || page.Total != s.MessageCount {
				t.Errorf("session %s: %d message rows for a message count of %d", id, len(page.Items), s.MessageCount)
			}
			for i, m := range page.Items {
				if got := m.Text(); got != "m"+strconv.Itoa(i) {
					t.Errorf("session %s: message %d is %q, want %q (gap, duplicate or torn record)", id, i, got, "m"+strconv.Itoa(i))
					break
				}
			}
			continue
		}
		chunks, err := st.ReadChunks(ctx, id, 0, 0)
		if err != nil {
			t.Fatalf("ReadChunks(%s): %v (a torn record?)", id, err)
		}
		info, err := st.StreamInfo(ctx, id)
		if err != nil {
			t.Fatalf("StreamInfo(%s): %v", id, err)
		}
		if info.LastSequence < want || int64(len(chunks)) != info.LastSequence {
			t.Errorf("stream %s: last sequence %d with %d chunks stored; %d acknowledged", id, info.LastSequence, len(chunks), want)
		}
		for i, c := range chunks {
			if c.Sequence != int64(i+1) || c.Type != helix.ChunkTextDelta || c.SessionID != id || !strings.HasPrefix(c.Delta, "payload ") {
				t.Errorf("stream %s: chunk %d = %+v: want sequence %d, a whole text_delta of this session", id, i, c, i+1)
				break
			}
		}
	}
}

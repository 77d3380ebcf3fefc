// Package storetest is the conformance suite for [store.Store] backends.
//
// A backend's test file provides a [HarnessMaker] and calls
// [RunConformanceTests] (and, in a benchmark, [RunBenchmarks]):
//
//	func TestConformance(t *testing.T) {
//		storetest.RunConformanceTests(t, newHarness)
//	}
//
// Every case runs as its own subtest, on a harness and a fresh, empty store
// of its own, with t.Context(); the store and the harness are closed by
// t.Cleanup. A case that needs a capability the harness lacks (see
// [Capabilities]) is skipped with a message naming the capability. Failure
// messages name the method and the rule of the contract that broke.
//
// Beyond the documentation of package store, the suite pins down a few
// details every backend must agree on:
//
//   - ListSessions orders by CreatedAt descending and, for equal CreatedAt,
//     by ID descending.
//   - CreateSession sets a zero CreatedAt (and UpdatedAt) to a non-zero time.
//   - After Commit, UpdatedAt is not zero; the suite does not otherwise fix
//     who sets it. Timestamps round-trip at millisecond precision.
//   - JSON payloads (state, output, tool arguments…) are compared as JSON
//     values, so a backend may re-encode them; nil and empty slices and maps
//     are equivalent.
//   - Chunks are compared on the fields their type carries on the wire
//     (see helix.Chunk.MarshalJSON), so a backend may store their JSON form.
//   - Runs and checkpoints read back carry the committed session's ID.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/store"
)

// Capabilities describes optional behaviour of the stores a harness makes.
// The zero value is a backend with no optional capability.
type Capabilities struct {
	// Retention reports that the stores made by the harness cap each stream
	// (by chunk count and/or age) and drop its oldest chunks. The suite tests
	// the chunk-count half: with Retention set, RetentionMaxChunks must be
	// the per-stream cap the harness configured.
	Retention bool
	// RetentionMaxChunks is the number of chunks a stream keeps when
	// Retention is set. It must be at least 1, and at least 1000 for the
	// other cases, which append up to 600 chunks and read them all back.
	// (The benchmarks read back streams of 10000 chunks: a harness made for
	// RunBenchmarks should cap above that.)
	RetentionMaxChunks int
}

// Harness makes stores of one backend for the suite.
type Harness interface {
	// MakeStore returns a fresh, empty store. The suite closes it.
	MakeStore(ctx context.Context) (store.Store, error)
	// Capabilities reports the optional behaviour of the stores made.
	Capabilities() Capabilities
	// Close releases what the harness holds (servers, temporary files). It
	// is called after every store it made has been closed.
	Close()
}

// SharedHarness is a [Harness] whose stores keep their data outside the
// store value (in a file or a server), so that several stores can work on
// the same data, at once or one after the other, as several processes or a
// restarted process would. A harness that implements it runs the
// Durability and SharedStores cases; one that does not has them skipped.
type SharedHarness interface {
	Harness
	// OpenAnother returns a new store over the data of the store MakeStore
	// returned last. The suite closes it.
	OpenAnother(ctx context.Context) (store.Store, error)
}

// HarnessMaker returns a new harness. It is called once per conformance
// case and once per benchmark, with that case's context and its *testing.T
// or *testing.B (hence testing.TB, so that one maker serves both
// [RunConformanceTests] and [RunBenchmarks]).
type HarnessMaker func(ctx context.Context, t testing.TB) (Harness, error)

// env is what a case works with.
type env struct {
	ctx  context.Context
	h    Harness
	st   store.Store
	caps Capabilities
}

// testCase is one conformance case.
type testCase struct {
	name string
	run  func(t *testing.T, e *env)
}

// cases lists every conformance case, in the order they run.
func cases() []testCase {
	var all []testCase
	all = append(all, sessionCases()...)
	all = append(all, commitCases()...)
	all = append(all, oneWriteCases()...)
	all = append(all, streamCases()...)
	all = append(all, subscribeCases()...)
	all = append(all, listCases()...)
	all = append(all, miscCases()...)
	all = append(all, sharedCases()...)
	all = append(all, expiryCases()...)
	return all
}

// RunConformanceTests runs the conformance suite against the backend made by
// newHarness. Each case is a subtest named after the behaviour it checks, so
// a single case can be run with -run=TestConformance/Name.
func RunConformanceTests(t *testing.T, newHarness HarnessMaker) {
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newEnv(t, newHarness))
		})
	}
}

// newEnv makes a harness and a fresh store for one case and registers their
// cleanup.
func newEnv(t testing.TB, newHarness HarnessMaker) *env {
	t.Helper()
	ctx := t.Context()
	h, err := newHarness(ctx, t)
	if err != nil {
		t.Fatalf("making harness: %v", err)
	}
	t.Cleanup(h.Close)
	st, err := h.MakeStore(ctx)
	if err != nil {
		t.Fatalf("Harness.MakeStore: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &env{ctx: ctx, h: h, st: st, caps: h.Capabilities()}
}

// base is the reference time of the suite's records: UTC, millisecond
// precision, so that every backend can round-trip it.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

// Timeouts. waitTimeout bounds waits for things that must happen; prompt is
// how soon a cancelled or closed call must return.
const (
	waitTimeout = 10 * time.Second
	prompt      = 2 * time.Second
)

// cmpOpts compare records as the contract requires: JSON payloads
// (json.RawMessage, including patch values) as JSON values, nil and empty
// slices and maps alike, times with time.Time.Equal.
var cmpOpts = cmp.Options{
	cmpopts.EquateEmpty(),
	cmp.FilterValues(func(a, b json.RawMessage) bool { return len(a) > 0 || len(b) > 0 },
		cmp.Comparer(jsonEqual)),
}

// sessionOpts is the extra option of diff for sessions read back after a
// Commit, whose UpdatedAt the backend may set.
var sessionOpts = cmpopts.IgnoreFields(store.Session{}, "UpdatedAt")

// jsonEqual reports whether a and b hold the same JSON value (or, if either
// is not valid JSON, the same bytes).
func jsonEqual(a, b json.RawMessage) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return string(a) == string(b)
	}
	return reflect.DeepEqual(va, vb)
}

// diff returns a cmp.Diff of want and got under the suite's options.
func diff(want, got any, extra ...cmp.Option) string {
	return cmp.Diff(want, got, append(cmp.Options{cmpOpts}, extra...)...)
}

// wantIs reports a failure unless errors.Is(err, target).
func wantIs(t testing.TB, err, target error, format string, args ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want one wrapping %v", fmt.Sprintf(format, args...), err, target)
	}
}

// must fails the test now if err is not nil.
func must(t testing.TB, err error, format string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
}

// create stores s, failing the test on error.
func (e *env) create(t testing.TB, s *store.Session) {
	t.Helper()
	must(t, e.st.CreateSession(e.ctx, s), "CreateSession(%q)", s.ID)
}

// get loads a session, failing the test on error.
func (e *env) get(t testing.TB, id string) *store.Session {
	t.Helper()
	s, err := e.st.GetSession(e.ctx, id)
	must(t, err, "GetSession(%q)", id)
	return s
}

// newSession creates and returns a minimal session.
func (e *env) newSession(t testing.TB, id string) *store.Session {
	t.Helper()
	s := &store.Session{ID: id, AgentType: "assistant", Principal: "user-1",
		Status: helix.StatusRunning, CreatedAt: base, UpdatedAt: base}
	e.create(t, s)
	return e.get(t, id)
}

// commit commits msgs (with the matching MessageCount) and the optional
// run and checkpoint on top of the stored session, failing on error. It
// returns the session as stored afterwards.
func (e *env) commit(t testing.TB, id string, msgs []llm.Message, run *store.Run, cp *store.Checkpoint) *store.Session {
	t.Helper()
	s := e.get(t, id)
	s.MessageCount += len(msgs)
	v, err := e.st.Commit(e.ctx, store.Commit{Session: s, ExpectedVersion: s.Version, Messages: msgs, Run: run, Checkpoint: cp})
	must(t, err, "Commit(%q, version %d)", id, s.Version)
	if v != s.Version+1 {
		t.Fatalf("Commit(%q): new version %d, want %d (ExpectedVersion+1)", id, v, s.Version+1)
	}
	return e.get(t, id)
}

// appendChunks appends chunks, failing on error.
func (e *env) appendChunks(t testing.TB, id string, chunks ...helix.Chunk) int64 {
	t.Helper()
	last, err := e.st.AppendChunks(e.ctx, id, 0, chunks)
	must(t, err, "AppendChunks(%q, %d chunks)", id, len(chunks))
	return last
}

// deltas returns n text_delta chunks whose Delta is the sequence they will
// get when appended to a stream whose last sequence is after.
func deltas(id string, after int64, n int) []helix.Chunk {
	out := make([]helix.Chunk, n)
	for i := range out {
		out[i] = helix.Chunk{Type: helix.ChunkTextDelta, SessionID: id, RunID: "run-1",
			AgentType: "assistant", Step: 1, Timestamp: base.UnixMilli(),
			Delta: fmt.Sprint(after + int64(i) + 1)}
	}
	return out
}

// collect drains a subscription.
func collect(seq iter.Seq2[helix.Chunk, error]) ([]helix.Chunk, error) {
	var out []helix.Chunk
	for c, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
	return out, nil
}

// subResult is the outcome of a subscription run in a goroutine.
type subResult struct {
	chunks []helix.Chunk
	err    error
}

// subscribeAsync drains Subscribe(ctx, id, after) in a goroutine.
func subscribeAsync(ctx context.Context, st store.Store, id string, after int64) <-chan subResult {
	ch := make(chan subResult, 1)
	go func() {
		chunks, err := collect(st.Subscribe(ctx, id, after))
		ch <- subResult{chunks, err}
	}()
	return ch
}

// await waits for a subscription's result for at most d.
func await(t testing.TB, ch <-chan subResult, d time.Duration, what string) subResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(d):
		t.Fatalf("%s: Subscribe did not end within %v", what, d)
		return subResult{}
	}
}

// checkSequences reports a failure unless chunks have sequences
// from+1, from+2, … from+len(chunks) and each text_delta's Delta names its
// sequence (see deltas).
func checkSequences(t testing.TB, chunks []helix.Chunk, from int64, what string) {
	t.Helper()
	for i, c := range chunks {
		want := from + int64(i) + 1
		if c.Sequence != want {
			t.Errorf("%s: chunk %d has sequence %d, want %d (gap-free, no duplicate, in order)", what, i, c.Sequence, want)
			return
		}
		if c.Type == helix.ChunkTextDelta && c.Delta != fmt.Sprint(want) {
			t.Errorf("%s: chunk with sequence %d holds the payload of chunk %q", what, want, c.Delta)
			return
		}
	}
}

// snapshot is everything stored for one session, to check that a failed
// write wrote nothing.
type snapshot struct {
	Session     *store.Session
	Messages    store.Page[llm.Message]
	Runs        []*store.Run
	Checkpoints store.Page[*store.Checkpoint]
	Control     *store.ControlRequest
	Stream      store.StreamInfo
	Chunks      []helix.Chunk
}

func (e *env) snapshot(t testing.TB, id string) snapshot {
	t.Helper()
	var s snapshot
	var err error
	s.Session = e.get(t, id)
	s.Messages, err = e.st.ListMessages(e.ctx, id, 0, 0)
	must(t, err, "ListMessages(%q)", id)
	s.Runs, err = e.st.ListRuns(e.ctx, id)
	must(t, err, "ListRuns(%q)", id)
	s.Checkpoints, err = e.st.ListCheckpoints(e.ctx, id, 0, 0)
	must(t, err, "ListCheckpoints(%q)", id)
	s.Control, err = e.st.GetControl(e.ctx, id)
	must(t, err, "GetControl(%q)", id)
	s.Stream, err = e.st.StreamInfo(e.ctx, id)
	must(t, err, "StreamInfo(%q)", id)
	s.Chunks, err = e.st.ReadChunks(e.ctx, id, 0, 0)
	must(t, err, "ReadChunks(%q)", id)
	return s
}

// unchanged reports a failure if the session's stored data differs from
// before.
func (e *env) unchanged(t testing.TB, id string, before snapshot, what string) {
	t.Helper()
	if d := diff(before, e.snapshot(t, id)); d != "" {
		t.Errorf("%s wrote something although it failed (all-or-nothing broken); -before +after:\n%s", what, d)
	}
}

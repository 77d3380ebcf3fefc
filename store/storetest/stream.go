package storetest

import (
	"fmt"
	"sync"
	"testing"

	helix "github.com/helix-agents/helix-go"
)

func streamCases() []testCase {
	return []testCase{
		{"ChunkRoundTrip", testChunkRoundTrip},
		{"ReadChunksAfter", testReadChunksAfter},
		{"StreamStatus", testStreamStatus},
		{"ConcurrentAppends", testConcurrentAppends},
		{"Retention", testRetention},
	}
}

func testChunkRoundTrip(t *testing.T, e *env) {
	e.newSession(t, "s-1")
	in := allChunks(t, "s-1")
	first, second := in[:5], in[5:]
	last, err := e.st.AppendChunks(e.ctx, "s-1", 0, first)
	must(t, err, "AppendChunks")
	if last != 5 {
		t.Errorf("AppendChunks of 5 chunks to an empty stream returned %d, want 5", last)
	}
	last, err = e.st.AppendChunks(e.ctx, "s-1", 0, second)
	must(t, err, "AppendChunks")
	if want := int64(len(in)); last != want {
		t.Errorf("AppendChunks returned last sequence %d, want %d", last, want)
	}
	want := allChunks(t, "s-1")
	for i := range want {
		want[i].Sequence = int64(i + 1)
	}
	if d := diff(want, in); d != "" {
		t.Errorf("AppendChunks must set each chunk's Sequence in place (1, 2, …) and change nothing else; -want +got:\n%s", d)
	}
	got, err := e.st.ReadChunks(e.ctx, "s-1", 0, 0)
	must(t, err, "ReadChunks")
	if d := diff(want, got); d != "" {
		t.Errorf("ReadChunks(after 0, all): chunks not preserved; -want +got:\n%s", d)
	}
	info, err := e.st.StreamInfo(e.ctx, "s-1")
	must(t, err, "StreamInfo")
	if info.LastSequence != int64(len(in)) || info.FirstSequence != 1 || info.Status != helix.StreamActive {
		t.Errorf("StreamInfo = %+v, want active with first sequence 1 and last sequence %d", info, len(in))
	}
	last, err = e.st.AppendChunks(e.ctx, "s-1", 0, nil)
	if err != nil || last != int64(len(in)) {
		t.Errorf("AppendChunks of no chunks = %d, %v; want the current last sequence %d, nil", last, err, len(in))
	}
}

func testReadChunksAfter(t *testing.T, e *env) {
	e.newSession(t, "s-1")
	e.appendChunks(t, "s-1", deltas("s-1", 0, 20)...)
	for _, tc := range []struct {
		after      int64
		limit      int
		from, want int64 // expect sequences from+1 … from+want
	}{
		{0, 0, 0, 20},
		{0, -1, 0, 20},
		{5, 0, 5, 15},
		{5, 3, 5, 3},
		{19, 10, 19, 1},
		{20, 0, 20, 0},
		{25, 5, 25, 0},
		{0, 20, 0, 20},
		{0, 100, 0, 20},
		{-3, 2, 0, 2},
	} {
		got, err := e.st.ReadChunks(e.ctx, "s-1", tc.after, tc.limit)
		what := fmt.Sprintf("ReadChunks(after %d, limit %d)", tc.after, tc.limit)
		must(t, err, "%s", what)
		if int64(len(got)) != tc.want {
			t.Errorf("%s returned %d chunks, want %d", what, len(got), tc.want)
			continue
		}
		checkSequences(t, got, tc.from, what)
	}
}

func testStreamStatus(t *testing.T, e *env) {
	e.newSession(t, "s-1")
	for _, st := range []helix.StreamStatus{helix.StreamPaused, helix.StreamActive, helix.StreamEnded, helix.StreamFailed, helix.StreamActive} {
		must(t, e.st.SetStreamStatus(e.ctx, "s-1", 0, st), "SetStreamStatus(%s)", st)
		info, err := e.st.StreamInfo(e.ctx, "s-1")
		must(t, err, "StreamInfo")
		if info.Status != st {
			t.Errorf("StreamInfo after SetStreamStatus(%s) reports %s", st, info.Status)
		}
	}
	// Status changes do not touch the chunks.
	e.appendChunks(t, "s-1", deltas("s-1", 0, 3)...)
	must(t, e.st.SetStreamStatus(e.ctx, "s-1", 0, helix.StreamEnded), "SetStreamStatus(ended)")
	got, err := e.st.ReadChunks(e.ctx, "s-1", 0, 0)
	must(t, err, "ReadChunks")
	if len(got) != 3 {
		t.Errorf("ReadChunks after SetStreamStatus returned %d chunks, want 3", len(got))
	}
	checkSequences(t, got, 0, "ReadChunks after SetStreamStatus")
}

// testConcurrentAppends runs 8 appenders on one stream. Sequences must be
// strictly increasing and gap-free, every call's chunks contiguous, and
// every returned last sequence must match the chunks' in-place sequences.
func testConcurrentAppends(t *testing.T, e *env) {
	e.newSession(t, "s-1")
	const writers, calls = 8, 40
	type call struct {
		writer, call, size int
		last               int64
		seqs               []int64
	}
	results := make([][]call, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			size := w%3 + 1
			for c := range calls {
				batch := make([]helix.Chunk, size)
				for i := range batch {
					batch[i] = helix.Chunk{Type: helix.ChunkCustom, SessionID: "s-1", RunID: fmt.Sprint("writer-", w),
						Step: c, Timestamp: int64(i), EventName: "tick"}
				}
				last, err := e.st.AppendChunks(e.ctx, "s-1", 0, batch)
				if err != nil {
					errs[w] = fmt.Errorf("writer %d call %d: %w", w, c, err)
					return
				}
				seqs := make([]int64, size)
				for i := range batch {
					seqs[i] = batch[i].Sequence
				}
				results[w] = append(results[w], call{w, c, size, last, seqs})
			}
		})
	}
	wg.Wait()
	total := 0
	for w := range writers {
		if errs[w] != nil {
			t.Fatalf("concurrent AppendChunks: %v", errs[w])
		}
		total += calls * (w%3 + 1)
	}
	got, err := e.st.ReadChunks(e.ctx, "s-1", 0, 0)
	must(t, err, "ReadChunks")
	if len(got) != total {
		t.Fatalf("after %d concurrent appends ReadChunks returned %d chunks, want %d", total, len(got), total)
	}
	checkSequences(t, got, 0, "ReadChunks after concurrent appends")
	for w, rs := range results {
		var prev int64
		for _, r := range rs {
			if r.last <= prev {
				t.Errorf("writer %d: AppendChunks returned %d after %d; sequences must increase", w, r.last, prev)
			}
			prev = r.last
			for i, seq := range r.seqs {
				if want := r.last - int64(r.size-1-i); seq != want {
					t.Errorf("writer %d call %d: chunk %d got in-place sequence %d, want %d (the call's chunks are contiguous and end at the returned %d)",
						w, r.call, i, seq, want, r.last)
				}
				c := got[seq-1]
				if c.RunID != fmt.Sprint("writer-", w) || c.Step != r.call || c.Timestamp != int64(i) {
					t.Errorf("chunk with sequence %d holds writer %s call %d item %d, want writer %d call %d item %d",
						seq, c.RunID, c.Step, c.Timestamp, w, r.call, i)
				}
			}
		}
	}
}

func testRetention(t *testing.T, e *env) {
	if !e.caps.Retention {
		t.Skipf("harness lacks capability Retention")
	}
	keep := e.caps.RetentionMaxChunks
	if keep < 1 {
		t.Fatalf("Capabilities.RetentionMaxChunks = %d with Retention set; want at least 1", keep)
	}
	e.newSession(t, "s-1")
	n := keep + 10
	for i := range n {
		e.appendChunks(t, "s-1", deltas("s-1", int64(i), 1)...)
	}
	info, err := e.st.StreamInfo(e.ctx, "s-1")
	must(t, err, "StreamInfo")
	if info.LastSequence != int64(n) {
		t.Errorf("StreamInfo with retention: last sequence %d, want %d (sequences are never reused)", info.LastSequence, n)
	}
	got, err := e.st.ReadChunks(e.ctx, "s-1", 0, 0)
	must(t, err, "ReadChunks")
	if len(got) == 0 || len(got) > keep {
		t.Fatalf("ReadChunks with retention of %d chunks returned %d chunks", keep, len(got))
	}
	checkSequences(t, got, int64(n-len(got)), "ReadChunks with retention (the newest chunks, in order)")
	if want := int64(n - len(got) + 1); info.FirstSequence != want {
		t.Errorf("StreamInfo with retention: first sequence %d, want %d (the oldest chunk ReadChunks returns)", info.FirstSequence, want)
	}
	last := e.appendChunks(t, "s-1", deltas("s-1", int64(n), 1)...)
	if last != int64(n+1) {
		t.Errorf("AppendChunks after retention dropped chunks returned %d, want %d", last, n+1)
	}
}

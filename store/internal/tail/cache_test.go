package tail

import (
	"testing"

	helix "github.com/helix-agents/helix-go"
)

func seqs(from, to int64) []helix.Chunk {
	var out []helix.Chunk
	for s := from; s <= to; s++ {
		out = append(out, helix.Chunk{Type: helix.ChunkTextDelta, Sequence: s})
	}
	return out
}

func TestCacheRead(t *testing.T) {
	type want struct {
		ok     bool
		first  int64 // first sequence returned (0: none)
		n      int
		status helix.StreamStatus
	}
	tests := []struct {
		name  string
		setup func(c *Cache)
		after int64
		limit int
		want  want
	}{
		{"unknown stream", func(*Cache) {}, 0, 10, want{}},
		{"new stream, nothing yet", func(c *Cache) { c.Init("s", helix.StreamActive, 0) }, 0, 10, want{ok: true, status: helix.StreamActive}},
		{"tail", func(c *Cache) { c.Init("s", helix.StreamActive, 0); c.Append("s", seqs(1, 5)) }, 2, 10, want{true, 3, 3, helix.StreamActive}},
		{"limit", func(c *Cache) { c.Init("s", helix.StreamActive, 0); c.Append("s", seqs(1, 5)) }, 1, 2, want{true, 2, 2, helix.StreamActive}},
		{"status change", func(c *Cache) {
			c.Init("s", helix.StreamActive, 0)
			c.Append("s", seqs(1, 3))
			c.SetStatus("s", helix.StreamEnded)
		}, 3, 10, want{ok: true, status: helix.StreamEnded}},
		{"older than kept", func(c *Cache) { c.Init("s", helix.StreamActive, 0); c.Append("s", seqs(1, 10)) }, 1, 10, want{}}, // perStream 4 keeps 7..10
		{"oldest kept", func(c *Cache) { c.Init("s", helix.StreamActive, 0); c.Append("s", seqs(1, 10)) }, 6, 10, want{true, 7, 4, helix.StreamActive}},
		{"after beyond last", func(c *Cache) { c.Init("s", helix.StreamActive, 0); c.Append("s", seqs(1, 2)) }, 5, 10, want{}},
		{"status unknown", func(c *Cache) { c.Append("s", seqs(1, 2)) }, 0, 10, want{}},
		{"last unknown", func(c *Cache) { c.SetStatus("s", helix.StreamActive) }, 0, 10, want{}},
		{"first append after status", func(c *Cache) { c.SetStatus("s", helix.StreamActive); c.Append("s", seqs(8, 9)) }, 7, 10, want{true, 8, 2, helix.StreamActive}},
		{"before first append after status", func(c *Cache) { c.SetStatus("s", helix.StreamActive); c.Append("s", seqs(8, 9)) }, 6, 10, want{}},
		{"gap resets", func(c *Cache) {
			c.Init("s", helix.StreamActive, 0)
			c.Append("s", seqs(1, 2))
			c.Append("s", seqs(5, 6)) // 3 and 4 written elsewhere
		}, 2, 10, want{}},
		{"gap resets, new tail served", func(c *Cache) {
			c.Init("s", helix.StreamActive, 0)
			c.Append("s", seqs(1, 2))
			c.Append("s", seqs(5, 6))
		}, 4, 10, want{true, 5, 2, helix.StreamActive}},
		{"out of order distrusts", func(c *Cache) {
			c.Init("s", helix.StreamActive, 0)
			c.Append("s", seqs(1, 4))
			c.Append("s", seqs(3, 3))
		}, 4, 10, want{}},
		{"evicted", func(c *Cache) {
			c.Init("s", helix.StreamActive, 0)
			c.Init("x", helix.StreamActive, 0)
			c.Init("y", helix.StreamActive, 0) // maxStreams 2: s goes
		}, 0, 10, want{}},
		{"forgotten", func(c *Cache) { c.Init("s", helix.StreamActive, 0); c.Forget("s") }, 0, 10, want{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCache(4, 2)
			tt.setup(c)
			chunks, status, ok := c.Read(nil, "s", tt.after, tt.limit)
			if ok != tt.want.ok || len(chunks) != tt.want.n || (ok && status != tt.want.status) {
				t.Fatalf("Read = %d chunks, %q, %v; want %+v", len(chunks), status, ok, tt.want)
			}
			for i, ch := range chunks {
				if ch.Sequence != tt.want.first+int64(i) {
					t.Fatalf("chunk %d has sequence %d, want %d", i, ch.Sequence, tt.want.first+int64(i))
				}
			}
		})
	}
}

// TestCacheReadAppends: Read appends to the caller's slice (a follower
// reuses one buffer), and a refused read leaves it as it was.
func TestCacheReadAppends(t *testing.T) {
	c := NewCache(0, 0)
	c.Init("s", helix.StreamActive, 0)
	c.Append("s", seqs(1, 3))
	first := &helix.Chunk{Sequence: 99}
	got, _, ok := c.Read([]*helix.Chunk{first}, "s", 1, 0)
	if !ok || len(got) != 3 || got[0] != first || got[1].Sequence != 2 || got[2].Sequence != 3 {
		t.Fatalf("Read onto a one-chunk slice = %v (ok %v), want the chunk then sequences 2 and 3", got, ok)
	}
	got, _, ok = c.Read(got[:1], "x", 0, 0)
	if ok || len(got) != 1 || got[0] != first {
		t.Fatalf("Read of an unknown stream = %v (ok %v), want the slice unchanged", got, ok)
	}
}

// TestCacheKeepsNewest: appended one at a time, a stream keeps at least
// perStream and at most twice as many of its newest chunks, contiguous.
func TestCacheKeepsNewest(t *testing.T) {
	const per = 4
	c := NewCache(per, 0)
	c.Init("s", helix.StreamActive, 0)
	for seq := int64(1); seq <= 50; seq++ {
		c.Append("s", seqs(seq, seq))
		kept := len(c.m["s"].chunks)
		if kept < min(int(seq), per) || kept > 2*per {
			t.Fatalf("after chunk %d: %d kept, want %d to %d", seq, kept, min(int(seq), per), 2*per)
		}
		got, _, ok := c.Read(nil, "s", max(seq-per, 0), 0)
		if !ok || len(got) != min(int(seq), per) || got[len(got)-1].Sequence != seq {
			t.Fatalf("after chunk %d: Read of the last %d = %d chunks, ok %v", seq, per, len(got), ok)
		}
	}
	if _, _, ok := c.Read(nil, "s", 50-2*per-1, 0); ok {
		t.Error("Read answered from further back than the cache can keep")
	}
}

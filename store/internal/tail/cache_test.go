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
			chunks, status, ok := c.Read("s", tt.after, tt.limit)
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

func TestCacheReadCopies(t *testing.T) {
	c := NewCache(0, 0)
	c.Init("s", helix.StreamActive, 0)
	c.Append("s", seqs(1, 3))
	got, _, _ := c.Read("s", 0, 0)
	got[0].Delta = "changed"
	again, _, _ := c.Read("s", 0, 0)
	if again[0].Delta != "" {
		t.Fatal("Read returned the cache's own chunks")
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
		got, _, ok := c.Read("s", max(seq-per, 0), 0)
		if !ok || len(got) != min(int(seq), per) || got[len(got)-1].Sequence != seq {
			t.Fatalf("after chunk %d: Read of the last %d = %d chunks, ok %v", seq, per, len(got), ok)
		}
	}
	if _, _, ok := c.Read("s", 50-2*per-1, 0); ok {
		t.Error("Read answered from further back than the cache can keep")
	}
}

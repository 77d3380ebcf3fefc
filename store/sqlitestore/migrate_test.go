package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/store"
)

// TestMigrateSegments: a database of schema 2 (one row per chunk, and a
// per-chunk log with pending chunks) opens at schema 3 with every chunk
// readable, in order, from segments; the old log's rows of unknown
// sessions are dropped; appends continue the sequence.
func TestMigrateSegments(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v2.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(ON)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= 2; v++ {
		if err := applyMigration(ctx, db, v, migrations[v-1]); err != nil {
			t.Fatal(err)
		}
	}
	const moved, pending = 70, 5 // 1..70 in chunks, 71..75 in the log
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`INSERT INTO sessions (sid, id, principal, agent_type, status, created_ns, version, record, stream_status)
		VALUES (7, 's', '', 'x', 'running', 1, 1, '{"id":"s","updatedAt":"2026-01-02T03:04:05.5+01:00"}', 'active')`)
	data := func(seq int) string { return fmt.Sprintf(`{"type":"text_delta","delta":"d%d"}`, seq) }
	for seq := 1; seq <= moved; seq++ {
		exec(`INSERT INTO chunks (sid, seq, data) VALUES (7, ?, ?)`, seq, data(seq))
	}
	for seq := moved - 1; seq <= moved+pending; seq++ { // two already moved
		exec(`INSERT INTO chunk_log (sid, seq, data) VALUES (7, ?, ?)`, seq, data(seq))
	}
	exec(`INSERT INTO chunk_log (sid, seq, data) VALUES (999, 1, '{}')`) // no such session
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, path, Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(ctx); err != nil || v != len(migrations) {
		t.Fatalf("schema version %d (%v), want %d", v, err, len(migrations))
	}
	got, err := s.ReadChunks(ctx, "s", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != moved+pending {
		t.Fatalf("read %d chunks, want %d", len(got), moved+pending)
	}
	for i, c := range got {
		if c.Sequence != int64(i+1) || c.Delta != fmt.Sprintf("d%d", i+1) {
			t.Fatalf("chunk %d: sequence %d delta %q", i, c.Sequence, c.Delta)
		}
	}
	var segs, logRows int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM chunk_segs`).Scan(&segs); err != nil {
		t.Fatal(err)
	}
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM chunk_log`).Scan(&logRows); err != nil {
		t.Fatal(err)
	}
	if segs != 2 || logRows != 0 { // 64 + 11 chunks
		t.Errorf("after the migration: %d segments, %d log rows; want 2 and 0", segs, logRows)
	}
	// Migration 4 takes a session's last write time from its record.
	var updated int64
	if err := s.r.QueryRowContext(ctx, `SELECT updated_ns FROM sessions WHERE id = 's'`).Scan(&updated); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 1, 2, 2, 4, 5, 5e8, time.UTC).UnixNano(); updated != want {
		t.Errorf("after the migration: updated_ns %d, want %d (the record's updatedAt)", updated, want)
	}
	last, err := s.AppendChunks(ctx, "s", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "next"}})
	if err != nil || last != moved+pending+1 {
		t.Fatalf("append after the migration: last %d (%v), want %d", last, err, moved+pending+1)
	}
}

// TestSegmentReads: reads of a stream held in several segments, from any
// position and with any limit, cross segment boundaries with no gap.
func TestSegmentReads(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "x.db"), Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateSession(ctx, &store.Session{ID: "a", AgentType: "x", Status: helix.StatusRunning}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStreamStatus(ctx, "a", 0, helix.StreamActive); err != nil {
		t.Fatal(err)
	}
	const n = 100
	for i := 1; i <= n; i++ {
		if _, err := s.AppendChunks(ctx, "a", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetStreamStatus(ctx, "a", 0, helix.StreamEnded); err != nil {
		t.Fatal(err)
	}
	var segs int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM chunk_segs`).Scan(&segs); err != nil || segs != 4 {
		t.Fatalf("%d segments (%v), want 4: 32 chunks moved three times, 4 at the end", segs, err)
	}
	for _, tt := range []struct {
		after int64
		limit int
	}{{0, 0}, {0, 1}, {30, 5}, {31, 1}, {32, 40}, {63, 2}, {95, 0}, {99, 10}, {100, 5}, {150, 0}} {
		got, err := s.ReadChunks(ctx, "a", tt.after, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		want := int(n - min(tt.after, n))
		if tt.limit > 0 {
			want = min(want, tt.limit)
		}
		if len(got) != want {
			t.Fatalf("after %d, limit %d: %d chunks, want %d", tt.after, tt.limit, len(got), want)
		}
		for i, c := range got {
			if seq := tt.after + 1 + int64(i); c.Sequence != seq || c.Delta != fmt.Sprint(seq) {
				t.Fatalf("after %d, limit %d: chunk %d is %d %q", tt.after, tt.limit, i, c.Sequence, c.Delta)
			}
		}
	}
}

// TestDamagedLogRowSkipped: a chunk_log row that does not decode (a
// damaged file) is skipped with a warning when a store reloads the log; the
// store still writes, and the chunks of the intact rows are read back.
func TestDamagedLogRowSkipped(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	a, err := Open(ctx, path, Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.CreateSession(ctx, &store.Session{ID: "s", AgentType: "x", Status: helix.StatusRunning}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetStreamStatus(ctx, "s", 0, helix.StreamActive); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := a.AppendChunks(ctx, "s", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: fmt.Sprint(i + 1)}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.w.ExecContext(ctx, `INSERT INTO chunk_log (id, data) VALUES (1000, x'0180')`); err != nil { // cut short
		t.Fatal(err)
	}
	a.Close()
	b, err := Open(ctx, path, Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	last, err := b.AppendChunks(ctx, "s", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "4"}})
	if err != nil || last != 4 {
		t.Fatalf("append after reopening: last %d, %v; want 4", last, err)
	}
	got, err := b.ReadChunks(ctx, "s", 0, 0)
	if err != nil || len(got) != 4 || got[3].Delta != "4" {
		t.Fatalf("read back %+v, %v; want 4 chunks", got, err)
	}
}

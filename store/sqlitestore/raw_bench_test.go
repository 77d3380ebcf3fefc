package sqlitestore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	helix "github.com/helix-agents/helix-go"
)

// BenchmarkRawInsert is the yardstick for the store's append figures: a
// bare loop of INSERTs with modernc.org/sqlite through database/sql, with
// the same pragmas (WAL, synchronous=NORMAL), the same table shape and the
// same chunk JSON, in transactions of 1 and 16 rows. It reports rows/s.
func BenchmarkRawInsert(b *testing.B) {
	payload, _ := (&helix.Chunk{Type: helix.ChunkTextDelta, SessionID: "bench-1", RunID: "run-1", AgentType: "bench",
		Step: 1, Timestamp: 1700000000000, Delta: "Hello, wor"}).AppendJSON(nil)
	for _, rows := range []int{1, 16} {
		b.Run(map[int]string{1: "Tx1", 16: "Tx16"}[rows], func(b *testing.B) {
			ctx := context.Background()
			db, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "raw.db")+
				"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)&_txlock=immediate")
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			if _, err := db.Exec(`CREATE TABLE chunks (sid INTEGER NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL,
				PRIMARY KEY (sid, seq)) WITHOUT ROWID`); err != nil {
				b.Fatal(err)
			}
			ins, err := db.Prepare(`INSERT INTO chunks (sid, seq, data) VALUES (?, ?, ?)`)
			if err != nil {
				b.Fatal(err)
			}
			seq := 0
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				st := tx.Stmt(ins)
				for range rows {
					seq++
					if _, err := st.Exec(1, seq, payload); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migrations are applied in order; migration i brings the schema to
// version i+1. Never edit one that has shipped: add a new one. Those that
// must rewrite data in Go are in goMigrations.
var migrations = []string{
	// 1: sessions, messages, runs, checkpoints, chunks.
	`CREATE TABLE sessions (
		sid           INTEGER PRIMARY KEY,
		id            TEXT NOT NULL UNIQUE,
		principal     TEXT NOT NULL,
		agent_type    TEXT NOT NULL,
		status        TEXT NOT NULL,
		created_ns    INTEGER NOT NULL, -- Unix ns
		version       INTEGER NOT NULL,
		fence         INTEGER NOT NULL DEFAULT 0,
		message_count INTEGER NOT NULL DEFAULT 0,
		record        BLOB NOT NULL,    -- store.Session as JSON
		control       TEXT,             -- store.ControlRequest as JSON
		stream_status TEXT NOT NULL,
		last_seq      INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX sessions_by_time ON sessions (created_ns DESC, id DESC);
	CREATE INDEX sessions_by_principal ON sessions (principal, created_ns DESC, id DESC);
	CREATE TABLE messages (
		sid  INTEGER NOT NULL REFERENCES sessions (sid) ON DELETE CASCADE,
		idx  INTEGER NOT NULL,
		data BLOB NOT NULL,
		PRIMARY KEY (sid, idx)
	) WITHOUT ROWID;
	CREATE TABLE runs (
		sid  INTEGER NOT NULL REFERENCES sessions (sid) ON DELETE CASCADE,
		ord  INTEGER NOT NULL,
		id   TEXT NOT NULL,
		data BLOB NOT NULL,
		PRIMARY KEY (sid, ord),
		UNIQUE (sid, id)
	) WITHOUT ROWID;
	CREATE TABLE checkpoints (
		sid  INTEGER NOT NULL REFERENCES sessions (sid) ON DELETE CASCADE,
		ord  INTEGER NOT NULL,
		id   TEXT NOT NULL,
		data BLOB NOT NULL,
		PRIMARY KEY (sid, ord),
		UNIQUE (sid, id)
	) WITHOUT ROWID;
	CREATE TABLE chunks (
		sid  INTEGER NOT NULL REFERENCES sessions (sid) ON DELETE CASCADE,
		seq  INTEGER NOT NULL,
		data BLOB NOT NULL,           -- helix.Chunk as JSON
		PRIMARY KEY (sid, seq)
	) WITHOUT ROWID;`,
	// 2: the chunk log (see chunklog.go) and store-wide settings.
	`CREATE TABLE chunk_log (
		id   INTEGER PRIMARY KEY,   -- insertion order
		sid  INTEGER NOT NULL,
		seq  INTEGER NOT NULL,
		data BLOB NOT NULL
	);
	CREATE TABLE meta (
		key   TEXT PRIMARY KEY,
		value TEXT NOT NULL
	) WITHOUT ROWID;`,
	// 3: chunks many to a row (see records.go): chunk_segs replaces
	// chunks, and a chunk_log row holds a whole group commit. The data is
	// carried over by migrateSegments. The sessions table loses last_seq,
	// which version 2 stopped maintaining.
	//
	// A rowid table with an index, not a WITHOUT ROWID table clustered by
	// (sid, last_seq): a segment is kilobytes, and large rows in a
	// clustered b-tree cost a lot to insert among others.
	`CREATE TABLE chunk_segs (
		id        INTEGER PRIMARY KEY,
		sid       INTEGER NOT NULL REFERENCES sessions (sid) ON DELETE CASCADE,
		last_seq  INTEGER NOT NULL,
		first_seq INTEGER NOT NULL,
		data      BLOB NOT NULL      -- the chunks first_seq..last_seq, as records
	);
	CREATE UNIQUE INDEX chunk_segs_by_stream ON chunk_segs (sid, last_seq, first_seq);
	ALTER TABLE sessions DROP COLUMN last_seq; -- unused since the chunk log`,
	// 4: retention by age (Options.TTL): when each session was last
	// written, carried over from its record's updatedAt.
	`ALTER TABLE sessions ADD COLUMN updated_ns INTEGER NOT NULL DEFAULT 0;
	UPDATE sessions SET updated_ns = max(created_ns, coalesce(
		CAST(unixepoch(json_extract(CAST(record AS TEXT), '$.updatedAt'), 'subsec') * 1000000000 AS INTEGER), 0));
	CREATE INDEX sessions_by_update ON sessions (updated_ns);`,
}

// goMigrations run, by version, after that migration's SQL in the same
// transaction.
var goMigrations = map[int]func(context.Context, *sql.Tx) error{3: migrateSegments}

// segMax is the most chunks migrateSegments puts in one segment.
const segMax = 64

// migrateSegments carries the chunks of schema 2 over to schema 3: the
// chunks table and the pending chunks of the per-chunk log become
// segments of up to segMax consecutive chunks, then both old tables are
// dropped and the log is made again in its new shape, empty.
func migrateSegments(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO chunks (sid, seq, data)
		SELECT sid, seq, data FROM chunk_log WHERE sid IN (SELECT sid FROM sessions)`); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT sid, seq, data FROM chunks ORDER BY sid, seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO chunk_segs (sid, last_seq, first_seq, data) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	var (
		sid, first, last int64
		n                int
		buf              []byte
	)
	flush := func() error {
		if n == 0 {
			return nil
		}
		_, err := ins.ExecContext(ctx, sid, last, first, buf)
		n, buf = 0, buf[:0]
		return err
	}
	for rows.Next() {
		var s, seq int64
		var data []byte
		if err := rows.Scan(&s, &seq, &data); err != nil {
			return err
		}
		// A segment holds consecutive chunks of one stream.
		if n > 0 && (s != sid || seq != last+1 || n == segMax) {
			if err := flush(); err != nil {
				return err
			}
		}
		if n == 0 {
			sid, first = s, seq
		}
		last = seq
		buf = appendSegRecord(buf, data)
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `DROP TABLE chunks;
		DROP TABLE chunk_log;
		CREATE TABLE chunk_log (
			id   INTEGER PRIMARY KEY,   -- one group commit
			data BLOB NOT NULL          -- its chunks, as records
		);
		DELETE FROM meta WHERE key = 'log_owner';`)
	return err
}

// migrate applies the migrations the database lacks. Each runs in its own
// IMMEDIATE transaction that first re-reads the applied versions, so
// processes opening the same file at once apply each migration once.
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	for i, m := range migrations {
		version := i + 1
		if err := applyMigration(ctx, db, version, m); err != nil {
			return fmt.Errorf("migration %d: %w", version, err)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, version int, stmt string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, stmt); err != nil {
		return err
	}
	if fn := goMigrations[version]; fn != nil {
		if err := fn(ctx, tx); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, time.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}

// SchemaVersion reports the newest migration applied to the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, s.fail(ctx, "schema version", "", err)
	}
	return int(v.Int64), nil
}

package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migrations are applied in order; migration i brings the schema to
// version i+1. Never edit one that has shipped: add a new one.
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

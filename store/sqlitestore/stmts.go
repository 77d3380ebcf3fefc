package sqlitestore

import (
	"context"
	"database/sql"
	"sync"
)

// stmts caches prepared statements of one database handle: SQLite parses
// and plans a statement on every prepare, which would otherwise happen on
// every call.
type stmts struct {
	db *sql.DB
	// inTx reports whether a statement missing from the cache may be
	// prepared on the database while a transaction holds a connection. It
	// may for the writer (one transaction at a time, a spare connection);
	// it must not for the read pool, where every connection may be held
	// by a transaction waiting for a connection to prepare on: those
	// prepare on the transaction itself, uncached.
	inTx bool
	mu   sync.Mutex
	m    map[string]*sql.Stmt
}

func newStmts(db *sql.DB, inTx bool) *stmts {
	return &stmts{db: db, inTx: inTx, m: make(map[string]*sql.Stmt)}
}

// cached returns the cached statement for query, or nil.
func (c *stmts) cached(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[query]
}

// get returns the prepared statement for query, preparing it once.
//
// It prepares without holding c.mu: preparing waits for a free connection,
// and the goroutines holding the pool's connections (in transactions) may
// themselves be waiting for c.mu to look a statement up, a deadlock that
// only their contexts' ends would break. Two goroutines may then prepare
// the same query at once; the second keeps the first's statement.
func (c *stmts) get(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := c.cached(query); st != nil {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev := c.m[query]; prev != nil {
		_ = st.Close()
		return prev, nil
	}
	c.m[query] = st
	return st, nil
}

// cacheMissed prepares and caches the queries a read transaction missed.
// The caller holds no connection and no lock, so waiting here for a free
// connection cannot deadlock; and the next transaction on each
// connection prepares the query once, not on every use.
func (c *stmts) cacheMissed(ctx context.Context, missed []string) {
	for _, q := range missed {
		if _, err := c.get(ctx, q); err != nil {
			return // the transaction that needs it will report the error
		}
	}
}

// row runs a single-row query outside a transaction.
func (c *stmts) row(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := c.get(ctx, query)
	if err != nil {
		return c.db.QueryRowContext(ctx, query, args...) // reports the same error
	}
	return st.QueryRowContext(ctx, args...)
}

// txn is a transaction with the statement cache of its database.
type txn struct {
	ctx context.Context
	tx  *sql.Tx
	c   *stmts
	// missed collects the queries a read transaction found uncached, for
	// cacheMissed to prepare once the transaction has let go of its
	// connection.
	missed *[]string
}

func (t txn) stmt(query string) (*sql.Stmt, error) {
	if !t.c.inTx {
		if st := t.c.cached(query); st != nil {
			return t.tx.StmtContext(t.ctx, st), nil
		}
		if t.missed != nil {
			*t.missed = append(*t.missed, query)
		}
		return t.tx.PrepareContext(t.ctx, query)
	}
	st, err := t.c.get(t.ctx, query)
	if err != nil {
		return nil, err
	}
	return t.tx.StmtContext(t.ctx, st), nil
}

func (t txn) row(query string, args ...any) *sql.Row {
	st, err := t.stmt(query)
	if err != nil {
		return t.tx.QueryRowContext(t.ctx, query, args...)
	}
	return st.QueryRowContext(t.ctx, args...)
}

func (t txn) exec(query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(t.ctx, args...)
}

func (t txn) query(query string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(t.ctx, args...)
}

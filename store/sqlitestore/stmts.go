package sqlitestore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/helix-agents/helix-go/store"
)

// conn is one SQLite connection held for the store's life, with the
// statements prepared on it (SQLite parses and plans a statement on every
// prepare, which would otherwise happen on every call). One goroutine uses
// it at a time: the group-commit writer its own, a reader one it took from
// the [readPool]. Transactions are begun and ended with plain statements
// (BEGIN, COMMIT, ROLLBACK) on the connection.
//
// Statements run under context.Background(). With a context that can end,
// database/sql starts a goroutine per transaction and per query, and the
// driver one per statement, to watch it: about two dozen goroutines per
// agent run, a measurable share of a busy server's CPU. Every statement the
// store runs is short and bounded (a point read, a page of at most a few
// hundred rows, one group commit), so contexts are honoured where waiting
// happens instead: when a reader takes a connection from the pool, and
// before a write joins a group commit.
type conn struct {
	c *sql.Conn
	m map[string]*sql.Stmt
}

// newConn takes a connection of db for good.
func newConn(ctx context.Context, db *sql.DB) (*conn, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return &conn{c: c, m: make(map[string]*sql.Stmt)}, nil
}

// stmt returns the statement for query prepared on c, preparing it once.
func (c *conn) stmt(query string) (*sql.Stmt, error) {
	if st := c.m[query]; st != nil {
		return st, nil
	}
	st, err := c.c.PrepareContext(context.Background(), query)
	if err != nil {
		return nil, err
	}
	c.m[query] = st
	return st, nil
}

// close closes c's statements and gives the connection back to its pool
// (which, once closed, closes it): for a connection in a known state, at
// Close. A closed conn has no connection (c.c is nil).
func (c *conn) close() error {
	if c.c == nil {
		return nil
	}
	for _, st := range c.m {
		_ = st.Close()
	}
	clear(c.m)
	err := c.c.Close()
	c.c = nil
	return err
}

// discard closes c's statements and its connection for good (database/sql
// drops it instead of pooling it again), after a failure that may have left
// the connection inside a transaction. Like close, it leaves c.c nil.
func (c *conn) discard() {
	if c.c == nil {
		return
	}
	for _, st := range c.m {
		_ = st.Close()
	}
	clear(c.m)
	_ = c.c.Raw(func(any) error { return driver.ErrBadConn })
	_ = c.c.Close()
	c.c = nil
}

// txn runs statements on one connection, inside the transaction its holder
// began. ctx, if set, is the reader's: a loop over many rows checks it
// between rows (canceled), which stops a long read without a watcher
// goroutine; statements themselves run under context.Background().
type txn struct {
	c   *conn
	ctx context.Context
}

// canceled returns t.ctx's error, if t has a context and it is done.
func (t txn) canceled() error {
	if t.ctx == nil {
		return nil
	}
	return t.ctx.Err()
}

func (t txn) row(query string, args ...any) *sql.Row {
	st, err := t.c.stmt(query)
	if err != nil {
		return t.c.c.QueryRowContext(context.Background(), query, args...) // reports the same error
	}
	return st.QueryRowContext(context.Background(), args...)
}

func (t txn) exec(query string, args ...any) (sql.Result, error) {
	st, err := t.c.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(context.Background(), args...)
}

func (t txn) query(query string, args ...any) (*sql.Rows, error) {
	st, err := t.c.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(context.Background(), args...)
}

// readPool holds the read connections: a reader takes one, runs its
// statements (a transaction or a single query) and puts it back.
type readPool struct {
	db   *sql.DB
	free chan *conn
	n    int
	done <-chan struct{} // the store's; closed by Close
}

// newReadPool takes n connections of db.
func newReadPool(ctx context.Context, db *sql.DB, n int, done <-chan struct{}) (*readPool, error) {
	p := &readPool{db: db, free: make(chan *conn, n), n: n, done: done}
	for range n {
		c, err := newConn(ctx, db)
		if err != nil {
			for range len(p.free) {
				_ = (<-p.free).close()
			}
			return nil, err
		}
		p.free <- c
	}
	return p, nil
}

// get takes a free connection, waiting for one until ctx is done or the
// store closes.
func (p *readPool) get(ctx context.Context, op string) (*conn, error) {
	var c *conn
	select {
	case c = <-p.free:
	default:
		select {
		case c = <-p.free:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.done:
			return nil, fmt.Errorf("sqlitestore: %s: %w", op, store.ErrClosed)
		}
	}
	if c.c == nil { // discarded after a failure: open a fresh connection
		sc, err := p.db.Conn(ctx)
		if err != nil {
			p.put(c)
			return nil, fmt.Errorf("sqlitestore: %s: opening a read connection: %w", op, err)
		}
		c.c = sc
	}
	return c, nil
}

// put gives c back. It never blocks: the pool has room for all its
// connections.
func (p *readPool) put(c *conn) { p.free <- c }

// close waits for every connection of the pool to come back (their
// statements are short) and closes it.
func (p *readPool) close() error {
	var errs []error
	for range p.n {
		errs = append(errs, (<-p.free).close())
	}
	return errors.Join(errs...)
}

// row runs a single-row query on a connection of the pool and scans it
// into dest.
func (p *readPool) row(ctx context.Context, op, query string, args []any, dest ...any) error {
	c, err := p.get(ctx, op)
	if err != nil {
		return err
	}
	defer p.put(c)
	return txn{c: c}.row(query, args...).Scan(dest...)
}

// begin starts a read transaction on c: its snapshot is taken by its first
// read.
func (c *conn) begin() error {
	_, err := txn{c: c}.exec(`BEGIN`)
	return err
}

// rollback ends c's transaction.
func (c *conn) rollback() error {
	_, err := txn{c: c}.exec(`ROLLBACK`)
	return err
}

// putAfter gives c back after a transaction, ended by ROLLBACK. If that
// fails, the connection is in a state we do not know: it is discarded, and
// the next reader to take it opens a fresh one.
func (p *readPool) putAfter(c *conn) error {
	err := c.rollback()
	if err != nil {
		c.discard()
	}
	p.put(c)
	return err
}

package sqlitestore

import (
	"context"
	"time"
)

// CachedReadStatements reports how many statements the read pool's
// connections hold prepared, in all. It waits for every connection to be
// free.
func (s *Store) CachedReadStatements() int {
	p := s.readers
	cs := make([]*conn, p.n)
	n := 0
	for i := range cs {
		cs[i] = <-p.free
		n += len(cs[i].m)
	}
	for _, c := range cs {
		p.put(c)
	}
	return n
}

// SetSweep shortens the sweep of old pending chunks.
func (s *Store) SetSweep(every, age time.Duration) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.sweepEvery, s.sweepAge = every, age
}

// Pending reports how many chunks of the stream the writer holds pending.
func (s *Store) Pending(id string) int {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if e := s.pend[id]; e != nil {
		return len(e.rows)
	}
	return 0
}

// Segments counts the segment rows and the chunks they hold.
func (s *Store) Segments(ctx context.Context) (rows, chunks int, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(last_seq - first_seq + 1), 0) FROM chunk_segs`).Scan(&rows, &chunks)
	return rows, chunks, err
}

// TableRows counts the rows of table (chunk_segs or chunk_log).
func (s *Store) TableRows(ctx context.Context, table string) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n)
	return n, err
}

// Expire deletes the sessions last written before cutoff, as the TTL sweep
// does.
func (s *Store) Expire(ctx context.Context, cutoff time.Time) (int, error) {
	return s.expire(ctx, cutoff)
}

package pgstore

import (
	"context"
	"time"
)

// expireBatch is how many sessions one expiry statement deletes, with
// everything they hold.
const expireBatch = 100

// expireLoop deletes expired sessions (Options.TTL) every TTL/10, between
// once a second and once a minute, until the store closes. Several
// processes sharing the schema may sweep at once: the deletes are
// idempotent.
func (s *Store) expireLoop() {
	defer s.wg.Done()
	every := min(max(s.o.TTL/10, time.Second), time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		if _, err := s.expire(s.bg, time.Now().Add(-s.o.TTL)); err != nil {
			if !failing && !s.closed.Load() {
				s.o.Logger.Warn("pgstore: deleting expired sessions failed", "error", scrub(err, s.secret))
			}
			failing = true
			continue
		}
		failing = false
	}
}

// expire deletes the sessions last updated before cutoff, in batches, and
// reports how many it deleted. Their subscribers are woken, to learn that
// the session is gone.
func (s *Store) expire(ctx context.Context, cutoff time.Time) (int, error) {
	total := 0
	for {
		rows, err := s.pool.Query(ctx, s.sql.expire, cutoff, expireBatch)
		if err != nil {
			return total, err
		}
		n := 0
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return total, err
			}
			s.hub.Notify(id)
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, err
		}
		total += n
		if n < expireBatch {
			return total, nil
		}
	}
}

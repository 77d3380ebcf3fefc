package pgstore

import (
	"context"
	"time"

	"github.com/helix-agents/helix-go/store/internal/periodic"
)

// expireBatch is how many sessions one expiry statement deletes, with
// everything they hold.
const expireBatch = 100

// expireLoop deletes expired sessions (Options.TTL) until the store
// closes. Several processes sharing the schema may sweep at once: the
// deletes are idempotent.
func (s *Store) expireLoop() {
	defer s.wg.Done()
	periodic.Run(s.done, periodic.SweepInterval(s.o.TTL), func() error {
		_, err := s.expire(s.bg, time.Now().Add(-s.o.TTL))
		return err
	}, func(err error) {
		if !s.closed.Load() {
			s.o.Logger.Warn("pgstore: deleting expired sessions failed", "error", scrub(err, s.secret))
		}
	})
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

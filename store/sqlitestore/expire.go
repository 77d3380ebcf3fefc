package sqlitestore

import (
	"context"
	"time"

	"github.com/helix-agents/helix-go/store/internal/periodic"
)

// expireBatch is how many sessions one expiry write deletes: the deletes
// cascade to every message, run, checkpoint and segment of the sessions,
// and the group commit that carries them holds every other writer.
const expireBatch = 100

// expireLoop deletes expired sessions (Options.TTL) until the store
// closes.
func (s *Store) expireLoop() {
	defer s.wg.Done()
	periodic.Run(s.done, periodic.SweepInterval(s.o.TTL), func() error {
		_, err := s.expire(context.Background(), time.Now().Add(-s.o.TTL))
		return err
	}, func(err error) {
		if !s.closed.Load() {
			s.o.Logger.Warn("sqlitestore: deleting expired sessions failed", "error", err)
		}
	})
}

// expire deletes the sessions last written before cutoff, in batches, and
// reports how many it deleted.
func (s *Store) expire(ctx context.Context, cutoff time.Time) (int, error) {
	total := 0
	for {
		var ids []string
		err := s.write(ctx, "expire sessions", "", func(t txn) error {
			ids = ids[:0]
			// A running session whose stream is active is kept: a run in
			// progress (appends do not count as writes) or one a crash
			// left for recovery. Only such a stream can have chunks
			// pending in the log, whose records name the session by its
			// row id, which a later session could take once this one is
			// gone. (A session created but never run has an active stream
			// too, and no chunk: it expires.)
			rows, err := t.query(`DELETE FROM sessions WHERE sid IN
				(SELECT sid FROM sessions WHERE updated_ns < ?
				 AND NOT (stream_status = 'active' AND status = 'running')
				 ORDER BY updated_ns LIMIT ?) RETURNING id`,
				cutoff.UnixNano(), expireBatch)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					return err
				}
				ids = append(ids, id)
			}
			if err := rows.Err(); err != nil {
				return err
			}
			// What the writer knows of these streams goes too: their
			// pending chunks must not be moved into segments of deleted
			// sessions. (If the transaction fails, the writer learns the
			// log again: see appendState.)
			s.logMu.Lock()
			for _, id := range ids {
				delete(s.pend, id)
				delete(s.tails, id)
			}
			s.logMu.Unlock()
			return nil
		})
		if err != nil {
			return total, err
		}
		for _, id := range ids {
			s.cache.Forget(id)
			s.hub.Notify(id) // a subscriber reads, and learns it is gone
		}
		total += len(ids)
		if len(ids) < expireBatch {
			return total, nil
		}
	}
}

package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Backoff bounds of the listening connection's reconnection.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// listenConn takes a connection out of the pool (so that it gets the pool's
// configuration and hooks but no longer counts against it) and LISTENs on
// the store's channel.
func (s *Store) listenConn(ctx context.Context) (*pgx.Conn, error) {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	conn := pc.Hijack()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, err
	}
	s.listenPID.Store(conn.PgConn().PID())
	return conn, nil
}

// closeConn closes a connection, waiting at most a second for the server.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}

// listen is the goroutine that receives notifications and wakes the
// subscribers of the notified sessions. When the connection fails it
// reconnects with backoff and then wakes every subscriber, since
// notifications may have been lost meanwhile.
func (s *Store) listen(conn *pgx.Conn) {
	defer s.wg.Done()
	backoff := minBackoff
	for {
		err := s.receive(conn)
		closeConn(conn)
		s.listenPID.Store(0)
		if s.bg.Err() != nil {
			return
		}
		s.o.Logger.Warn("pgstore: notification connection lost; reconnecting", "schema", s.o.Schema, "error", scrub(err, s.secret))
		for {
			ctx, cancel := context.WithTimeout(s.bg, 10*time.Second)
			conn, err = s.listenConn(ctx)
			cancel()
			if err == nil {
				break
			}
			if s.bg.Err() != nil {
				return
			}
			s.o.Logger.Warn("pgstore: reconnecting the notification connection failed", "schema", s.o.Schema, "retry_in", backoff, "error", scrub(err, s.secret))
			select {
			case <-time.After(backoff):
			case <-s.done:
				return
			}
			backoff = min(2*backoff, maxBackoff)
		}
		backoff = minBackoff
		s.o.Logger.Info("pgstore: notification connection re-established", "schema", s.o.Schema)
		s.hub.NotifyAll()
	}
}

// receive dispatches notifications until the connection fails or the store
// closes. A connection silent for listenPing is pinged, so that a dead one
// (a network partition that closed nothing) is noticed.
func (s *Store) receive(conn *pgx.Conn) error {
	for {
		ctx, cancel := context.WithTimeout(s.bg, listenPing)
		n, err := conn.WaitForNotification(ctx)
		cancel()
		if err == nil {
			if !parsePayload(n.Payload, s.hub.Notify) {
				s.hub.NotifyAll()
			}
			continue
		}
		if s.bg.Err() != nil {
			return err
		}
		if !errors.Is(err, context.DeadlineExceeded) || conn.IsClosed() {
			return err
		}
		ctx, cancel = context.WithTimeout(s.bg, 5*time.Second)
		err = conn.Ping(ctx)
		cancel()
		if err != nil {
			return err
		}
	}
}

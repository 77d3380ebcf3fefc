package redisstore

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Reconnection backoff of the listener.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// listen is the store's one Pub/Sub connection: it subscribes to the
// notification channel and wakes the local subscribers of each session
// named. go-redis re-establishes a broken connection (and resubscribes) on
// the next read; every subscription confirmation wakes every subscriber,
// since notifications may have been lost while the connection was down.
// A connection silent for healthInterval is pinged, and replaced if the
// ping is not answered within another interval.
func (s *Store) listen() {
	defer s.wg.Done()
	ctx := s.ctx
	ps := s.subscribe()
	if ps == nil {
		return
	}
	pinged := false
	failing := false
	backoff := minBackoff
	for {
		msg, err := ps.ReceiveTimeout(ctx, healthInterval)
		if s.closed.Load() {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if !pinged {
					pinged = true
					if ps.Ping(ctx) == nil {
						continue
					}
				}
				// No answer to the ping: replace the connection.
				s.o.Logger.Warn("redisstore: notification connection unresponsive; reconnecting")
				if ps = s.resubscribe(ps); ps == nil {
					return
				}
				pinged = false
				continue
			}
			if !failing {
				s.o.Logger.Warn("redisstore: notification connection failed; subscribers fall back to polling until it is back", "error", err)
				failing = true
			}
			select {
			case <-s.done:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Message:
			if len(m.Payload) < originLen || m.Payload[:originLen] == s.origin {
				continue // this store's own write: its subscribers were woken
			}
			s.notifyAll(m.Payload[originLen:])
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				if failing {
					s.o.Logger.Info("redisstore: notification connection re-established")
				}
				failing = false
				backoff = minBackoff
				s.hub.NotifyAll()
			}
		}
	}
}

// subscribe creates the store's Pub/Sub connection, or returns nil if the
// store is closed.
func (s *Store) subscribe() *redis.PubSub {
	s.psMu.Lock()
	defer s.psMu.Unlock()
	if s.closed.Load() {
		return nil
	}
	s.ps = s.client.Subscribe(s.ctx, s.channel)
	return s.ps
}

// resubscribe replaces the Pub/Sub connection old, or returns nil if the
// store is closed.
func (s *Store) resubscribe(old *redis.PubSub) *redis.PubSub {
	_ = old.Close()
	return s.subscribe()
}

// notifyAll wakes the subscribers of the sessions a notification names:
// each as "<length of the id in bytes>:<id>".
func (s *Store) notifyAll(p string) {
	for p != "" {
		id, rest, ok := nextNotified(p)
		if !ok {
			return
		}
		s.hub.Notify(id)
		p = rest
	}
}

// nextNotified splits the first session id off a notification.
func nextNotified(p string) (id, rest string, ok bool) {
	colon := strings.IndexByte(p, ':')
	if colon < 1 {
		return "", "", false
	}
	n, err := strconv.Atoi(p[:colon])
	if err != nil || n < 0 || n > len(p)-colon-1 {
		return "", "", false
	}
	return p[colon+1 : colon+1+n], p[colon+1+n:], true
}

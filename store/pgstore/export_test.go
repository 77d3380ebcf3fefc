package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Internals the external tests use.

// ParseURL is parseURL.
var ParseURL = parseURL

// ListenerPID returns the backend pid of s's listening connection, or 0
// while it reconnects.
func ListenerPID(s *Store) uint32 { return s.listenPID.Load() }

// Channel returns s's notification channel.
func Channel(s *Store) string { return s.channel }

// Pool returns s's connection pool.
func Pool(s *Store) *pgxpool.Pool { return s.pool }

// Notification payload helpers.
var (
	NotifyPayloads = notifyPayloads
	ParsePayload   = parsePayload
)

// Expire deletes the sessions last updated before cutoff, as the TTL sweep
// does.
func (s *Store) Expire(ctx context.Context, cutoff time.Time) (int, error) {
	return s.expire(ctx, cutoff)
}

// Migrations is how many migrations the package has.
var Migrations = len(migrations)

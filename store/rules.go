package store

import (
	"errors"
	"fmt"
	"time"

	helix "github.com/helix-agents/helix-go"
)

// The record rules every backend applies before it writes. They live here so
// that the backends cannot drift apart; each backend wraps the errors with
// its own prefix (for example "memstore: commit: ...").

// PrepareNewSession returns the record [Store.CreateSession] stores for s: a
// shallow copy of *s with Version 1, a zero CreatedAt set to now and a zero
// UpdatedAt set to CreatedAt. s itself is not modified. It fails when s is
// nil or has no ID.
func PrepareNewSession(s *Session, now time.Time) (Session, error) {
	if s == nil || s.ID == "" {
		return Session{}, errors.New("missing session id")
	}
	c := *s
	c.Version = 1
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	return c, nil
}

// Validate checks the parts of c that do not depend on what is stored: c
// must have a session with an ID, and its run and checkpoint, if set, must
// have IDs; a rewind must keep zero or more messages, and a checkpoint
// written with it may not count messages past the rewound conversation.
func (c *Commit) Validate() error {
	if c.Session == nil || c.Session.ID == "" {
		return errors.New("missing session")
	}
	if c.Run != nil && c.Run.ID == "" {
		return fmt.Errorf("session %q: run without id", c.Session.ID)
	}
	if c.Checkpoint != nil && c.Checkpoint.ID == "" {
		return fmt.Errorf("session %q: checkpoint without id", c.Session.ID)
	}
	if r := c.Rewind; r != nil {
		if r.Messages < 0 {
			return fmt.Errorf("session %q: rewind to %d messages", c.Session.ID, r.Messages)
		}
		if c.Checkpoint != nil && c.Checkpoint.MessageCount > r.Messages+len(c.Messages) {
			return fmt.Errorf("session %q: checkpoint %q counts %d messages, past the rewound conversation's %d",
				c.Session.ID, c.Checkpoint.ID, c.Checkpoint.MessageCount, r.Messages+len(c.Messages))
		}
	}
	return nil
}

// PrepareControlRequest returns the request [Store.RequestControl] stores
// for r: r with a zero RequestedAt set to now. It fails when r.Kind is
// neither [ControlInterrupt] nor [ControlAbort].
func PrepareControlRequest(r ControlRequest, now time.Time) (ControlRequest, error) {
	if r.Kind != ControlInterrupt && r.Kind != ControlAbort {
		return r, fmt.Errorf("invalid kind %q", r.Kind)
	}
	if r.RequestedAt.IsZero() {
		r.RequestedAt = now
	}
	return r, nil
}

// ValidStreamStatus reports whether st is one of the stream statuses a store
// accepts: active, paused, ended or failed.
func ValidStreamStatus(st helix.StreamStatus) bool {
	switch st {
	case helix.StreamActive, helix.StreamPaused, helix.StreamEnded, helix.StreamFailed:
		return true
	}
	return false
}

package store_test

import (
	"testing"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/store"
)

// checkErr fails t unless err's text is want ("" for no error), and reports
// whether the caller should go on to check the result (no error, none wanted).
func checkErr(t *testing.T, err error, want string) bool {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("error %v, want nil", err)
	case want != "" && (err == nil || err.Error() != want):
		t.Errorf("error %v, want %q", err, want)
	}
	return err == nil && want == ""
}

func TestPrepareNewSession(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	earlier := now.Add(-time.Hour)
	later := now.Add(time.Hour)
	for _, tc := range []struct {
		name                string
		in                  *store.Session
		wantErr             string
		wantCreated, wantUp time.Time
	}{
		{name: "nil", in: nil, wantErr: "missing session id"},
		{name: "no id", in: &store.Session{AgentType: "a"}, wantErr: "missing session id"},
		{name: "zero times", in: &store.Session{ID: "s", Version: 7}, wantCreated: now, wantUp: now},
		{name: "zero updated", in: &store.Session{ID: "s", CreatedAt: earlier}, wantCreated: earlier, wantUp: earlier},
		{name: "both set", in: &store.Session{ID: "s", CreatedAt: earlier, UpdatedAt: later}, wantCreated: earlier, wantUp: later},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before store.Session
			if tc.in != nil {
				before = *tc.in
			}
			got, err := store.PrepareNewSession(tc.in, now)
			if !checkErr(t, err, tc.wantErr) {
				return
			}
			if got.ID != tc.in.ID || got.Version != 1 || !got.CreatedAt.Equal(tc.wantCreated) || !got.UpdatedAt.Equal(tc.wantUp) {
				t.Errorf("got ID %q, Version %d, CreatedAt %v, UpdatedAt %v; want %q, 1, %v, %v",
					got.ID, got.Version, got.CreatedAt, got.UpdatedAt, tc.in.ID, tc.wantCreated, tc.wantUp)
			}
			if tc.in.Version != before.Version || !tc.in.CreatedAt.Equal(before.CreatedAt) || !tc.in.UpdatedAt.Equal(before.UpdatedAt) {
				t.Errorf("the input was modified: %+v", *tc.in)
			}
		})
	}
}

func TestCommitValidate(t *testing.T) {
	sess := &store.Session{ID: "s-1"}
	for _, tc := range []struct {
		name    string
		c       store.Commit
		wantErr string
	}{
		{name: "no session", c: store.Commit{}, wantErr: "missing session"},
		{name: "no session id", c: store.Commit{Session: &store.Session{}}, wantErr: "missing session"},
		{name: "run without id", c: store.Commit{Session: sess, Run: &store.Run{}}, wantErr: `session "s-1": run without id`},
		{name: "checkpoint without id", c: store.Commit{Session: sess, Run: &store.Run{ID: "r"}, Checkpoint: &store.Checkpoint{}},
			wantErr: `session "s-1": checkpoint without id`},
		{name: "session only", c: store.Commit{Session: sess}},
		{name: "all", c: store.Commit{Session: sess, Run: &store.Run{ID: "r"}, Checkpoint: &store.Checkpoint{ID: "c"}}},
		{name: "negative rewind", c: store.Commit{Session: sess, Rewind: &store.Rewind{Messages: -1}},
			wantErr: `session "s-1": rewind to -1 messages`},
		{name: "checkpoint past a rewind", c: store.Commit{Session: sess, Messages: make([]llm.Message, 1),
			Checkpoint: &store.Checkpoint{ID: "c", MessageCount: 3}, Rewind: &store.Rewind{Messages: 1}},
			wantErr: `session "s-1": checkpoint "c" counts 3 messages, past the rewound conversation's 2`},
		{name: "rewind", c: store.Commit{Session: sess, Messages: make([]llm.Message, 1),
			Checkpoint: &store.Checkpoint{ID: "c", MessageCount: 1}, Rewind: &store.Rewind{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, tc.c.Validate(), tc.wantErr)
		})
	}
}

func TestPrepareControlRequest(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	set := now.Add(-time.Minute)
	for _, tc := range []struct {
		name    string
		in      store.ControlRequest
		wantErr string
		wantAt  time.Time
	}{
		{name: "empty kind", in: store.ControlRequest{}, wantErr: `invalid kind ""`},
		{name: "unknown kind", in: store.ControlRequest{Kind: "pause"}, wantErr: `invalid kind "pause"`},
		{name: "interrupt, zero time", in: store.ControlRequest{Kind: store.ControlInterrupt, Reason: "r"}, wantAt: now},
		{name: "abort, time set", in: store.ControlRequest{Kind: store.ControlAbort, RequestedAt: set}, wantAt: set},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := store.PrepareControlRequest(tc.in, now)
			if !checkErr(t, err, tc.wantErr) {
				return
			}
			want := tc.in
			want.RequestedAt = tc.wantAt
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestValidStreamStatus(t *testing.T) {
	for _, tc := range []struct {
		st   helix.StreamStatus
		want bool
	}{
		{helix.StreamActive, true},
		{helix.StreamPaused, true},
		{helix.StreamEnded, true},
		{helix.StreamFailed, true},
		{"", false},
		{"Active", false},
		{"closed", false},
	} {
		if got := store.ValidStreamStatus(tc.st); got != tc.want {
			t.Errorf("ValidStreamStatus(%q) = %v, want %v", tc.st, got, tc.want)
		}
	}
}

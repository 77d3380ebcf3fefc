// Package store defines the portable persistence API of Helix: sessions with
// versions and compare-and-set, messages, runs, checkpoints, pending tool
// calls, durable interrupt/abort requests, usage and the chunk stream.
//
// Backends (store/memstore, and later sqlite, redis and postgres) implement
// [Store]; store/storetest is the conformance suite every backend passes.
//
// # Fencing
//
// Every write that an executing run makes carries a fencing token obtained
// from [Store.NextFence]. The store remembers, per session, the newest token
// it has issued; a write whose token is non-zero and older than that newest
// token fails with [ErrStaleFence], atomically with the write (nothing is
// written). Token 0 means "not an owner write": such writes (an interrupt
// request, an approval submitted by a client) are protected by the session
// version alone.
//
// # Concurrency
//
// A Store is safe for concurrent use by multiple goroutines. Session, run
// and checkpoint records passed in are not retained (the store copies what
// it keeps) and records returned belong to the caller. Messages and chunks
// may share their payloads with the store: do not modify a message or chunk
// after handing it over, nor one that the store returned.
//
// Details every backend follows (the conformance suite checks them): Commit
// keeps the stored CreatedAt and sets UpdatedAt; ListSessions orders by
// CreatedAt, then ID, both descending; ListRuns returns runs in insertion
// order; a stale fence is reported before a version conflict.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
)

// Sentinel errors. Backends return errors that satisfy errors.Is with these.
var (
	ErrNotFound   = errors.New("store: not found")
	ErrExists     = errors.New("store: already exists")
	ErrConflict   = errors.New("store: version conflict")
	ErrStaleFence = errors.New("store: stale fencing token")
	ErrClosed     = errors.New("store: closed")
)

// Session is the durable record of a session: everything but its messages,
// checkpoints and stream.
type Session struct {
	ID        string `json:"id"`
	AgentType string `json:"agentType"`
	// Principal owns the session; queries and servers filter on it.
	Principal string `json:"principal,omitempty"`
	// ParentSessionID and ParentToolCallID link a sub-agent's session to the
	// parent tool call that started it.
	ParentSessionID  string `json:"parentSessionId,omitempty"`
	ParentToolCallID string `json:"parentToolCallId,omitempty"`

	Status helix.Status `json:"status"`
	// State is the custom state as a JSON object.
	State json.RawMessage `json:"state,omitempty"`
	// Output is the run output, set when Status is completed with an output.
	Output json.RawMessage  `json:"output,omitempty"`
	Error  *helix.ErrorInfo `json:"error,omitempty"`
	// StepCount counts the steps of the current run.
	StepCount int `json:"stepCount"`
	// MessageCount is the number of stored messages.
	MessageCount int `json:"messageCount"`
	// CurrentRunID is the newest run; RunCount counts runs (the turn number
	// of the current run).
	CurrentRunID string `json:"currentRunId,omitempty"`
	RunCount     int    `json:"runCount"`
	// CurrentRunStart is the current run's StartSequence: the stream
	// position before its first chunk, where a stream of the run starts
	// without looking the run up. Records written before it existed hold
	// 0 for every run.
	CurrentRunStart int64 `json:"currentRunStart,omitempty"`

	Aborted     bool   `json:"aborted,omitempty"`
	AbortReason string `json:"abortReason,omitempty"`

	// Suspension is set while the session waits for approvals, client tool
	// results or children.
	Suspension *Suspension `json:"suspension,omitempty"`
	// Usage is the session's usage over all runs.
	Usage    llm.Usage         `json:"usage"`
	Metadata map[string]string `json:"metadata,omitempty"`

	// Version increases by one on every successful save; writes compare it.
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// PendingKind is the kind of a pending tool call.
type PendingKind string

// Kinds of pending calls.
const (
	PendingApproval   PendingKind = "approval"
	PendingClientTool PendingKind = "client_tool"
	PendingSubAgent   PendingKind = "subagent"
)

// Suspension is the step a session is suspended in: the assistant message's
// tool calls, the results already known and the calls still pending.
type Suspension struct {
	Step int `json:"step"`
	// Calls are all tool calls of the suspended step, in the model's order.
	Calls []llm.ToolCall `json:"calls"`
	// Results holds results already produced, by tool call id.
	Results map[string]llm.ToolResult `json:"results,omitempty"`
	// Pending lists calls waiting for something outside the run.
	Pending []PendingCall `json:"pending"`
	// Patches are state changes of the step's finished calls, not yet merged.
	Patches []helix.PatchOp `json:"patches,omitempty"`
}

// PendingCall is a tool call waiting for an approval, a client's result or a
// sub-agent.
type PendingCall struct {
	Kind       PendingKind     `json:"kind"`
	ToolCallID string          `json:"toolCallId"`
	ToolName   string          `json:"toolName"`
	Arguments  json.RawMessage `json:"arguments"`
	// ArgsDigest binds an approval to the exact arguments it was asked for.
	ArgsDigest string `json:"argsDigest,omitempty"`
	ApprovalID string `json:"approvalId,omitempty"`
	// ChildSessionID is the sub-agent's session for PendingSubAgent.
	ChildSessionID string `json:"childSessionId,omitempty"`
	// Resolution is set once the call has its answer.
	Resolution *Resolution `json:"resolution,omitempty"`
	CreatedAt  time.Time   `json:"createdAt"`
}

// Resolution is the answer to a pending call.
type Resolution struct {
	// Approved is the decision for an approval.
	Approved bool   `json:"approved,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// Result and Error are a client tool's outcome.
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
	At     time.Time       `json:"at"`
}

// Run is one execution inside a session.
type Run struct {
	ID        string `json:"id"`
	SessionID string `json:"sessionId"`
	// Turn is 1 for the session's first run, then 2, 3, …
	Turn      int          `json:"turn"`
	Status    helix.Status `json:"status"`
	StepCount int          `json:"stepCount"`
	// StartSequence is the stream position at the run's start: its first
	// chunk has sequence StartSequence+1.
	StartSequence    int64            `json:"startSequence"`
	CompletionReason string           `json:"completionReason,omitempty"`
	Resumed          bool             `json:"resumed,omitempty"`
	Error            *helix.ErrorInfo `json:"error,omitempty"`
	Usage            llm.Usage        `json:"usage"`
	StartedAt        time.Time        `json:"startedAt"`
	EndedAt          time.Time        `json:"endedAt,omitzero"`
}

// Checkpoint is the session state after a step. Messages are referenced by
// count, not copied.
type Checkpoint struct {
	ID           string           `json:"id"`
	SessionID    string           `json:"sessionId"`
	RunID        string           `json:"runId"`
	Step         int              `json:"step"`
	Status       helix.Status     `json:"status"`
	State        json.RawMessage  `json:"state,omitempty"`
	MessageCount int              `json:"messageCount"`
	Usage        llm.Usage        `json:"usage"`
	Suspension   *Suspension      `json:"suspension,omitempty"`
	Output       json.RawMessage  `json:"output,omitempty"`
	Error        *helix.ErrorInfo `json:"error,omitempty"`
	CreatedAt    time.Time        `json:"createdAt"`
}

// ControlKind is a durable request to stop a run.
type ControlKind string

// Control request kinds.
const (
	ControlInterrupt ControlKind = "interrupt"
	ControlAbort     ControlKind = "abort"
)

// ControlRequest is a durable interrupt or abort request, honoured by
// whichever process owns the run at its next safe point.
type ControlRequest struct {
	Kind        ControlKind `json:"kind"`
	Reason      string      `json:"reason,omitempty"`
	RequestedAt time.Time   `json:"requestedAt"`
}

// Commit is one atomic write: a session save (compare-and-set on
// ExpectedVersion), messages appended after the stored ones, and optionally
// a run upsert and a checkpoint. Either all of it is written or none.
type Commit struct {
	// Session is the record to save. Its Version is ignored; the store sets
	// it to ExpectedVersion+1. Its MessageCount must equal the stored count
	// plus len(Messages).
	Session *Session
	// ExpectedVersion is the version the writer loaded.
	ExpectedVersion int64
	// Fence is the writer's fencing token, or 0 (see the package doc).
	Fence uint64
	// Messages are appended in order.
	Messages []llm.Message
	// Run, if set, is inserted or replaced (by ID).
	Run *Run
	// Checkpoint, if set, is stored.
	Checkpoint *Checkpoint
	// ClearControl removes any pending interrupt/abort request.
	ClearControl bool
	// Rewind, if set, takes the conversation back to an earlier point
	// before Messages are appended: see [Rewind].
	Rewind *Rewind
}

// Rewind is the part of a [Commit] that takes a session's conversation
// back, as a regenerated answer does: the stored messages from index
// Messages on are deleted, and so are the checkpoints that count more
// messages than that (they describe a conversation that no longer
// exists); then the commit's own messages are appended from there. The
// commit's Session.MessageCount must be Messages plus the commit's new
// messages. A rewind past the stored messages (Messages greater than the
// stored count) fails the commit with an error wrapping [ErrConflict].
// Runs and the stream are kept: they are the record of what happened.
type Rewind struct {
	// Messages is how many of the stored messages are kept.
	Messages int
}

// Page is a page of a list.
type Page[T any] struct {
	Items   []T  `json:"items"`
	Total   int  `json:"total"`
	HasMore bool `json:"hasMore"`
}

// SessionQuery filters [Store.ListSessions]. Empty fields match everything.
type SessionQuery struct {
	Principal string
	AgentType string
	Status    helix.Status
	Offset    int
	// Limit is the page size; 0 means 50.
	Limit int
}

// StreamInfo describes a session's stream.
type StreamInfo struct {
	Status helix.StreamStatus `json:"status"`
	// LastSequence is the sequence of the newest chunk (0: none yet).
	LastSequence int64 `json:"lastSequence"`
	// FirstSequence is the sequence of the oldest chunk still stored: 1
	// unless retention dropped older chunks, 0 when the stream holds none.
	// A reader resuming after a sequence below FirstSequence-1 has missed
	// chunks that are gone.
	FirstSequence int64 `json:"firstSequence"`
}

// Store is the portable persistence API. See the package doc for fencing and
// concurrency. Every method returns an error wrapping [ErrClosed] after
// Close, and ctx.Err() (unwrapped) when ctx is done before the call finishes.
type Store interface {
	// CreateSession stores a new session with Version 1 and its stream
	// (status active, no chunks). It fails with ErrExists if the id is taken.
	CreateSession(ctx context.Context, s *Session) error
	// GetSession returns the session or an error wrapping ErrNotFound.
	GetSession(ctx context.Context, id string) (*Session, error)
	// Commit writes c atomically. It fails with ErrNotFound for an unknown
	// session, ErrConflict when the stored version is not ExpectedVersion,
	// and ErrStaleFence for a stale token; nothing is written then.
	Commit(ctx context.Context, c Commit) (newVersion int64, err error)
	// ListSessions returns sessions matching q, newest first.
	ListSessions(ctx context.Context, q SessionQuery) (Page[*Session], error)

	// ListMessages returns messages [offset, offset+limit) of a session.
	// limit <= 0 means all messages from offset.
	ListMessages(ctx context.Context, sessionID string, offset, limit int) (Page[llm.Message], error)

	// GetRun returns one run; ListRuns all runs of a session, oldest first.
	GetRun(ctx context.Context, sessionID, runID string) (*Run, error)
	ListRuns(ctx context.Context, sessionID string) ([]*Run, error)

	// GetCheckpoint returns one checkpoint, LatestCheckpoint the newest, and
	// ListCheckpoints a page of checkpoints, oldest first.
	GetCheckpoint(ctx context.Context, sessionID, id string) (*Checkpoint, error)
	LatestCheckpoint(ctx context.Context, sessionID string) (*Checkpoint, error)
	ListCheckpoints(ctx context.Context, sessionID string, offset, limit int) (Page[*Checkpoint], error)

	// RequestControl records a durable interrupt or abort request for the
	// session (an abort replaces an interrupt, never the reverse).
	// GetControl returns the pending request or nil.
	RequestControl(ctx context.Context, sessionID string, r ControlRequest) error
	GetControl(ctx context.Context, sessionID string) (*ControlRequest, error)

	// NextFence issues a fencing token for the session, greater than every
	// token issued for it before.
	NextFence(ctx context.Context, sessionID string) (uint64, error)

	// AppendChunks appends chunks to the session's stream, assigning each
	// the next sequence (gap-free, starting at 1), and returns the last
	// sequence assigned. The chunks' Sequence fields are set in place.
	AppendChunks(ctx context.Context, sessionID string, fence uint64, chunks []helix.Chunk) (int64, error)
	// ReadChunks returns up to limit chunks with sequence > after
	// (limit <= 0: all).
	ReadChunks(ctx context.Context, sessionID string, after int64, limit int) ([]helix.Chunk, error)
	// SetStreamStatus sets the stream's status.
	SetStreamStatus(ctx context.Context, sessionID string, fence uint64, status helix.StreamStatus) error
	// StreamInfo returns the stream's status and its first and last
	// sequences.
	StreamInfo(ctx context.Context, sessionID string) (StreamInfo, error)
	// Subscribe yields every chunk with sequence > after, then live chunks as
	// they are appended, with no gap and no duplicate. It ends (without
	// error) once it has yielded every chunk and the stream status is not
	// active, or with ctx's error when ctx is done.
	Subscribe(ctx context.Context, sessionID string, after int64) iter.Seq2[helix.Chunk, error]

	// Close releases the store. It is idempotent.
	Close() error
}

// AppendPipeliner is implemented by stores whose AppendChunks waits on I/O:
// a group commit, a network round trip. PipelineAppends reporting true asks
// writers to keep one AppendChunks call in flight per stream and send the
// chunks produced meanwhile together in the next call, instead of waiting
// for each chunk in turn. A store that answers at once (memory) does not
// implement it.
type AppendPipeliner interface {
	PipelineAppends() bool
}

// ChunkQueuer is implemented by stores that apply their writes one at a
// time, in the order they were issued (a single writer with one queue).
// QueueChunks queues an append of chunks and returns without waiting for
// it. The append is applied before any write the caller issues after
// QueueChunks returns (a Commit, a SetStreamStatus, another append), so a
// writer need not wait for its chunks before committing the state they
// describe. done is called exactly once with the outcome AppendChunks
// would have returned: from the store's writer once the append is
// committed or refused, or before QueueChunks returns if it cannot be
// queued (a closed store, ctx done). done must return promptly and must
// not call the store. The store owns chunks after the call.
type ChunkQueuer interface {
	QueueChunks(ctx context.Context, sessionID string, fence uint64, chunks []helix.Chunk, done func(last int64, err error))
}

// FencedCreator is implemented by stores that can issue a new session's
// first fencing token in the same write that creates it.
// CreateSessionFenced is CreateSession followed by NextFence, atomically:
// the session exists with fence 1, and 1 is returned. A runtime starting
// a session's first run saves a write with it.
type FencedCreator interface {
	CreateSessionFenced(ctx context.Context, s *Session) (fence uint64, err error)
}

// ExclusiveLocker is implemented by stores that can tell whether this
// process is the only one using the store (SQLite, by a lock file).
// LockExclusive reports ok when no other process has the store open, and
// then keeps any other from opening it until release is called. While it
// holds, a session the store says is running but that this process does
// not run was cut off by a crash, and no other process can start one: the
// local runtime's RecoverCrashed re-drives such sessions.
type ExclusiveLocker interface {
	LockExclusive() (release func(), ok bool)
}

// SessionStarter is implemented by stores that can create a session and
// commit its first run in one write. StartSession is CreateSessionFenced(s)
// followed by Commit(c) and AppendChunks of chunks (the run's first, such
// as its run_start; none is fine) with fence 1, atomically: c is a commit
// of the same session with Fence 1 and ExpectedVersion 1, what
// CreateSessionFenced leaves. Each chunk's Sequence is set in place. It
// returns the session's version after c, or an error wrapping ErrExists
// if the session exists, and then writes nothing. A runtime starting a
// new session waits for one write instead of two, and a client that
// subscribes once the start is answered finds the run's first chunk there.
type SessionStarter interface {
	StartSession(ctx context.Context, s *Session, c Commit, chunks []helix.Chunk) (version int64, err error)
}

// RunEnder is implemented by stores that can end a run in one write.
// EndRun is Commit(c), then AppendChunks of chunks with c.Fence, then
// SetStreamStatus(status), atomically: a subscriber sees the chunks (the
// run's run_end) only once the state they describe is stored, and the
// stream stops being active in the same write. Each chunk's Sequence is
// set in place. If the commit is refused (a stale fence, a conflict),
// nothing is written and the error wraps the same sentinel Commit's
// would. A runtime ending a run waits for one write instead of two.
type RunEnder interface {
	EndRun(ctx context.Context, c Commit, chunks []helix.Chunk, status helix.StreamStatus) (version int64, err error)
}

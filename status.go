package helix

// Status is the status of a run and of its session.
type Status string

// Run and session statuses (DESIGN §2).
const (
	StatusRunning                   Status = "running"
	StatusCompleted                 Status = "completed"
	StatusFailed                    Status = "failed"
	StatusInterrupted               Status = "interrupted"
	StatusSuspendedApproval         Status = "suspended_approval"
	StatusSuspendedClientTool       Status = "suspended_client_tool"
	StatusSuspendedAwaitingChildren Status = "suspended_awaiting_children"
	StatusSuspendedStepPartial      Status = "suspended_step_partial"
)

// Suspended reports whether s is one of the suspended statuses.
func (s Status) Suspended() bool {
	switch s {
	case StatusSuspendedApproval, StatusSuspendedClientTool,
		StatusSuspendedAwaitingChildren, StatusSuspendedStepPartial:
		return true
	}
	return false
}

// Terminal reports whether a run with status s is over: completed, failed,
// interrupted or suspended. Only running is not terminal.
func (s Status) Terminal() bool { return s != StatusRunning && s != "" }

// StreamStatus is the status of a session's stream.
type StreamStatus string

// Stream statuses (DESIGN §4).
const (
	StreamActive StreamStatus = "active"
	StreamPaused StreamStatus = "paused"
	StreamEnded  StreamStatus = "ended"
	StreamFailed StreamStatus = "failed"
)

// StreamStatusFor returns the stream status that follows a run ending with s.
func StreamStatusFor(s Status) StreamStatus {
	switch {
	case s == StatusRunning:
		return StreamActive
	case s == StatusCompleted:
		return StreamEnded
	case s == StatusFailed:
		return StreamFailed
	}
	return StreamPaused // interrupted and suspended runs can go on
}

// Completion reasons recorded on a run and sent in run_end.
const (
	CompletionStop     = "stop"      // the model answered with text and stopped
	CompletionOutput   = "output"    // __finish__ or a FinishWith tool produced the output
	CompletionStopWhen = "stop_when" // the agent's StopWhen predicate held
	CompletionMaxSteps = "max_steps" // forced completion at MaxSteps
)

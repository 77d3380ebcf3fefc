package memstore

import (
	"maps"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/store"
)

// The functions in this file deep-copy the mutable parts of records: byte
// slices, maps, nested slices and pointers. A nil slice or map stays nil and
// an empty one stays empty, so that records round-trip exactly.

func cloneBytes[S ~[]byte](b S) S {
	if b == nil {
		return nil
	}
	return append(S{}, b...)
}

func cloneErrorInfo(e *helix.ErrorInfo) *helix.ErrorInfo {
	if e == nil {
		return nil
	}
	c := *e
	return &c
}

func cloneSession(s *store.Session) *store.Session {
	c := *s
	c.State = cloneBytes(s.State)
	c.Output = cloneBytes(s.Output)
	c.Error = cloneErrorInfo(s.Error)
	c.Suspension = cloneSuspension(s.Suspension)
	c.Metadata = maps.Clone(s.Metadata)
	return &c
}

func cloneSuspension(s *store.Suspension) *store.Suspension {
	if s == nil {
		return nil
	}
	c := *s
	if s.Calls != nil {
		c.Calls = make([]llm.ToolCall, len(s.Calls))
		for i, tc := range s.Calls {
			tc.Arguments = cloneBytes(tc.Arguments)
			c.Calls[i] = tc
		}
	}
	if s.Results != nil {
		c.Results = make(map[string]llm.ToolResult, len(s.Results))
		for k, r := range s.Results {
			r.Output = cloneBytes(r.Output)
			c.Results[k] = r
		}
	}
	if s.Pending != nil {
		c.Pending = make([]store.PendingCall, len(s.Pending))
		for i, p := range s.Pending {
			p.Arguments = cloneBytes(p.Arguments)
			if p.Resolution != nil {
				r := *p.Resolution
				r.Result = cloneBytes(r.Result)
				p.Resolution = &r
			}
			c.Pending[i] = p
		}
	}
	c.Patches = clonePatches(s.Patches)
	return &c
}

func cloneRun(r *store.Run) *store.Run {
	c := *r
	c.Error = cloneErrorInfo(r.Error)
	return &c
}

func cloneCheckpoint(cp *store.Checkpoint) *store.Checkpoint {
	c := *cp
	c.State = cloneBytes(cp.State)
	c.Output = cloneBytes(cp.Output)
	c.Error = cloneErrorInfo(cp.Error)
	c.Suspension = cloneSuspension(cp.Suspension)
	return &c
}

// clonePatches deep-copies a patch list, values included.
func clonePatches(p []helix.PatchOp) []helix.PatchOp {
	if p == nil {
		return nil
	}
	c := make([]helix.PatchOp, len(p))
	for i, op := range p {
		op.Value = cloneBytes(op.Value)
		c[i] = op
	}
	return c
}

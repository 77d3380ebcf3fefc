package helix_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	helix "github.com/helix-agents/helix-go"
)

func TestToolResultSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{`"plain"`, 7},
		{`"<a&b>"`, 7 + 3*5},
		{"\"\u2028\u2029\"", 8 + 2*3},
		{"\"\u00e9\"", 4},
	} {
		if got := helix.ToolResultSize(json.RawMessage(tc.in)); got != tc.want {
			t.Errorf("ToolResultSize(%q) = %d, want %d", tc.in, got, tc.want)
		}
		// The size is what encoding/json writes.
		out, err := json.Marshal(json.RawMessage(tc.in))
		if err != nil || len(out) != tc.want {
			t.Errorf("json.Marshal(%q) = %d bytes, %v; ToolResultSize says %d", tc.in, len(out), err, tc.want)
		}
	}
}

// TestToolSubmissionResultLimit: a client tool's result is measured as it
// is stored, so one that grows past the limit once escaped is refused.
func TestToolSubmissionResultLimit(t *testing.T) {
	sub := func(result string) *helix.ToolSubmission {
		return &helix.ToolSubmission{Kind: helix.SubmitClientToolResult, ToolCallID: "c1", Result: json.RawMessage(result)}
	}
	if err := sub(`"` + strings.Repeat("a", helix.MaxToolResultSize-2) + `"`).Validate(); err != nil {
		t.Errorf("a result of exactly the limit: %v", err)
	}
	if err := sub(`"` + strings.Repeat("<", 200<<10) + `"`).Validate(); !errors.Is(err, helix.ErrInvalidInput) {
		t.Errorf("200 KiB of '<' (1.2 MiB once escaped): %v, want ErrInvalidInput", err)
	}
}

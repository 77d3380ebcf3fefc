package tools

import (
	"context"
	"fmt"
	"strings"
	"time"

	helix "github.com/helix-agents/helix-go"
)

// TimeInput is the input of the current_time tool.
type TimeInput struct {
	Timezone string `json:"timezone,omitempty" jsonschema:"description=IANA time zone name such as Europe/Paris or America/New_York; UTC when empty,maxLength=64"`
}

// TimeOutput is the result of the current_time tool.
type TimeOutput struct {
	Time     string `json:"time"`     // RFC 3339, e.g. 2025-01-02T15:04:05+01:00
	Timezone string `json:"timezone"` // the IANA name, e.g. Europe/Paris
	Zone     string `json:"zone"`     // the abbreviation in effect, e.g. CET
	Weekday  string `json:"weekday"`
}

// CurrentTime returns the current_time tool: it takes an optional IANA time
// zone name (UTC when empty) and returns the current time in RFC 3339 with
// the zone. An unknown zone is a tool error.
func CurrentTime() *helix.Tool { return currentTime(time.Now, false) }

func currentTime(now func() time.Time, approve bool) *helix.Tool {
	return helix.NewTool("current_time",
		"Returns the current date and time (RFC 3339) in an IANA time zone (default UTC).",
		func(_ context.Context, _ *helix.ToolContext, in TimeInput) (TimeOutput, error) {
			name := in.Timezone
			if name == "" {
				name = "UTC"
			}
			// "Local" (and the zoneinfo file "localtime", a link to it)
			// would reveal (and depend on) the server's zone.
			if strings.EqualFold(name, "Local") || strings.EqualFold(name, "localtime") {
				return TimeOutput{}, fmt.Errorf("unknown time zone %q: use an IANA name such as Europe/Paris", name)
			}
			loc, err := time.LoadLocation(name)
			if err != nil {
				return TimeOutput{}, fmt.Errorf("unknown time zone %q: use an IANA name such as Europe/Paris", name)
			}
			t := now().In(loc)
			zone, _ := t.Zone()
			return TimeOutput{Time: t.Format(time.RFC3339), Timezone: loc.String(), Zone: zone, Weekday: t.Weekday().String()}, nil
		}, approval(approve)...)
}

// approval returns the tool options for a default or overridden approval.
func approval(required bool) []helix.ToolOption {
	if required {
		return []helix.ToolOption{helix.RequireApproval()}
	}
	return nil
}

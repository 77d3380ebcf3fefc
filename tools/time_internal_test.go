package tools

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestCurrentTime(t *testing.T) {
	fixed := time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC)
	tool := currentTime(func() time.Time { return fixed }, false)
	tests := []struct {
		args, want string
	}{
		{`{}`, `{"time":"2025-01-02T15:04:05Z","timezone":"UTC","zone":"UTC","weekday":"Thursday"}`},
		{`{"timezone":"Europe/Paris"}`, `{"time":"2025-01-02T16:04:05+01:00","timezone":"Europe/Paris","zone":"CET","weekday":"Thursday"}`},
		{`{"timezone":"America/New_York"}`, `{"time":"2025-01-02T10:04:05-05:00","timezone":"America/New_York","zone":"EST","weekday":"Thursday"}`},
	}
	for _, tt := range tests {
		got, err := tool.Execute(t.Context(), nil, json.RawMessage(tt.args))
		if err != nil {
			t.Fatalf("current_time %s: %v", tt.args, err)
		}
		if string(got) != tt.want {
			t.Errorf("current_time %s = %s, want %s", tt.args, got, tt.want)
		}
	}
	for _, zone := range []string{"Mars/Olympus", "../../etc/passwd", "/etc/localtime", "Local", "localtime", "LOCAL"} {
		args, _ := json.Marshal(TimeInput{Timezone: zone})
		_, err := tool.Execute(t.Context(), nil, args)
		if err == nil || !strings.Contains(err.Error(), "unknown time zone") {
			t.Errorf("current_time %s error = %v, want unknown time zone", args, err)
		}
	}
}

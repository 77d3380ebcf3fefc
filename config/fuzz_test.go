package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/helix-agents/helix-go/config"
)

// FuzzParse checks that Parse never panics, that its errors are one line
// wrapping ErrInvalid, and that what it accepts validates again.
func FuzzParse(f *testing.F) {
	f.Add([]byte(issueExample + summarizer))
	f.Add([]byte("agents:\n  - name: a\n    subAgents: [a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse(data)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if !errors.Is(err, config.ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("Parse accepted what Validate refuses: %v", err)
		}
	})
}

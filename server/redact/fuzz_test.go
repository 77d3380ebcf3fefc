package redact_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/helix-agents/helix-go/server/redact"
)

// canary is a known secret planted in fuzzed text.
const canary = "hxCanary7f3a9c2e1b"

// FuzzString checks that String never panics and is idempotent, and that
// a known secret inserted anywhere in a message or attribute never
// reaches the log. Seeds are in testdata/fuzz/FuzzString.
func FuzzString(f *testing.F) {
	if testing.Short() {
		f.Skip("fuzz target skipped in -short mode")
	}
	var buf bytes.Buffer
	l := slog.New(redact.NewHandler(slog.NewTextHandler(&buf, nil), redact.Options{Secrets: []string{canary}}))
	f.Fuzz(func(t *testing.T, s string, pos uint) {
		got := redact.String(s)
		if again := redact.String(got); again != got {
			t.Fatalf("String(%q) = %q, but String of that = %q", s, got, again)
		}
		i := int(pos % uint(len(s)+1))
		planted := s[:i] + canary + s[i:]
		buf.Reset()
		l.Info(planted, "v", planted, slog.Group("g", "e", planted))
		if strings.Contains(buf.String(), canary) {
			t.Fatalf("canary survived in %q", buf.String())
		}
	})
}

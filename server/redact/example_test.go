package redact_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/helix-agents/helix-go/server/redact"
)

func Example() {
	// Drop the time so that the output is stable.
	text := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	})
	logger := slog.New(redact.NewHandler(text, redact.Options{
		Secrets: []string{"alice-key-123"}, // the configured API keys
	}))

	logger.Info("request", "principal", "alice", "authorization", "Bearer alice-key-123")
	logger.Error("store unavailable", "dsn", "postgres://helix:s3cr3t@db/helix",
		"err", errors.New("upstream said: invalid key alice-key-123"))

	fmt.Println(redact.String("curl -H 'Authorization: Bearer sk-ant-api03-AbCdEfGhIjKlMnOpQrSt'"))
	// Output:
	// level=INFO msg=request principal=alice authorization=[REDACTED]
	// level=ERROR msg="store unavailable" dsn=postgres://helix:xxxxx@db/helix err="upstream said: invalid key [REDACTED]"
	// curl -H 'Authorization: Bearer [REDACTED]'
}

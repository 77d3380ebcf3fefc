package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genai"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/internal/httpx"
)

// call records what the HTTP layer saw of one Stream call, which the SDK
// does not report: whether the request left, the response's status and
// headers (Retry-After), and how the body ended. The SDK reads the body in
// the goroutine that iterates the stream, so no lock is needed.
type call struct {
	sent    bool
	status  int
	header  http.Header
	readErr error  // a read error other than io.EOF
	eof     bool   // the body was read to its end
	tail    []byte // the body's last bytes, to tell a cut event from a bad one
}

// callKey is the context key under which Stream passes its *call to
// watchTransport.
type callKey struct{}

// watchTransport fills in the *call found in a request's context.
type watchTransport struct {
	base http.RoundTripper
}

func (t *watchTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c, _ := req.Context().Value(callKey{}).(*call)
	if c == nil {
		return t.base.RoundTrip(req)
	}
	c.sent = true
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	c.status, c.header = resp.StatusCode, resp.Header
	resp.Body = &watchBody{rc: resp.Body, c: c}
	return resp, nil
}

type watchBody struct {
	rc io.ReadCloser
	c  *call
}

const tailLen = 4

func (b *watchBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.c.tail = append(b.c.tail, p[:n]...)
		if len(b.c.tail) > tailLen {
			b.c.tail = append(b.c.tail[:0], b.c.tail[len(b.c.tail)-tailLen:]...)
		}
	}
	switch {
	case err == io.EOF:
		b.c.eof = true
	case err != nil && b.c.readErr == nil:
		b.c.readErr = err
	}
	return n, err
}

func (b *watchBody) Close() error { return b.rc.Close() }

// cut reports whether the body ended in the middle of an event: read to its
// end without the blank line that closes an event.
func (c *call) cut() bool {
	if !c.eof {
		return false
	}
	t := string(c.tail)
	return t != "" && !strings.HasSuffix(t, "\n\n") && !strings.HasSuffix(t, "\r\n\r\n")
}

// classify turns an error of the SDK's stream into the error Stream yields.
// event is the 1-based number of the event being read.
func classify(ctx context.Context, c *call, err error, event int) error {
	if ctx.Err() != nil && !errors.Is(err, llm.ErrIdleTimeout) {
		return context.Cause(ctx)
	}
	var ge genai.APIError
	var gp *genai.APIError
	switch {
	case errors.As(err, &ge):
		return apiError(ge, c, time.Now())
	case errors.As(err, &gp) && gp != nil:
		return apiError(*gp, c, time.Now())
	case !c.sent:
		// The SDK refused to build the request.
		return &llm.APIError{Provider: provider, Message: "invalid request: " + err.Error()}
	case c.status == 0:
		return httpx.TransportError(ctx, provider, err)
	case c.status < 200 || c.status > 299:
		// An error status whose body could not be read.
		return llm.NewStatusError(provider, c.status, http.StatusText(c.status))
	case c.readErr != nil:
		return httpx.TransportError(ctx, provider, c.readErr)
	case c.cut():
		return httpx.Truncated(provider)
	}
	return httpx.Malformed(provider, decodeCause(err, event))
}

// decodeCause describes why an event could not be read without echoing its
// content.
func decodeCause(err error, event int) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("event %d is not JSON: %w", event, se)
	case errors.As(err, &te):
		return fmt.Errorf("event %d: %w", event, te)
	}
	return fmt.Errorf("event %d is not a GenerateContentResponse data event", event)
}

// maxMessage caps the length of an error message taken from a response
// body (a proxy may answer with a whole HTML page).
const maxMessage = 2048

// apiError maps an error the API reported, as a response status or as an
// error event in the stream.
func apiError(ge genai.APIError, c *call, now time.Time) *llm.APIError {
	status := ge.Code
	if c.status != 0 && (c.status < 200 || c.status > 299) {
		status = c.status
	}
	msg := ge.Message
	if len(msg) > maxMessage {
		msg = msg[:maxMessage] + "…"
	}
	e := &llm.APIError{Provider: provider, Status: status, Message: msg, Retryable: llm.RetryableStatus(status)}
	if isStatusCode(ge.Status) {
		e.Code = ge.Status
	}
	if c.header != nil && (c.status < 200 || c.status > 299) {
		e.RetryAfter = llm.ParseRetryAfter(c.header.Get("Retry-After"), now)
	}
	if e.RetryAfter == 0 {
		e.RetryAfter = retryDelay(ge.Details)
	}
	return e
}

// isStatusCode reports whether s looks like a google.rpc.Code name
// (RESOURCE_EXHAUSTED) rather than an HTTP status line ("502 Bad Gateway"),
// which the SDK puts in the same field for bodies that are not JSON.
func isStatusCode(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && r != '_' {
			return false
		}
	}
	return true
}

const retryInfoType = "type.googleapis.com/google.rpc.RetryInfo"

// retryDelay reads the retryDelay of a google.rpc.RetryInfo error detail:
// a protobuf Duration in its JSON form, decimal seconds with an "s" suffix
// ("7s", "45.837906927s").
func retryDelay(details []map[string]any) time.Duration {
	for _, d := range details {
		if t, _ := d["@type"].(string); t != retryInfoType {
			continue
		}
		v, _ := d["retryDelay"].(string)
		secs, ok := strings.CutSuffix(strings.TrimSpace(v), "s")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(secs, 64)
		if err != nil || f <= 0 || f > 1e6 {
			continue
		}
		return time.Duration(f * float64(time.Second))
	}
	return 0
}

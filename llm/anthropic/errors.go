package anthropic

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	sdk "github.com/anthropics/anthropic-sdk-go"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/internal/httpx"
)

// typeStatus is the HTTP status each of Anthropic's error types is sent
// with. A mid-stream error event has no status of its own (the stream's
// was 200), so its type stands for it.
var typeStatus = map[string]int{
	"invalid_request_error": http.StatusBadRequest,
	"authentication_error":  http.StatusUnauthorized,
	"billing_error":         http.StatusPaymentRequired,
	"permission_error":      http.StatusForbidden,
	"not_found_error":       http.StatusNotFound,
	"request_too_large":     http.StatusRequestEntityTooLarge,
	"rate_limit_error":      http.StatusTooManyRequests,
	"api_error":             http.StatusInternalServerError,
	"timeout_error":         http.StatusGatewayTimeout,
	"overloaded_error":      529,
}

// apiError turns the SDK's error for an error status or a mid-stream error
// event into an [*llm.APIError].
func apiError(ae *sdk.Error) error {
	raw := ae.RawJSON()
	status := ae.StatusCode
	midStream := status < 400
	if midStream && !json.Valid([]byte(raw)) {
		return httpx.Malformed(provider, errors.New("error event data is not JSON"))
	}
	code, msg := errorBody(raw)
	e := &llm.APIError{Provider: provider, Code: code, Message: msg, Err: ae}
	if midStream {
		e.Status = typeStatus[code]
	} else {
		e.Status = status
		if ae.Response != nil {
			e.RetryAfter = retryAfter(ae.Response.Header, time.Now())
		}
	}
	e.Retryable = e.Status != 0 && llm.RetryableStatus(e.Status)
	if e.Message == "" {
		e.Message = http.StatusText(e.Status)
	}
	return e
}

// errorBody reads Anthropic's error envelope,
// {"type":"error","error":{"type":"…","message":"…"},"request_id":"…"}.
// A body that is not one (a proxy's HTML page) gives its start as message.
func errorBody(raw string) (code, msg string) {
	var env struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(raw), &env) == nil && (env.Error.Type != "" || env.Error.Message != "") {
		return env.Error.Type, env.Error.Message
	}
	return "", excerpt(strings.TrimSpace(raw), 200)
}

// excerpt returns s cut to at most n bytes, on a rune boundary.
func excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// retryAfter reads the delay a response asks for: retry-after-ms if
// present, else retry-after (seconds or an HTTP date).
func retryAfter(h http.Header, now time.Time) time.Duration {
	if ms, err := strconv.ParseFloat(strings.TrimSpace(h.Get("Retry-After-Ms")), 64); err == nil && ms > 0 {
		return time.Duration(ms * float64(time.Millisecond))
	}
	return llm.ParseRetryAfter(h.Get("Retry-After"), now)
}

// invalid returns the non-retryable error for a request the adapter cannot
// send.
func invalid(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &llm.APIError{Provider: provider, Message: "invalid request: " + err.Error(), Err: err}
}

// undecodable describes why an event could not be decoded without echoing
// its content.
func undecodable(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("event data is not valid JSON (offset %d)", se.Offset)
	case errors.As(err, &te):
		return fmt.Errorf("event field %q has the wrong type", te.Field)
	}
	return fmt.Errorf("undecodable event (%T)", err)
}

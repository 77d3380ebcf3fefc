package openai

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/internal/httpx"
)

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// call is the state of one Stream call that the SDK does not keep: what
// happened on the wire, so that a failure can be classified. The SDK calls
// the middleware and reads the body on the goroutine iterating the stream.
type call struct {
	key  string
	sent bool  // the request went out and a 2xx response came back
	net  error // the first transport failure: sending, or reading the body
	body *body
}

// middleware turns an error status into an [*llm.APIError] itself, so that
// every error body (OpenAI's, vLLM's, Ollama's, a proxy's HTML page) keeps
// its status and Retry-After, and wraps a successful response's body to
// watch it.
func (c *call) middleware(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	res, err := next(req)
	if err != nil {
		c.net = err
		return nil, err
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return nil, c.statusError(res)
	}
	c.sent = true
	c.body = &body{rc: res.Body, c: c}
	res.Body = c.body
	return res, nil
}

// statusError reads an error response.
func (c *call) statusError(res *http.Response) error {
	defer res.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
	e := &llm.APIError{
		Provider:   provider,
		Status:     res.StatusCode,
		RetryAfter: retryAfter(res.Header, time.Now()),
		Retryable:  llm.RetryableStatus(res.StatusCode),
	}
	e.Code, _, e.Message = errorBody(data)
	if e.Message == "" {
		e.Message = http.StatusText(res.StatusCode)
	}
	e.Message = c.redact(e.Message)
	return e
}

// classify turns the error that ended the SDK's stream into this package's
// errors.
func (c *call) classify(ctx context.Context, err error) error {
	var ae *llm.APIError
	var se *ssestream.StreamError
	var oe *sdk.Error
	switch {
	case ctx.Err() != nil:
		return httpx.TransportError(ctx, provider, err)
	case errors.As(err, &ae):
		return err
	case errors.As(err, &se):
		return c.streamError(se.Event.Data)
	case c.net != nil:
		return c.scrub(httpx.TransportError(ctx, provider, c.net))
	case errors.As(err, &oe):
		// Not reached while the middleware handles error statuses; kept in
		// case the SDK reports one on its own.
		return c.scrub(&llm.APIError{Provider: provider, Status: oe.StatusCode, Code: cmp.Or(oe.Code, oe.Type),
			Message: cmp.Or(oe.Message, http.StatusText(oe.StatusCode)), Retryable: llm.RetryableStatus(oe.StatusCode), Err: err})
	case !c.sent:
		// The SDK could not build or send the request.
		return c.scrub(&llm.APIError{Provider: provider, Message: "request failed: " + err.Error(), Err: err})
	}
	// The body was read but an event could not be decoded (a JSON error,
	// or a line over the SDK's 32 MiB limit).
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return httpx.Malformed(provider, fmt.Errorf("event is not JSON (offset %d): %w", syn.Offset, err))
	case errors.As(err, &typ):
		return httpx.Malformed(provider, fmt.Errorf("event is a JSON %s, not a chunk object: %w", typ.Value, err))
	}
	if errors.Is(err, bufio.ErrTooLong) {
		return httpx.Malformed(provider, errors.New("an event line is longer than the SDK reads (32 MiB)"))
	}
	return httpx.Malformed(provider, fmt.Errorf("event could not be read: %w", err))
}

// streamError reads an error event in the stream: an HTTP 200 stream that
// failed after it started. Its Status is 0; it is retryable when its code
// or type names a server-side or capacity failure.
func (c *call) streamError(data []byte) error {
	code, num, msg := errorBody(data)
	e := &llm.APIError{Provider: provider, Code: code, Message: "error event in stream"}
	if msg != "" {
		e.Message += ": " + c.redact(msg)
	}
	switch {
	case num != 0:
		e.Retryable = llm.RetryableStatus(num)
	default:
		switch strings.ToLower(code) {
		case "server_error", "internal_error", "internal_server_error", "api_error", "rate_limit_exceeded",
			"rate_limit_error", "overloaded", "overloaded_error", "service_unavailable", "timeout":
			e.Retryable = true
		}
	}
	return e
}

// errorBody reads the error shapes compatible servers send:
// {"error":{"message","type","code"}} (OpenAI), {"error":"text"} (Ollama),
// {"message","type","code"} at the top (vLLM), {"detail":"text"} (FastAPI
// servers), or anything else, whose text is kept short. code is the
// error's string code, else its type; num is a numeric code, if any.
func errorBody(data []byte) (code string, num int, msg string) {
	type fields struct {
		Message json.RawMessage `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
	}
	read := func(f fields) {
		var s string
		if json.Unmarshal(f.Message, &s) == nil {
			msg = s
		} else if len(f.Message) > 0 && string(f.Message) != "null" {
			msg = string(f.Message)
		}
		var cs string
		var cn float64
		switch {
		case json.Unmarshal(f.Code, &cs) == nil && cs != "":
			code = cs
		case json.Unmarshal(f.Code, &cn) == nil:
			num = int(cn)
		}
		if code == "" {
			code = f.Type
		}
	}
	var top struct {
		fields
		Error  json.RawMessage `json:"error"`
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(data, &top) != nil {
		return "", 0, snippet(data)
	}
	var inner fields
	var s string
	switch {
	case json.Unmarshal(top.Error, &inner) == nil:
		read(inner)
	case json.Unmarshal(top.Error, &s) == nil:
		msg = s
	default:
		read(top.fields)
	}
	if msg == "" && json.Unmarshal(top.Detail, &s) == nil {
		msg = s
	}
	if msg == "" && code == "" && num == 0 {
		msg = snippet(data)
	}
	return code, num, msg
}

// snippet is the start of a non-JSON error body, on one line.
func snippet(data []byte) string {
	const limit = 300
	s := strings.Join(strings.Fields(string(bytes.ToValidUTF8(data, []byte("?")))), " ")
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// retryAfter reads the delay a response asks for: Retry-After-Ms (OpenAI's
// millisecond header) first, then Retry-After.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < 1e12 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	return llm.ParseRetryAfter(h.Get("Retry-After"), now)
}

// redact removes the API key from s.
func (c *call) redact(s string) string {
	if c.key == "" {
		return s
	}
	return strings.ReplaceAll(s, c.key, "[redacted]")
}

// scrub redacts the key from an APIError's message.
func (c *call) scrub(err error) error {
	var ae *llm.APIError
	if errors.As(err, &ae) {
		ae.Message = c.redact(ae.Message)
	}
	return err
}

// body watches a successful response's body: it keeps the first read
// failure, which the SDK's stream reports like a decoding error, and notes
// whether the closing "data: [DONE]" line went by.
type body struct {
	rc   io.ReadCloser
	c    *call
	done bool   // a complete [DONE] line was read
	line []byte // the start of the current line, at most lineCap bytes
}

const lineCap = 16

func (b *body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	for _, ch := range p[:n] {
		if ch != '\n' {
			if len(b.line) < lineCap {
				b.line = append(b.line, ch)
			}
			continue
		}
		if isDone(b.line) {
			b.done = true
		}
		b.line = b.line[:0]
	}
	if err != nil && err != io.EOF && b.c.net == nil {
		b.c.net = err
	}
	return n, err
}

func (b *body) Close() error { return b.rc.Close() }

// isDone reports whether an SSE line is a data line holding [DONE], as the
// SDK reads it.
func isDone(line []byte) bool {
	v, ok := bytes.CutPrefix(line, []byte("data:"))
	if !ok {
		return false
	}
	v = bytes.TrimPrefix(v, []byte(" "))
	return bytes.HasPrefix(v, []byte("[DONE]"))
}

// invalid returns the non-retryable error for a request the adapter cannot
// encode, the same kind the other adapters return.
func invalid(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &llm.APIError{Provider: provider, Message: "invalid request: " + err.Error(), Err: err}
}

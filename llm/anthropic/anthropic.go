// Package anthropic is an [llm.Model] for Anthropic's Messages API, built on
// the official Go SDK (github.com/anthropics/anthropic-sdk-go).
//
// Every call streams (POST /v1/messages with "stream": true). The SDK's own
// retries are off: a failure is returned once, as an [*llm.APIError] whose
// Retryable field says whether to try again (see [llm.StreamWithRetry]).
//
// # Request mapping
//
//   - [llm.Request.System] becomes one system text block.
//   - User messages carry text, images (base64 image blocks: JPEG, PNG, GIF,
//     WebP), PDFs (base64 document blocks) and text/* files (plain-text
//     document blocks). Empty text parts are dropped: the API rejects them.
//   - Assistant messages carry their thinking blocks first, as the API
//     requires, then text and tool_use blocks in order. A thinking part is
//     sent back verbatim with its signature; a redacted one
//     ([llm.Part.Redacted]) as a redacted_thinking block whose data is
//     [llm.Part.Signature]. Thinking parts without a signature (from another
//     provider, or cut short) cannot be verified by the API and are dropped.
//     Tool-call arguments that are not a JSON object (a malformed call kept
//     as a JSON string by [llm.NormalizeArguments]) are sent as {}.
//   - Tool messages become user messages of tool_result blocks (content
//     [llm.ToolResult.Text], is_error); consecutive tool messages merge into
//     one user message.
//   - [llm.ToolChoice]: auto is the API's default and is not sent; required
//     is {"type":"any"}, a named tool {"type":"tool","name":…}, none
//     {"type":"none"}. Tool choice is sent only with tools.
//   - [llm.Request.Output] becomes output_config.format, a json_schema
//     format (generally available in the API and SDK). The format has no
//     name field: [llm.OutputFormat.Name] and Description travel as the
//     schema's "title" and "description" when the schema has none.
//     Anthropic always decodes with the schema; Strict changes nothing.
//
// # Settings
//
// max_tokens is required by the API: [llm.Settings.MaxOutputTokens], or
// [Options.MaxTokens] (default 4096) when it is 0. [llm.Settings.Seed] has
// no Anthropic equivalent and is ignored.
//
// [llm.Settings.ThinkingBudget] > 0 turns on extended thinking with that
// budget ({"type":"enabled","budget_tokens":n}; the API wants at least 1024
// and less than max_tokens). When it is 0, [llm.Settings.ReasoningEffort]
// picks a budget: "low" 1024, "medium" 4096, "high" 16384 tokens; "minimal"
// and "" leave thinking off. With thinking on, the default max_tokens grows
// to budget + [Options.MaxTokens], an effort-derived budget is shrunk to fit
// below an explicit MaxOutputTokens (and dropped if that leaves less than
// 1024), and temperature is not sent, since the API refuses it with
// thinking.
//
// [llm.Settings.Cache] places cache_control {"type":"ephemeral"} breakpoints
// (with "ttl":"1h" when TTL is "1h"): System on the system block, Tools on
// the last tool, Messages on the last block of the last message that can
// carry one. That is at most 3 of the API's 4 breakpoints.
//
// # Stream mapping
//
// text_delta is [llm.EventTextDelta]; thinking_delta [llm.EventThinkingDelta],
// and the end of a thinking block [llm.EventThinkingEnd] with the signature
// from its signature_delta; a redacted_thinking block is an EventThinkingEnd
// with Redacted set and its data as Signature. A tool_use block is
// [llm.EventToolCallStart], one [llm.EventToolCallDelta] per input_json_delta
// and, at its end, [llm.EventToolCall] with the joined input passed through
// [llm.NormalizeArguments]. At message_stop come [llm.EventUsage] (prompt =
// input + cache read + cache creation tokens, cached = cache read tokens,
// completion = output tokens, reasoning = output_tokens_details.thinking_tokens
// when reported) and [llm.EventFinish]. Stop reasons: end_turn and
// stop_sequence are stop, tool_use tool_calls, max_tokens and
// model_context_window_exceeded length, refusal content_filter, anything
// else (pause_turn included) other.
//
// # Errors
//
// HTTP error statuses and mid-stream error events become an [*llm.APIError]
// with the error's type as Code ("rate_limit_error", "overloaded_error", …),
// the Retry-After delay, and Retryable per [llm.RetryableStatus]. A
// mid-stream error has no HTTP status of its own: its Status is the one its
// type stands for (529 for overloaded_error, 500 for api_error, …). A stream
// that ends before message_stop is a retryable truncation error; an event
// that cannot be read is a non-retryable malformed-stream error; a cancelled
// ctx ends the stream with the context's error.
package anthropic

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/internal/httpx"
)

// provider is the [llm.APIError.Provider] of this adapter's errors.
const provider = "anthropic"

// Defaults of [Options].
const (
	// DefaultModel is the model used when neither [Options.Model] nor
	// [llm.Settings.Model] names one.
	DefaultModel = "claude-sonnet-4-5"
	// DefaultBaseURL is Anthropic's API.
	DefaultBaseURL = "https://api.anthropic.com"
	// DefaultMaxTokens is the max_tokens sent when
	// [llm.Settings.MaxOutputTokens] is 0.
	DefaultMaxTokens = 4096
)

// Options configure [New]. The zero value is usable but sends no API key.
type Options struct {
	// APIKey is sent in the x-api-key header. Empty sends none (for a proxy
	// that adds it). The environment is never read.
	APIKey string
	// BaseURL is the API's base URL, without /v1 (default DefaultBaseURL).
	BaseURL string
	// Model is the model used when a request's Settings.Model is empty
	// (default DefaultModel).
	Model string
	// MaxTokens is the max_tokens sent when a request's
	// Settings.MaxOutputTokens is 0 (default DefaultMaxTokens). With
	// thinking on, the thinking budget is added to it.
	MaxTokens int
	// HTTPClient is the client requests are sent through; nil means one
	// over http.DefaultTransport. Its Timeout, if any, bounds whole streams:
	// prefer IdleTimeout.
	HTTPClient *http.Client
	// IdleTimeout fails a stream that receives nothing for this long with a
	// retryable error wrapping [llm.ErrIdleTimeout]. 0 means
	// httpx.DefaultIdleTimeout (2 minutes); a negative value disables it.
	IdleTimeout time.Duration
}

// Model streams answers from Anthropic's Messages API. It is safe for
// concurrent use and immutable after construction.
type Model struct {
	messages  sdk.MessageService
	model     string
	maxTokens int64
	key       string // kept only to scrub it from error messages
}

var _ llm.Model = (*Model)(nil)

// New returns a model configured by opts. It fails for a negative
// MaxTokens or a BaseURL that is not an absolute http(s) URL.
func New(opts Options) (*Model, error) {
	if opts.MaxTokens < 0 {
		return nil, fmt.Errorf("anthropic: Options.MaxTokens is negative (%d)", opts.MaxTokens)
	}
	base := cmp.Or(strings.TrimSpace(opts.BaseURL), DefaultBaseURL)
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("anthropic: Options.BaseURL %q is not an absolute http(s) URL", base)
	}
	idle := opts.IdleTimeout
	if idle == 0 {
		idle = httpx.DefaultIdleTimeout
	}
	ropts := []option.RequestOption{
		// The adapter is configured by Options alone: no ANTHROPIC_*
		// variables, profiles or config files.
		option.WithoutEnvironmentDefaults(),
		option.WithBaseURL(base),
		option.WithHTTPClient(httpx.Client(opts.HTTPClient, idle)),
		option.WithMaxRetries(0),
	}
	if opts.APIKey != "" {
		ropts = append(ropts, option.WithAPIKey(opts.APIKey))
	}
	c := sdk.NewClient(ropts...)
	return &Model{
		messages:  c.Messages,
		model:     cmp.Or(strings.TrimSpace(opts.Model), DefaultModel),
		maxTokens: int64(cmp.Or(opts.MaxTokens, DefaultMaxTokens)),
		key:       opts.APIKey,
	}, nil
}

// Stream sends req and yields the answer as it streams. The sequence ends
// after [llm.EventFinish] or with an error, which is an [*llm.APIError]
// unless ctx was cancelled (then it is the context's error). Stopping the
// iteration early closes the connection.
func (m *Model) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		if req == nil {
			yield(llm.Event{}, invalid("nil request"))
			return
		}
		params, err := m.params(req)
		if err != nil {
			yield(llm.Event{}, err)
			return
		}
		var w readWatch
		s := m.messages.NewStreaming(ctx, params, option.WithMiddleware(w.middleware))
		defer s.Close()
		if err := s.Err(); err != nil {
			yield(llm.Event{}, m.scrub(m.requestError(ctx, err)))
			return
		}
		var d decoder
		for s.Next() {
			if err := ctx.Err(); err != nil {
				yield(llm.Event{}, httpx.TransportError(ctx, provider, err))
				return
			}
			ev := s.Current()
			done, err := d.handle(&ev)
			for _, e := range d.out {
				if !yield(e, nil) {
					return
				}
			}
			d.out = d.out[:0]
			if err != nil {
				yield(llm.Event{}, err)
				return
			}
			if done {
				return
			}
		}
		yield(llm.Event{}, m.scrub(streamError(ctx, s.Err(), w.err)))
	}
}

// requestError classifies a failure of the request itself: an HTTP error
// status or a transport failure.
func (m *Model) requestError(ctx context.Context, err error) error {
	var ae *sdk.Error
	if errors.As(err, &ae) && ctx.Err() == nil {
		return apiError(ae)
	}
	return httpx.TransportError(ctx, provider, err)
}

// streamError classifies the end of an event stream that did not reach
// message_stop: err is the SDK stream's error (nil at a clean EOF) and
// readErr the error the response body returned, if any.
func streamError(ctx context.Context, err, readErr error) error {
	var ae *sdk.Error
	switch {
	case readErr != nil:
		return httpx.TransportError(ctx, provider, readErr)
	case ctx.Err() != nil:
		return httpx.TransportError(ctx, provider, ctx.Err())
	case err == nil:
		return httpx.Truncated(provider)
	case errors.As(err, &ae):
		return apiError(ae)
	}
	return httpx.Malformed(provider, undecodable(err))
}

// scrub removes the API key from an error's message, should a proxy or a
// transport ever echo it.
func (m *Model) scrub(err error) error {
	var ae *llm.APIError
	if m.key != "" && errors.As(err, &ae) && strings.Contains(ae.Message, m.key) {
		ae.Message = strings.ReplaceAll(ae.Message, m.key, "[redacted]")
	}
	return err
}

// readWatch records the first error a response body returns, so that a
// broken connection is told apart from an undecodable event: the SDK
// reports both through the same Err.
type readWatch struct {
	err error // written and read on the goroutine that iterates the stream
}

func (w *readWatch) middleware(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	res, err := next(r)
	if err == nil && res != nil && res.Body != nil {
		res.Body = &watchedBody{rc: res.Body, w: w}
	}
	return res, err
}

type watchedBody struct {
	rc io.ReadCloser
	w  *readWatch
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF && b.w.err == nil {
		b.w.err = err
	}
	return n, err
}

func (b *watchedBody) Close() error { return b.rc.Close() }

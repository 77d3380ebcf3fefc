// Package gemini is an [llm.Model] for Google's Gemini API (the Developer
// API at generativelanguage.googleapis.com, not Vertex AI), built on the
// official SDK google.golang.org/genai and its streamGenerateContent
// server-sent events.
//
// The adapter passes everything to the SDK explicitly: the key, the base URL
// and the API version. The SDK's own environment lookups (GEMINI_API_KEY,
// GOOGLE_API_KEY, GOOGLE_GEMINI_BASE_URL, GOOGLE_GENAI_USE_VERTEXAI) have no
// effect on a Model. The key travels in the x-goog-api-key header, never in
// the URL. The SDK's HTTP retries and its automatic stream continuation are
// switched off: one Stream call is one HTTP request, and retries are the
// caller's decision ([llm.StreamWithRetry]).
//
// # Requests
//
// [llm.Request.System] becomes the system instruction. User messages and
// tool results are "user" contents; tool results are functionResponse parts
// whose response is {"result": output}, or {"error": output} when the result
// is an error. Assistant messages are "model" contents with text and
// functionCall parts. Tools are function declarations whose
// parametersJsonSchema is the tool's JSON Schema as given. Tool choice maps
// to the function-calling mode: none → NONE, required → ANY, a named tool →
// ANY restricted to that name, auto → the API's default. [llm.OutputFormat]
// sets responseMimeType application/json and responseJsonSchema (the
// format's name and description become the schema's title and description
// unless the schema has its own). Strict flags have no Gemini equivalent and
// are ignored.
//
// Temperature, TopP, MaxOutputTokens, StopSequences and Seed (which must
// fit in 32 bits) go to the generation config. [llm.Settings.ThinkingBudget] becomes thinkingConfig with
// includeThoughts, so that thought summaries stream as thinking text; a
// negative budget asks for Gemini's dynamic thinking (-1). When the budget
// is 0, [llm.Settings.ReasoningEffort] picks one: "minimal" 512, "low" 1024,
// "medium" 8192, "high" 24576 tokens — values every Gemini 2.5 model
// accepts. Gemini caches prompt prefixes implicitly, so
// [llm.Settings.Cache] sends nothing; cached tokens are reported in
// [llm.Usage.CachedTokens].
//
// # Thought signatures
//
// Gemini 2.5 and 3 models return an opaque thoughtSignature on some parts
// (the first function call of a turn, or a text part) and require it back
// on that part in the next request. The llm types keep signatures on
// thinking parts only, so the adapter yields an [llm.EventThinkingEnd]
// carrying the signature (its thinking text may be empty) just before the
// part that carried it. When it builds a request, each signature of an
// assistant message goes onto the first function call after its thinking
// part (where Gemini requires it, and where it was: messages assembled from
// events keep thinking first and calls last), else onto the next text part,
// else onto the part before it. Thinking text is never sent back. A
// Signature is the base64 text Gemini sent.
//
// # Answers
//
// The adapter reads the first candidate. Text parts stream as text deltas
// and thought parts as thinking deltas; a function call arrives whole and
// is yielded as a start, one delta holding all its arguments and the
// completed call. Other parts (code execution, inline data) are skipped.
// Finish reasons: STOP is stop, or tool_calls when the answer called a
// function; MAX_TOKENS is length; SAFETY, RECITATION, BLOCKLIST,
// PROHIBITED_CONTENT, SPII and their image variants are content_filter, as
// is a prompt blocked by promptFeedback; anything else is other. Usage is
// the last usageMetadata: completion tokens are candidates plus thoughts,
// and cached tokens are counted within the prompt.
//
// # Tool call ids
//
// Gemini 2.5 gives function calls no id; the adapter then names them
// "call_<turn>_<n>" (turn: the number of assistant messages in the request
// plus one; n: the call's position in the answer), unique within a
// conversation. These ids are not sent back to Gemini; ids Gemini gave are.
//
// # Errors
//
// Failures are [*llm.APIError] values with Provider "gemini": Status is the
// HTTP status, Code Google's error status (RESOURCE_EXHAUSTED,
// INVALID_ARGUMENT, …), RetryAfter the Retry-After header or else the
// RetryInfo retryDelay of the error body. A stream that ends without a
// finish reason is a retryable truncation; an event the SDK cannot decode is
// a non-retryable malformed-stream error. A cancelled ctx ends the stream
// with the context's error.
package gemini

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/genai"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/internal/httpx"
)

const provider = "gemini"

// DefaultModel is the model a request uses when neither the request nor
// [Options.Model] names one.
const DefaultModel = "gemini-2.5-flash"

// DefaultBaseURL is the Gemini API's base URL.
const DefaultBaseURL = "https://generativelanguage.googleapis.com/"

// apiVersion is the API version the adapter speaks.
const apiVersion = "v1beta"

// Options configure a [Model]. The zero value is usable except for APIKey,
// which is required.
type Options struct {
	// APIKey is the Gemini API key, sent in the x-goog-api-key header.
	// Required; the environment is never consulted.
	APIKey string
	// BaseURL overrides the API's base URL (default DefaultBaseURL), for a
	// proxy or a test server. The API version and method path are appended
	// to it.
	BaseURL string
	// Model is the model used when a request's Settings.Model is empty
	// (default DefaultModel).
	Model string
	// HTTPClient sends the requests; nil means a client over
	// http.DefaultTransport. Its Timeout, if any, bounds a whole stream.
	HTTPClient *http.Client
	// IdleTimeout fails a stream that receives nothing for this long with a
	// retryable error wrapping [llm.ErrIdleTimeout]. 0 means the default,
	// 2 minutes; a negative value disables it.
	IdleTimeout time.Duration
}

// Model is a Gemini model. It is safe for concurrent use and immutable
// after construction.
type Model struct {
	client *genai.Client
	model  string
	key    string
}

var _ llm.Model = (*Model)(nil)

// New returns a Model configured by opts. ctx is used only while the SDK
// client is built. New fails if opts.APIKey is empty or opts.BaseURL is not
// an absolute http(s) URL.
func New(ctx context.Context, opts Options) (*Model, error) {
	key := strings.TrimSpace(opts.APIKey)
	if key == "" {
		return nil, errors.New("gemini: Options.APIKey is empty")
	}
	base := opts.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gemini: Options.BaseURL %q is not an absolute http(s) URL", base)
	}
	if u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("gemini: Options.BaseURL must not carry a query or credentials")
	}
	model := opts.Model
	if model == "" {
		model = DefaultModel
	}
	idle := opts.IdleTimeout
	if idle == 0 {
		idle = httpx.DefaultIdleTimeout
	}
	hc := httpx.Client(opts.HTTPClient, idle)
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	hc.Transport = &watchTransport{base: rt}

	noRetry := int32(1)
	c, err := genai.NewClient(ctx, &genai.ClientConfig{
		APIKey:     key,
		Backend:    genai.BackendGeminiAPI,
		HTTPClient: hc,
		HTTPOptions: genai.HTTPOptions{
			BaseURL:    base,
			APIVersion: apiVersion,
			// One attempt: retries belong to the caller.
			RetryOptions: &genai.HTTPRetryOptions{Attempts: &noRetry},
		},
	})
	if err != nil {
		// The SDK's messages dump its whole config, key included.
		return nil, fmt.Errorf("gemini: creating the SDK client: %s", redact(err.Error(), key))
	}
	return &Model{client: c, model: model, key: key}, nil
}

// Stream sends req and yields Gemini's answer as it arrives. See the
// package documentation for how requests and answers are mapped. Stopping
// the iteration early closes the connection.
func (m *Model) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		b, err := m.build(req)
		if err != nil {
			yield(llm.Event{}, err)
			return
		}
		c := &call{}
		ctx := context.WithValue(ctx, callKey{}, c)
		if err := m.run(ctx, c, b, yield); err != nil {
			yield(llm.Event{}, m.scrub(err))
		}
	}
}

// run streams one call. It returns the error to yield, or nil when the
// answer was complete or the consumer stopped.
func (m *Model) run(ctx context.Context, c *call, b *built, yield func(llm.Event, error) bool) (err error) {
	d := newDecoder(b.turn)
	consumer := false // true while the consumer's loop body runs
	emit := func(evs []llm.Event) bool {
		consumer = true
		for _, ev := range evs {
			if !yield(ev, nil) {
				consumer = false
				return false
			}
		}
		consumer = false
		return true
	}
	defer func() {
		// The SDK converts each event through untyped maps and panics on
		// some shapes (a candidate that is not an object). A panic in the
		// consumer's own code is not ours to hide.
		if consumer {
			return
		}
		if p := recover(); p != nil {
			err = httpx.Malformed(provider, fmt.Errorf("event %d has a shape the SDK cannot decode", d.chunks+1))
		}
	}()
	for resp, serr := range m.client.Models.GenerateContentStream(ctx, b.model, b.contents, b.config) {
		if serr != nil {
			return classify(ctx, c, serr, d.chunks+1)
		}
		evs, derr := d.chunk(resp)
		if derr != nil {
			return derr
		}
		if !emit(evs) {
			return nil
		}
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	evs, err := d.end()
	if err != nil {
		return err
	}
	emit(evs)
	return nil
}

// scrub makes sure no error text carries the key, whatever the SDK put in
// it.
func (m *Model) scrub(err error) error {
	var ae *llm.APIError
	if errors.As(err, &ae) && strings.Contains(ae.Message, m.key) {
		cp := *ae
		cp.Message = redact(cp.Message, m.key)
		cp.Err = nil
		return &cp
	}
	return err
}

func redact(s, key string) string {
	if key == "" {
		return s
	}
	return strings.ReplaceAll(s, key, "[redacted]")
}

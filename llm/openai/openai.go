package openai

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"time"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/internal/httpx"
)

// provider is the [llm.APIError.Provider] of this adapter's errors.
const provider = "openai"

// DefaultBaseURL is OpenAI's API, the base URL used when
// [Options.BaseURL] is empty.
const DefaultBaseURL = "https://api.openai.com/v1"

// DefaultModel is the model used when neither [Options.Model] nor a
// request's Settings.Model names one.
const DefaultModel = "gpt-4o-mini"

// Options configure [New]. The zero value talks to OpenAI with
// [DefaultModel], no API key and the default idle timeout.
type Options struct {
	// APIKey is sent as a bearer token. Empty sends no Authorization
	// header, which suits local servers (Ollama, llama.cpp, vLLM) that need
	// none. New never reads the environment: OPENAI_API_KEY is the caller's
	// business (llm/models reads it), so a key meant for OpenAI never
	// reaches another BaseURL by accident.
	APIKey string
	// RequireAPIKey makes New fail when APIKey is empty.
	RequireAPIKey bool
	// BaseURL is the API's base URL up to and including its version path;
	// empty means [DefaultBaseURL]. Point it at an OpenAI-compatible server,
	// for example http://localhost:11434/v1 (Ollama),
	// http://localhost:8000/v1 (vLLM), http://localhost:8080/v1
	// (llama.cpp), https://openrouter.ai/api/v1 or
	// https://RESOURCE.openai.azure.com/openai/v1 (Azure OpenAI).
	BaseURL string
	// Model is the model of requests whose Settings.Model is empty; empty
	// means [DefaultModel].
	Model string
	// Header holds extra headers for every request, such as
	// OpenAI-Organization, OpenAI-Project or OpenRouter's HTTP-Referer.
	// New copies it.
	Header http.Header
	// HTTPClient is the client requests go through; nil means one over
	// [http.DefaultTransport]. New does not modify it. Leave its Timeout 0:
	// it would bound whole streams, where IdleTimeout bounds silences.
	HTTPClient *http.Client
	// IdleTimeout fails a call when the server sends nothing for this long,
	// response headers included, with a retryable error wrapping
	// [llm.ErrIdleTimeout]. 0 means 2 minutes; a negative value disables
	// the timeout.
	IdleTimeout time.Duration
	// SystemRole is the role [llm.Request.System] is sent with: "system"
	// (the default, which every compatible server understands) or
	// "developer" (OpenAI's newer name for it).
	SystemRole string
	// LegacyMaxTokens sends Settings.MaxOutputTokens as max_tokens instead
	// of max_completion_tokens, for older compatible servers. OpenAI's
	// reasoning models reject max_tokens.
	LegacyMaxTokens bool
}

// Model streams answers from a Chat Completions endpoint. It is safe for
// concurrent use and immutable after [New].
type Model struct {
	svc             sdk.ChatCompletionService
	model           string
	key             string
	systemRole      string
	legacyMaxTokens bool
}

var _ llm.Model = (*Model)(nil)

// New returns a model configured by opts. It fails when BaseURL is not an
// absolute http or https URL, when SystemRole is neither "system" nor
// "developer", or, with RequireAPIKey, when APIKey is empty.
func New(opts Options) (*Model, error) {
	if opts.RequireAPIKey && opts.APIKey == "" {
		return nil, errors.New("openai: Options.APIKey is empty")
	}
	base := opts.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("openai: Options.BaseURL %q is not an http or https URL", base)
	}
	role := opts.SystemRole
	switch role {
	case "":
		role = "system"
	case "system", "developer":
	default:
		return nil, fmt.Errorf("openai: Options.SystemRole %q: want \"system\" or \"developer\"", role)
	}
	idle := opts.IdleTimeout
	if idle == 0 {
		idle = httpx.DefaultIdleTimeout
	}
	ropts := []option.RequestOption{
		option.WithBaseURL(base),
		option.WithHTTPClient(httpx.Client(opts.HTTPClient, idle)),
		option.WithMaxRetries(0),
	}
	if opts.APIKey != "" {
		ropts = append(ropts, option.WithAPIKey(opts.APIKey))
	}
	for k, vs := range opts.Header {
		for i, v := range vs {
			if i == 0 {
				ropts = append(ropts, option.WithHeader(k, v)) // replaces the SDK's default, if any
			} else {
				ropts = append(ropts, option.WithHeaderAdd(k, v))
			}
		}
	}
	m := &Model{
		// The service, unlike sdk.NewClient, reads no OPENAI_* variables.
		svc:             sdk.NewChatCompletionService(ropts...),
		model:           opts.Model,
		key:             opts.APIKey,
		systemRole:      role,
		legacyMaxTokens: opts.LegacyMaxTokens,
	}
	if m.model == "" {
		m.model = DefaultModel
	}
	return m, nil
}

// Stream sends req and yields the answer as it streams. The sequence ends
// after [llm.EventFinish] or with an error (see the package doc); stopping
// the iteration early closes the connection.
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
		c := &call{key: m.key}
		s := m.svc.NewStreaming(ctx, params, option.WithMiddleware(c.middleware))
		defer s.Close()
		p := newParser(req)
		for s.Next() {
			if ctx.Err() != nil {
				yield(llm.Event{}, httpx.TransportError(ctx, provider, ctx.Err()))
				return
			}
			chunk := s.Current()
			p.chunk(&chunk)
			for _, ev := range p.flush() {
				if !yield(ev, nil) {
					return
				}
			}
		}
		if err := s.Err(); err != nil {
			yield(llm.Event{}, c.classify(ctx, err))
			return
		}
		if ctx.Err() != nil {
			yield(llm.Event{}, httpx.TransportError(ctx, provider, ctx.Err()))
			return
		}
		if err := p.end(c.body != nil && c.body.done); err != nil {
			yield(llm.Event{}, err)
			return
		}
		for _, ev := range p.flush() {
			if !yield(ev, nil) {
				return
			}
		}
	}
}

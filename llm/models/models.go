// Package models opens a model from a spec string such as "openai:gpt-4o",
// the form the CLI and config files use:
//
//	openai:gpt-4o                   OPENAI_API_KEY, OPENAI_BASE_URL
//	anthropic:claude-sonnet-4-5     ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL
//	gemini:gemini-2.5-flash         GEMINI_API_KEY (or GOOGLE_API_KEY)
//	scripted:path/to/script.json    a scripted model (offline, deterministic)
//
// Keys come from the environment. A missing key is a one-line error naming
// the variable to set; with OPENAI_BASE_URL set (an OpenAI-compatible
// server such as Ollama or vLLM), OpenAI's key is optional. It is the one
// package that knows every provider: core packages never import it.
package models

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/anthropic"
	"github.com/helix-agents/helix-go/llm/gemini"
	"github.com/helix-agents/helix-go/llm/openai"
	"github.com/helix-agents/helix-go/llm/scripted"
)

// ErrBadSpec is wrapped by every error about the form of a spec string.
var ErrBadSpec = errors.New("models: bad model spec")

// ErrMissingKey is wrapped by the error for a provider whose API key
// variable is not set.
var ErrMissingKey = errors.New("models: missing API key")

// Spec is a parsed model spec: a provider and what it takes (a model name,
// or a script path for "scripted").
type Spec struct {
	Provider string
	Model    string
}

func (s Spec) String() string { return s.Provider + ":" + s.Model }

// Providers lists the providers a spec may name.
func Providers() []string { return []string{"anthropic", "gemini", "openai", "scripted"} }

// Parse reads "provider:model".
func Parse(spec string) (Spec, error) {
	p, m, ok := strings.Cut(strings.TrimSpace(spec), ":")
	p, m = strings.ToLower(strings.TrimSpace(p)), strings.TrimSpace(m)
	switch {
	case !ok:
		return Spec{}, fmt.Errorf("%w %q: want provider:model, e.g. openai:gpt-4o", ErrBadSpec, spec)
	case !slices.Contains(Providers(), p):
		return Spec{}, fmt.Errorf("%w %q: unknown provider %q (known: %s)", ErrBadSpec, spec, p, strings.Join(Providers(), ", "))
	case m == "":
		return Spec{}, fmt.Errorf("%w %q: no model named after %q", ErrBadSpec, spec, p+":")
	}
	return Spec{Provider: p, Model: m}, nil
}

// Options tune [Open]. The zero value reads the process environment.
type Options struct {
	// Getenv looks up environment variables; nil means os.Getenv.
	Getenv func(string) string
	// HTTPClient is the client providers send through; nil means a default.
	HTTPClient *http.Client
	// IdleTimeout cuts a stalled stream; 0 means each adapter's default.
	IdleTimeout time.Duration
}

// Open parses spec and returns its model.
func Open(ctx context.Context, spec string, o Options) (llm.Model, error) {
	s, err := Parse(spec)
	if err != nil {
		return nil, err
	}
	env := o.Getenv
	if env == nil {
		env = os.Getenv
	}
	key := func(vars ...string) (string, error) {
		for _, v := range vars {
			if k := strings.TrimSpace(env(v)); k != "" {
				return k, nil
			}
		}
		return "", fmt.Errorf("%w: model %s needs %s to be set", ErrMissingKey, s, strings.Join(vars, " or "))
	}
	switch s.Provider {
	case "openai":
		base := strings.TrimSpace(env("OPENAI_BASE_URL"))
		k, err := key("OPENAI_API_KEY")
		if err != nil && base == "" {
			return nil, err
		}
		return model(openai.New(openai.Options{APIKey: k, BaseURL: base, Model: s.Model, HTTPClient: o.HTTPClient, IdleTimeout: o.IdleTimeout}))
	case "anthropic":
		k, err := key("ANTHROPIC_API_KEY")
		if err != nil {
			return nil, err
		}
		return model(anthropic.New(anthropic.Options{APIKey: k, BaseURL: strings.TrimSpace(env("ANTHROPIC_BASE_URL")), Model: s.Model,
			HTTPClient: o.HTTPClient, IdleTimeout: o.IdleTimeout}))
	case "gemini":
		k, err := key("GEMINI_API_KEY", "GOOGLE_API_KEY")
		if err != nil {
			return nil, err
		}
		return model(gemini.New(ctx, gemini.Options{APIKey: k, Model: s.Model, HTTPClient: o.HTTPClient, IdleTimeout: o.IdleTimeout}))
	default: // scripted
		m, err := scripted.Load(s.Model)
		if err != nil {
			return nil, fmt.Errorf("models: %s: %w", s, err)
		}
		return m, nil
	}
}

// model returns m as an llm.Model, or a nil interface with err (never an
// interface holding a nil pointer).
func model[M llm.Model](m M, err error) (llm.Model, error) {
	if err != nil {
		return nil, err
	}
	return m, nil
}

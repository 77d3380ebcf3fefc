package server

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/scripted"
	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/server/auth"
	"github.com/helix-agents/helix-go/server/redact"
	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/memstore"
)

// Planted secrets. None of them may appear in any HTTP body or header, SSE
// event or log line, whatever fails.
const (
	canaryProviderKey = "sk-proj-CANARYprovider0123456789abcdefXYZ"
	canaryDSNPassword = "CanaryDsnPassw0rd"
	canaryJWT         = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjYW5hcnkiLCJleHAiOjQxMDI0NDQ4MDB9.Q2FuYXJ5U2lnbmF0dXJlMDEyMzQ1Njc4OWFiY2RlZg"
	canaryAPIKey      = aliceKey
)

var canaries = []string{canaryProviderKey, canaryDSNPassword, canaryJWT, canaryAPIKey,
	// distinctive fragments, in case a secret is cut or re-encoded
	"CANARYprovider", "Q2FuYXJ5U2lnbmF0dXJl"}

// flakyStore fails session lookups, with a driver-style error that quotes
// the DSN, while down is set.
type flakyStore struct {
	store.Store
	down atomic.Bool
}

func (f *flakyStore) outage() error {
	return fmt.Errorf("dial postgres://helix:%s@db.internal:5432/helix: connection refused", canaryDSNPassword)
}

func (f *flakyStore) GetSession(ctx context.Context, id string) (*store.Session, error) {
	if f.down.Load() {
		return nil, f.outage()
	}
	return f.Store.GetSession(ctx, id)
}

func (f *flakyStore) ListSessions(ctx context.Context, q store.SessionQuery) (store.Page[*store.Session], error) {
	if f.down.Load() {
		return store.Page[*store.Session]{}, f.outage()
	}
	return f.Store.ListSessions(ctx, q)
}

// unauthorizedModel is a provider answering 401 with the key echoed back,
// as OpenAI does ("Incorrect API key provided: sk-…").
type unauthorizedModel struct{}

func (unauthorizedModel) Stream(context.Context, *llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		yield(llm.Event{}, &llm.APIError{Provider: "openai", Status: 401, Code: "invalid_api_key",
			Message: "Incorrect API key provided: " + canaryProviderKey + ". Authorization: Bearer " + canaryProviderKey})
	}
}

func canaryAgents() []*helix.Agent {
	type in struct {
		Q string `json:"q"`
	}
	leaky := helix.NewTool("leaky", "fails with secrets in its error",
		func(context.Context, *helix.ToolContext, in) (string, error) {
			return "", fmt.Errorf("query failed: postgres://helix:%s@db/helix, token=%s, key %s, api %s",
				canaryDSNPassword, canaryJWT, canaryProviderKey, canaryAPIKey)
		})
	panicky := helix.NewTool("panicky", "panics with a secret",
		func(context.Context, *helix.ToolContext, in) (string, error) {
			panic("cannot use key " + canaryAPIKey + " with " + canaryProviderKey)
		})
	call := func(name string) scripted.Turn {
		return scripted.Turn{ToolCalls: []scripted.ToolCall{{ID: "c1", Name: name, Arguments: json.RawMessage(`{"q":"x"}`)}}}
	}
	return []*helix.Agent{
		helix.MustNewAgent(helix.AgentConfig{Name: "leaky", Tools: []*helix.Tool{leaky}, Model: scripted.Turns(call("leaky"), scripted.Turn{Text: "ok"})}),
		helix.MustNewAgent(helix.AgentConfig{Name: "panicky", Tools: []*helix.Tool{panicky}, Model: scripted.Turns(call("panicky"), scripted.Turn{Text: "ok"})}),
		helix.MustNewAgent(helix.AgentConfig{Name: "provider401", Model: unauthorizedModel{}}),
	}
}

func TestCanarySecretsNeverLeak(t *testing.T) {
	secrets := redact.Options{Secrets: []string{canaryAPIKey, bobKey}}
	fs := &flakyStore{Store: memstore.New()}
	var seen strings.Builder // every body, header and event the clients saw
	h := newHarness(t, harnessConfig{
		store:   fs,
		logWrap: func(h slog.Handler) slog.Handler { return redact.NewHandler(h, secrets) },
		rtOpts: func(o *local.Options) {
			o.ScrubToolError = redact.StringFunc(secrets)
			for _, a := range canaryAgents() {
				if err := o.Agents.Register(a); err != nil {
					t.Fatal(err)
				}
			}
		},
		opts: func(o *Options) {
			inner := o.Authenticator
			o.Authenticator = auth.AuthenticatorFunc(func(r *http.Request) (auth.Principal, error) {
				if r.URL.Query().Get("boom") != "" {
					panic("auth backend failed for key " + canaryAPIKey + " dsn postgres://u:" + canaryDSNPassword + "@h/db")
				}
				return inner.Authenticate(r)
			})
		},
	})
	record := func(r resp) {
		seen.WriteString(r.body)
		for k, vs := range r.header {
			seen.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
		}
	}
	stream := func(id string) {
		_, evs := h.sseEvents("/sse?sessionId="+id, aliceKey, nil)
		for _, ev := range evs {
			seen.WriteString(ev.ID + ev.Name + ev.Data + "\n")
		}
	}

	// A tool failure, a tool panic and a provider 401, streamed.
	for _, agent := range []string{"leaky", "panicky", "provider401"} {
		id := h.start(aliceKey, agent)
		stream(id)
		h.wait(id)
		record(h.do("GET", "/status?sessionId="+id, aliceKey, nil))
		record(h.do("GET", "/messages?sessionId="+id, aliceKey, nil))
	}
	// A handler panic whose message holds secrets.
	record(h.do("GET", "/sessions?boom=1", aliceKey, nil))
	// Credentials that fail: the wrong ones must not be logged either.
	record(h.do("GET", "/sessions", canaryProviderKey, nil))
	record(h.do("GET", "/sessions", canaryJWT, nil))
	// A store outage.
	fs.down.Store(true)
	record(h.do("GET", "/sessions", aliceKey, nil))
	record(h.do("GET", "/status?sessionId=s_x", aliceKey, nil))
	record(h.do("POST", "/start", aliceKey, map[string]any{"agentType": "echo", "sessionId": "s_y", "message": "x"}))
	record(h.do("GET", "/readyz", "", nil))
	fs.down.Store(false)

	logs := h.log.String()
	// The failures did happen and were logged (so the check below is not
	// vacuous).
	for _, want := range []string{"panic serving request", "tool panicked", "connection refused", "status=500"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q; the failure did not happen as planned", want)
		}
	}
	if !strings.Contains(seen.String(), `"code":"invalid_api_key"`) || !strings.Contains(seen.String(), "query failed") {
		t.Errorf("the provider 401 and the tool failure did not reach the client:\n%s", seen.String())
	}
	for _, c := range canaries {
		if strings.Contains(seen.String(), c) {
			t.Errorf("canary %q reached a client:\n%s", c, excerpt(seen.String(), c))
		}
		if strings.Contains(logs, c) {
			t.Errorf("canary %q reached the log:\n%s", c, excerpt(logs, c))
		}
	}
}

func excerpt(s, sub string) string {
	i := strings.Index(s, sub)
	lo, hi := max(0, i-200), min(len(s), i+len(sub)+200)
	return s[lo:hi]
}

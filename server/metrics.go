package server

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
)

// Metrics are the server's Prometheus metrics: HTTP latency and open
// streams, which the server records itself, and runs by status, steps,
// tokens and tool calls, which the runtime reports through [Metrics.Hooks].
// Create one with [NewMetrics], pass it in Options.Metrics and its Hooks in
// the runtime's options.
type Metrics struct {
	reg *prometheus.Registry

	httpDuration  *prometheus.HistogramVec
	activeStreams *prometheus.GaugeVec
	runsStarted   prometheus.Counter
	runsEnded     *prometheus.CounterVec
	steps         prometheus.Counter
	tokens        *prometheus.CounterVec
	toolCalls     *prometheus.CounterVec
}

// NewMetrics registers the Helix metrics, and the Go runtime and process
// collectors, on reg; a nil reg means a new registry of its own. /metrics
// serves reg.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &Metrics{
		reg: reg,
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "helix_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route, method and status code (streams: until they close).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10, 60, 300},
		}, []string{"route", "method", "code"}),
		activeStreams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "helix_active_streams",
			Help: "Open chunk streams, by transport.",
		}, []string{"transport"}),
		runsStarted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "helix_runs_started_total",
			Help: "Runs started or resumed.",
		}),
		runsEnded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "helix_runs_ended_total",
			Help: "Runs that ended, by status (completed, failed, interrupted, suspended_*).",
		}, []string{"status"}),
		steps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "helix_steps_total",
			Help: "Model calls made by runs (one per step).",
		}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "helix_tokens_total",
			Help: "Tokens used, by kind (prompt, completion, reasoning, cached).",
		}, []string{"kind"}),
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "helix_tool_calls_total",
			Help: "Tool calls executed, by tool and outcome (success, error).",
		}, []string{"tool", "outcome"}),
	}
	for _, tr := range []string{"sse", "ws"} {
		m.activeStreams.WithLabelValues(tr)
	}
	reg.MustRegister(m.httpDuration, m.activeStreams, m.runsStarted, m.runsEnded, m.steps, m.tokens, m.toolCalls)
	return m
}

// Registry returns the registry the metrics are registered on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Hooks returns best-effort runtime hooks that count runs, steps, tokens
// and tool calls. Tool names are label values, so they come from the
// registered agents, never from requests.
func (m *Metrics) Hooks() helix.Hooks {
	ended := func(status string) { m.runsEnded.WithLabelValues(status).Inc() }
	return helix.Hooks{
		BestEffort: true,
		OnAgentStart: func(context.Context, *helix.HookContext, helix.Input) error {
			m.runsStarted.Inc()
			return nil
		},
		OnAgentResumed: func(context.Context, *helix.HookContext) error {
			m.runsStarted.Inc()
			return nil
		},
		OnAgentComplete: func(context.Context, *helix.HookContext, json.RawMessage) error {
			ended(string(helix.StatusCompleted))
			return nil
		},
		OnAgentFail: func(context.Context, *helix.HookContext, error) error {
			ended(string(helix.StatusFailed))
			return nil
		},
		OnAgentSuspended: func(_ context.Context, _ *helix.HookContext, st helix.Status) error {
			ended(string(st))
			return nil
		},
		AfterLLMCall: func(_ context.Context, _ *helix.HookContext, _ llm.Message, u llm.Usage) error {
			m.steps.Inc()
			m.tokens.WithLabelValues("prompt").Add(float64(u.PromptTokens))
			m.tokens.WithLabelValues("completion").Add(float64(u.CompletionTokens))
			m.tokens.WithLabelValues("reasoning").Add(float64(u.ReasoningTokens))
			m.tokens.WithLabelValues("cached").Add(float64(u.CachedTokens))
			return nil
		},
		AfterTool: func(_ context.Context, _ *helix.HookContext, call llm.ToolCall, res llm.ToolResult) error {
			outcome := "success"
			if res.IsError {
				outcome = "error"
			}
			m.toolCalls.WithLabelValues(call.Name, outcome).Inc()
			return nil
		},
	}
}

func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/config"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/models"
	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/store"
	_ "github.com/helix-agents/helix-go/store/memstore"    // memory://
	_ "github.com/helix-agents/helix-go/store/pgstore"     // postgres://, postgresql://
	_ "github.com/helix-agents/helix-go/store/redisstore"  // redis://, rediss://
	_ "github.com/helix-agents/helix-go/store/sqlitestore" // sqlite://
)

// Defaults shared by the commands.
const (
	defaultStore      = "sqlite://./helix.db"
	defaultConfigFile = "helix.yaml"
	defaultModel      = "openai:gpt-4o-mini"
	offlineHint       = "--model scripted:examples/demo.json"
)

// flagSet is a flag.FlagSet whose flags may have a HELIX_* environment
// equivalent (the flag wins) and may come after positional arguments.
type flagSet struct {
	fs       *flag.FlagSet
	synopsis string            // "helix run [flags] AGENT MESSAGE"
	about    string            // a paragraph under the synopsis
	envOf    map[string]string // flag name → variable
}

func newFlagSet(name, synopsis, about string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &flagSet{fs: fs, synopsis: synopsis, about: about, envOf: map[string]string{}}
}

func (f *flagSet) withEnv(name, envVar, usage string) string {
	if envVar == "" {
		return usage
	}
	f.envOf[name] = envVar
	return usage + " (env " + envVar + ")"
}

func (f *flagSet) String(p *string, name, envVar, def, usage string) {
	f.fs.StringVar(p, name, def, f.withEnv(name, envVar, usage))
}

func (f *flagSet) Bool(p *bool, name, envVar string, def bool, usage string) {
	f.fs.BoolVar(p, name, def, f.withEnv(name, envVar, usage))
}

func (f *flagSet) Int(p *int, name, envVar string, def int, usage string) {
	f.fs.IntVar(p, name, def, f.withEnv(name, envVar, usage))
}

func (f *flagSet) Int64(p *int64, name, envVar string, def int64, usage string) {
	f.fs.Int64Var(p, name, def, f.withEnv(name, envVar, usage))
}

func (f *flagSet) Duration(p *time.Duration, name, envVar string, def time.Duration, usage string) {
	f.fs.DurationVar(p, name, def, f.withEnv(name, envVar, usage))
}

func (f *flagSet) Float64(p *float64, name, envVar string, def float64, usage string) {
	f.fs.Float64Var(p, name, def, f.withEnv(name, envVar, usage))
}

// List defines a repeatable flag whose values may also be comma-separated;
// its variable holds a comma-separated list. Values given on the command
// line replace those of the variable.
func (f *flagSet) List(p *listFlag, name, envVar, usage string) {
	f.fs.Var(p, name, f.withEnv(name, envVar, usage))
}

// listFlag is a repeatable flag.
type listFlag struct {
	vals    []string
	fromEnv bool
}

func (l *listFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(l.vals, ",")
}

func (l *listFlag) Set(v string) error {
	if l.fromEnv {
		l.vals, l.fromEnv = nil, false
	}
	l.vals = append(l.vals, v)
	return nil
}

// items returns the values split at commas, trimmed, without empty ones.
func (l *listFlag) items() []string {
	var out []string
	for _, v := range l.vals {
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

// parse applies the environment, then args. Flags may follow positional
// arguments ("helix run assistant hi --session s1"); "--" ends the flags.
// It returns the positional arguments, errHelp after printing the usage to
// stdout for -h, or a usageError.
func (f *flagSet) parse(args []string, env func(string) string, stdout io.Writer) ([]string, error) {
	names := make([]string, 0, len(f.envOf))
	for name := range f.envOf {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v := env(f.envOf[name])
		if v == "" {
			continue
		}
		fl := f.fs.Lookup(name)
		if lf, ok := fl.Value.(*listFlag); ok {
			lf.vals, lf.fromEnv = []string{v}, true
			continue
		}
		if err := fl.Value.Set(v); err != nil {
			// The value is not quoted: it may be a secret.
			return nil, usagef("%s: invalid value for --%s", f.envOf[name], name)
		}
	}
	var pos []string
	for {
		if err := f.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				f.usage(stdout)
				return nil, errHelp
			}
			return nil, usagef("%s: %v (see \"helix %s -h\")", f.fs.Name(), err, f.fs.Name())
		}
		rest := f.fs.Args()
		if consumed := args[:len(args)-len(rest)]; len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func (f *flagSet) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n\n", f.synopsis)
	if f.about != "" {
		fmt.Fprintf(w, "%s\n\n", f.about)
	}
	fmt.Fprintln(w, "Flags:")
	f.fs.SetOutput(w)
	f.fs.PrintDefaults()
	f.fs.SetOutput(io.Discard)
}

// parseLogLevel parses debug, info, warn or error.
func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, usagef("bad --log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// checkModelSpec reports a malformed model spec as a usage error.
// demoScript is the offline demo model's script, used when no model is
// named and no OpenAI key is set (a newcomer's first run in the repository).
const demoScript = "examples/demo.json"

// autoModel returns spec, or when it is empty the default model: OpenAI if
// its key (or a compatible server's URL) is set, else the scripted demo
// model if its script is here, saying so on w.
func autoModel(spec string, env func(string) string, w io.Writer) string {
	if spec != "" {
		return spec
	}
	if env("OPENAI_API_KEY") != "" || env("OPENAI_BASE_URL") != "" {
		return defaultModel
	}
	if _, err := os.Stat(demoScript); err == nil {
		fmt.Fprintf(w, "No OPENAI_API_KEY set: running offline on the scripted demo model (%s). Set the key, or pass --model, to use a real model.\n", demoScript)
		return "scripted:" + demoScript
	}
	return defaultModel
}

func checkModelSpec(spec string) error {
	if _, err := models.Parse(spec); err != nil {
		return usageError{fmt.Errorf("--model: %w", err)}
	}
	return nil
}

// openStore opens the store at rawURL; a malformed URL or an unknown scheme
// is a usage error.
func openStore(ctx context.Context, rawURL string) (store.Store, error) {
	scheme, _, ok := strings.Cut(rawURL, "://")
	if !ok || scheme == "" {
		return nil, usagef("bad store URL %q: want scheme://…, e.g. %s (schemes: %s)",
			store.RedactURL(rawURL), defaultStore, strings.Join(store.Schemes(), ", "))
	}
	if !slices.Contains(store.Schemes(), strings.ToLower(scheme)) {
		return nil, usagef("bad store URL %q: unknown scheme %q (schemes: %s)",
			store.RedactURL(rawURL), scheme, strings.Join(store.Schemes(), ", "))
	}
	st, err := store.Open(ctx, rawURL)
	if err != nil {
		if strings.Contains(err.Error(), "malformed store URL") {
			return nil, usageError{err}
		}
		return nil, err
	}
	return st, nil
}

// loadConfig reads the configuration: path if set, else ./helix.yaml if it
// exists, else config.Default(). It creates a missing workspace directory,
// saying so on stderr. Every failure is a usage error.
func loadConfig(path string, stderr io.Writer) (*config.File, error) {
	if path == "" {
		if _, err := os.Stat(defaultConfigFile); err != nil {
			return config.Default(), nil
		}
		path = defaultConfigFile
	}
	f, err := config.Load(path)
	if err != nil {
		return nil, usageError{err}
	}
	if f.Workspace != "" {
		if _, err := os.Stat(f.Workspace); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(f.Workspace, 0o750); err != nil {
				return nil, fmt.Errorf("create workspace: %w", err)
			}
			fmt.Fprintf(stderr, "Created the workspace directory %s (the file tools are confined to it).\n", f.Workspace)
		}
	}
	return f, nil
}

// modelSet opens model specs for config.Build, once each. A provider whose
// API key is missing gets a stand-in model whose every call fails with a
// non-retryable error naming the variable, so that a server starts without
// keys and a run fails cleanly.
type modelSet struct {
	env func(string) string

	mu      sync.Mutex
	opened  map[string]llm.Model // guarded by mu
	missing map[string]error     // spec → ErrMissingKey error; guarded by mu
}

func newModelSet(env func(string) string) *modelSet {
	return &modelSet{env: env, opened: map[string]llm.Model{}, missing: map[string]error{}}
}

func (ms *modelSet) open(ctx context.Context, spec string) (llm.Model, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if m, ok := ms.opened[spec]; ok {
		return m, nil
	}
	m, err := models.Open(ctx, spec, models.Options{Getenv: ms.env})
	if errors.Is(err, models.ErrMissingKey) {
		s, _ := models.Parse(spec)
		ms.missing[spec] = err
		m, err = missingKeyModel{provider: s.Provider, err: err}, nil
	}
	if err != nil {
		return nil, err
	}
	ms.opened[spec] = m
	return m, nil
}

// missingKey returns the missing-key error of spec, or nil.
func (ms *modelSet) missingKey(spec string) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.missing[spec]
}

// missingKeys returns one line per spec whose key is missing.
func (ms *modelSet) missingKeys() []string {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	var lines []string
	for _, err := range ms.missing {
		lines = append(lines, missingKeyHint(err))
	}
	slices.Sort(lines)
	return lines
}

func missingKeyHint(err error) string {
	msg := strings.TrimPrefix(err.Error(), models.ErrMissingKey.Error()+": ")
	return "no model available: " + msg + "; set it, or run offline with " + offlineHint
}

// codeMissingKey is the error code of a run whose model has no API key.
const codeMissingKey = "missing_api_key"

// missingKeyModel stands in for a model whose API key is not set.
type missingKeyModel struct {
	provider string
	err      error
}

func (m missingKeyModel) Stream(context.Context, *llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		yield(llm.Event{}, &llm.APIError{Provider: m.provider, Code: codeMissingKey, Message: m.err.Error(), Err: m.err})
	}
}

// agentModelSpec returns the model spec of the named agent of f.
func agentModelSpec(f *config.File, agent, def string) string {
	for _, a := range f.Agents {
		if a.Name == agent && a.Model != "" {
			return a.Model
		}
	}
	return def
}

// buildAgents builds the agents of f; its failures are usage errors
// (they are all about the configuration: a bad model spec, a missing
// script file, an unknown tool).
func buildAgents(ctx context.Context, f *config.File, modelSpec string, ms *modelSet) (*config.Agents, error) {
	agents, err := f.Build(ctx, config.BuildOptions{DefaultModel: modelSpec, Models: ms.open})
	if err != nil {
		return nil, usageError{err}
	}
	return agents, nil
}

// loaded is what run and serve load from the configuration: the file, the
// models its agents use and the agents built on them.
type loaded struct {
	file   *config.File
	models *modelSet
	agents *config.Agents
}

// loadAgents reads the configuration at path (see loadConfig) and builds
// its agents, on modelSpec for those that name no model. The caller closes
// l.agents.
func loadAgents(ctx context.Context, c *cli, path, modelSpec string) (*loaded, error) {
	file, err := loadConfig(path, c.stderr)
	if err != nil {
		return nil, err
	}
	ms := newModelSet(c.env)
	agents, err := buildAgents(ctx, file, modelSpec, ms)
	if err != nil {
		return nil, err
	}
	return &loaded{file: file, models: ms, agents: agents}, nil
}

// openRuntime opens the store at storeURL and a local runtime over it
// with l's agents; o's Store and Agents are set here. stop stops the
// runtime (within shutdownGrace) and closes the store.
func openRuntime(ctx context.Context, l *loaded, storeURL string, o local.Options) (rt *local.Runtime, stop func(), err error) {
	st, err := openStore(ctx, storeURL)
	if err != nil {
		return nil, nil, err
	}
	reg := &helix.Registry{}
	if err := l.agents.Register(reg); err != nil {
		_ = st.Close()
		return nil, nil, err
	}
	o.Store, o.Agents = st, reg
	if rt, err = local.New(o); err != nil {
		_ = st.Close()
		return nil, nil, err
	}
	return rt, func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
		defer cancel()
		_ = rt.Close(cctx)
		_ = st.Close()
	}, nil
}

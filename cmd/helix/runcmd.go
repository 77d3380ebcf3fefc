package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/server/redact"
)

// localPrincipal owns the sessions helix run creates: the principal of the
// API key helix serve generates, so a local server shows them too.
const localPrincipal = generatedKeyPrincipal

type runOptions struct {
	configPath, storeURL, model, session, logLevel string
}

func runCmd(ctx context.Context, c *cli, args []string) error {
	var o runOptions
	f := newFlagSet("run", "helix run [flags] AGENT MESSAGE",
		`Run one turn of AGENT in process and stream it to the terminal: text as it
arrives, tool calls and their results, and a y/N question on every tool call
that needs approval. The session is stored (--store), so --session ID
continues it later and "helix sessions" shows it.`)
	f.String(&o.configPath, "config", "HELIX_CONFIG", "", "agents `file` (default ./helix.yaml if present, else one built-in assistant)")
	f.String(&o.storeURL, "store", "HELIX_STORE", defaultStore, "store `URL`")
	f.String(&o.model, "model", "HELIX_MODEL", "", "model `spec` of agents that name none (default "+defaultModel+", or the offline demo model when no OpenAI key is set)")
	f.String(&o.session, "session", "", "", "continue the session `ID` (default: a new session)")
	f.String(&o.logLevel, "log-level", "", "warn", "log `level` of the runtime's messages on stderr")
	pos, err := f.parse(args, c.env, c.stdout)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return usagef("run: want an agent and a message: helix run [flags] AGENT MESSAGE")
	}
	agentName, message := pos[0], strings.Join(pos[1:], " ")
	if strings.TrimSpace(message) == "" {
		return usagef("run: the message is empty")
	}
	if _, err := parseLogLevel(o.logLevel); err != nil {
		return err
	}
	o.model = autoModel(o.model, c.env, c.stderr)
	if err := checkModelSpec(o.model); err != nil {
		return err
	}
	secrets := environmentSecrets(c.env, o.storeURL)
	log := newLogger(c.stderr, o.logLevel, "text", secrets)

	l, err := loadAgents(ctx, c, o.configPath, o.model)
	if err != nil {
		return err
	}
	defer l.agents.Close()
	agent := l.agents.Get(agentName)
	if agent == nil {
		return usagef("run: unknown agent %q (agents: %s)", agentName, strings.Join(l.agents.Names(), ", "))
	}
	if err := l.models.missingKey(agentModelSpec(l.file, agentName, o.model)); err != nil {
		return usageError{errors.New(missingKeyHint(err))}
	}
	// The store is opened only once the agent is known to exist.
	rt, closeRT, err := openRuntime(ctx, l, o.storeURL, local.Options{Logger: log,
		ScrubToolError: redact.StringFunc(redact.Options{Secrets: secrets})})
	if err != nil {
		return err
	}
	defer closeRT()

	opts := []local.ExecuteOption{local.WithPrincipal(localPrincipal)}
	if o.session != "" {
		opts = append(opts, local.WithSessionID(o.session))
	}
	h, err := rt.Execute(ctx, agent, helix.Input{Message: message}, opts...)
	if err != nil {
		if errors.Is(err, helix.ErrAlreadyRunning) {
			return fmt.Errorf("session %s is running or waiting for an answer (see \"helix sessions show %s\")", o.session, o.session)
		}
		return err
	}
	t := &turn{
		rt:    rt,
		agent: agentName,
		r:     &renderer{w: c.stdout, color: isTerminal(c.stdout) && c.env("NO_COLOR") == ""},
		in:    bufio.NewReader(c.stdin),
		ask:   c.stderr,
	}
	return t.drive(ctx, h)
}

// turn drives one turn of helix run: it streams each run, answers
// approvals and follows the resumed runs.
type turn struct {
	rt    *local.Runtime
	agent string
	r     *renderer
	in    *bufio.Reader
	ask   io.Writer // approval prompts

	usage llm.Usage
	steps int
}

func (t *turn) drive(ctx context.Context, h *local.Handle) error {
	for {
		for ch, err := range h.Stream(ctx) {
			if err != nil {
				break // ctx done, or the store failed: Result tells
			}
			t.r.chunk(ch)
		}
		if ctx.Err() != nil {
			return t.interrupted(h)
		}
		res, err := h.Result(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return t.interrupted(h)
			}
			return err
		}
		t.usage.Add(res.Usage)
		t.steps = res.StepCount // a resumed run goes on counting
		if res.Status != helix.StatusSuspendedApproval && res.Status != helix.StatusSuspendedAwaitingChildren &&
			res.Status != helix.StatusSuspendedStepPartial {
			return t.finish(res)
		}
		next, err := t.approve(ctx, res.SessionID, res.Pending)
		if err != nil {
			if ctx.Err() != nil {
				// The run is over (suspended): nothing to interrupt.
				t.r.endLine()
				return exitError{code: 130, msg: fmt.Sprintf("stopped; session %s still waits for an answer (see \"helix sessions show %s\")",
					res.SessionID, res.SessionID)}
			}
			return err
		}
		if next == nil {
			// Still waiting for something the terminal cannot give (a
			// client tool's result).
			return t.finish(res)
		}
		h = next
	}
}

// approve asks about every pending approval of session (and of its waiting
// sub-agents) and submits the answers. It returns the handle of the run
// that resumed, if one did.
func (t *turn) approve(ctx context.Context, session string, pending []helix.PendingInfo) (*local.Handle, error) {
	var next *local.Handle
	for _, p := range pending {
		switch p.Kind {
		case "approval":
			ok, err := t.confirm(ctx, p)
			if err != nil {
				return nil, err
			}
			sub := helix.ToolSubmission{Kind: helix.SubmitApproval, ToolCallID: p.ToolCallID, Approved: ok}
			if !ok {
				sub.Reason = "denied by the user"
			}
			t.r.line(t.r.dim(fmt.Sprintf("%s %s", map[bool]string{true: "✓ approved", false: "✗ denied"}[ok], p.ToolName)))
			h, err := t.rt.SubmitToolResult(ctx, session, sub)
			if err != nil {
				return nil, fmt.Errorf("submit approval: %w", err)
			}
			if h != nil {
				next = h
			}
		case "subagent":
			if p.ChildSessionID == "" {
				continue
			}
			st, err := t.rt.Status(ctx, p.ChildSessionID)
			if err != nil {
				return nil, err
			}
			h, err := t.approve(ctx, p.ChildSessionID, st.Pending)
			if err != nil {
				return nil, err
			}
			if h != nil {
				next = h
			}
		}
	}
	return next, nil
}

// confirm asks "Approve tool(args)? [y/N]" and reads the answer; anything
// but y or yes (including end of input) denies.
func (t *turn) confirm(ctx context.Context, p helix.PendingInfo) (bool, error) {
	t.r.endLine()
	fmt.Fprintf(t.ask, "Approve %s(%s)? [y/N] ", p.ToolName, short(p.Arguments, 300))
	type answer struct {
		s   string
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		s, err := t.in.ReadString('\n')
		ch <- answer{s, err}
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(t.ask)
		return false, ctx.Err()
	case a := <-ch:
		if a.err != nil && a.s == "" {
			fmt.Fprintln(t.ask)
			if errors.Is(a.err, io.EOF) {
				return false, nil
			}
			return false, a.err
		}
		s := strings.ToLower(strings.TrimSpace(a.s))
		return s == "y" || s == "yes", nil
	}
}

// interrupted stops the run after Ctrl-C; it keeps its partial reply and
// can be continued.
func (t *turn) interrupted(h *local.Handle) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = h.Interrupt(ctx, "interrupted from the terminal")
	if res, err := h.Result(ctx); err == nil {
		t.usage.Add(res.Usage)
	}
	t.r.endLine()
	return exitError{code: 130, msg: fmt.Sprintf("interrupted; continue with: helix run --session %s %s MESSAGE", h.SessionID(), t.agent)}
}

// finish prints the summary line and turns the outcome into an error.
func (t *turn) finish(res *helix.Result) error {
	t.r.endLine()
	t.r.line(t.r.dim(fmt.Sprintf("%s · %d step(s) · tokens: %d in, %d out · tool calls: %d · session %s",
		res.Status, t.steps, t.usage.PromptTokens, t.usage.CompletionTokens, t.r.toolCalls, res.SessionID)))
	switch res.Status {
	case helix.StatusCompleted:
		return nil
	case helix.StatusFailed:
		msg := "the run failed"
		if e := res.Error; e != nil {
			msg = fmt.Sprintf("the run failed: %s (%s)", e.Message, e.Code)
			if e.Code == codeMissingKey {
				msg += "; a model has no API key, see the warning above"
			}
		}
		return exitError{code: 1, msg: msg}
	default:
		return exitError{code: 1, msg: fmt.Sprintf("the run ended %s; continue it through the HTTP API (session %s)", res.Status, res.SessionID)}
	}
}

// renderer prints a run's chunks for a person.
type renderer struct {
	w     io.Writer
	color bool

	midLine   bool // the last write did not end a line
	thinking  bool // inside a thinking block
	toolCalls int
}

func (r *renderer) dim(s string) string {
	if !r.color {
		return s
	}
	return "\x1b[2m" + s + "\x1b[0m"
}

func (r *renderer) write(s string) {
	if s == "" {
		return
	}
	_, _ = io.WriteString(r.w, s) // a closed terminal does not stop the run
	r.midLine = !strings.HasSuffix(s, "\n")
}

// endLine ends the current line, if one is open.
func (r *renderer) endLine() {
	if r.midLine {
		r.write("\n")
	}
}

// line prints s on a line of its own.
func (r *renderer) line(s string) {
	r.endLine()
	r.write(s + "\n")
}

func (r *renderer) chunk(c helix.Chunk) {
	if r.thinking && !(c.Type == helix.ChunkThinking) {
		r.thinking = false
		r.endLine()
	}
	switch c.Type {
	case helix.ChunkRunStart:
		if c.Resumed {
			r.line(r.dim("(resumed)"))
		}
	case helix.ChunkStepStart:
		r.line(r.dim(fmt.Sprintf("[step %d]", c.Step)))
	case helix.ChunkTextDelta:
		r.write(c.Delta)
	case helix.ChunkThinking:
		if c.IsComplete {
			r.thinking = false
			r.endLine()
			return
		}
		if !r.thinking {
			r.endLine()
			r.write(r.dim("thinking: "))
			r.thinking = true
		}
		r.write(r.dim(c.Content))
	case helix.ChunkToolStart:
		r.toolCalls++
		r.line(fmt.Sprintf("→ %s(%s)", c.ToolName, short(c.Arguments, 200)))
	case helix.ChunkToolEnd:
		if c.Success {
			r.line(fmt.Sprintf("← %s: %s", c.ToolName, short(c.Result, 200)))
		} else {
			msg := c.ToolError
			if msg == "" {
				msg = short(c.Result, 200)
			}
			r.line(fmt.Sprintf("✗ %s: %s", c.ToolName, oneLine(msg)))
		}
	case helix.ChunkToolApprovalRequest:
		r.line(fmt.Sprintf("? %s(%s) needs approval", c.ToolName, short(c.Input, 200)))
	case helix.ChunkClientToolRequest:
		r.line(fmt.Sprintf("? %s(%s) must run in a client", c.ToolName, short(c.Input, 200)))
	case helix.ChunkSubagentStart:
		r.line(r.dim(fmt.Sprintf("↳ sub-agent %s (session %s)", c.ChildAgentType, c.ChildSessionID)))
	case helix.ChunkSubagentEnd:
		r.line(r.dim(fmt.Sprintf("↲ sub-agent %s %s", c.ChildAgentType, c.Status)))
	case helix.ChunkOutput:
		r.line("output: " + short(c.Output, 2000))
	case helix.ChunkError:
		if c.Error != nil {
			r.line(fmt.Sprintf("error: %s (%s)", c.Error.Message, c.Error.Code))
		}
	}
}

// short renders a JSON value on one line, at most n characters: a string
// without its quotes, anything else compacted.
func short(raw json.RawMessage, n int) string {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		var b bytes.Buffer
		if json.Compact(&b, raw) == nil {
			s = b.String()
		} else {
			s = string(raw)
		}
	}
	s = oneLine(s)
	if utf8.RuneCountInString(s) > n {
		rs := []rune(s)
		s = string(rs[:n]) + "…"
	}
	return s
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

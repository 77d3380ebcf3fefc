package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/store"
)

const sessionsSynopsis = "helix sessions ls|show|messages [flags] [ID]"

func sessionsCmd(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 {
		return usagef("sessions: want a subcommand: ls, show ID or messages ID")
	}
	switch args[0] {
	case "ls", "list":
		return sessionsLs(ctx, c, args[1:])
	case "show":
		return sessionsShow(ctx, c, args[1:])
	case "messages", "msgs":
		return sessionsMessages(ctx, c, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(c.stdout, "Usage: %s\n\n"+
			"  ls                list sessions, newest first (--agent, --status, --limit, --offset)\n"+
			"  show ID           a session's status, pending calls, output, error and usage\n"+
			"  messages ID       a session's messages (--offset, --limit)\n\n"+
			"Each reads the store directly (--store, env HELIX_STORE, default %s).\n", sessionsSynopsis, defaultStore)
		return errHelp
	}
	return usagef("sessions: unknown subcommand %q (want ls, show or messages)", args[0])
}

// openSessionsStore opens the store for reading. A SQLite file that does
// not exist is reported rather than created.
func openSessionsStore(ctx context.Context, rawURL string) (store.Store, error) {
	if p, ok := sqlitePath(rawURL); ok {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			return nil, exitError{code: 1, msg: fmt.Sprintf("no store at %s (nothing has run with --store %s yet)", p, store.RedactURL(rawURL))}
		}
	}
	return openStore(ctx, rawURL)
}

// sqlitePath returns the database file of a sqlite:// URL.
func sqlitePath(rawURL string) (string, bool) {
	u, err := url.Parse(rawURL)
	if err != nil || !strings.EqualFold(u.Scheme, "sqlite") {
		return "", false
	}
	p := u.Opaque
	if p == "" {
		p = u.Host + u.Path
	}
	return p, p != "" && p != ":memory:"
}

func sessionsLs(ctx context.Context, c *cli, args []string) error {
	var storeURL, agent, status string
	var limit, offset int
	f := newFlagSet("sessions ls", "helix sessions ls [flags]", "List sessions, newest first.")
	f.String(&storeURL, "store", "HELIX_STORE", defaultStore, "store `URL`")
	f.String(&agent, "agent", "", "", "only sessions of agent `type`")
	f.String(&status, "status", "", "", "only sessions with `status` (running, completed, failed, interrupted, suspended_approval, …)")
	f.Int(&limit, "limit", "", 50, "at most `n` sessions (1–1000)")
	f.Int(&offset, "offset", "", 0, "skip the first `n` sessions")
	pos, err := f.parse(args, c.env, c.stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("sessions ls: unexpected argument %q", pos[0])
	}
	if limit < 1 || limit > 1000 {
		return usagef("sessions ls: bad --limit %d: want 1 to 1000", limit)
	}
	if offset < 0 {
		return usagef("sessions ls: bad --offset %d: want 0 or more", offset)
	}
	if status != "" && !knownStatus(helix.Status(status)) {
		return usagef("sessions ls: unknown --status %q", status)
	}
	st, err := openSessionsStore(ctx, storeURL)
	if err != nil {
		return err
	}
	defer st.Close()
	page, err := st.ListSessions(ctx, store.SessionQuery{AgentType: agent, Status: helix.Status(status), Offset: offset, Limit: limit})
	if err != nil {
		return err
	}
	if len(page.Items) == 0 {
		fmt.Fprintln(c.stdout, "No sessions.")
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAGENT\tSTATUS\tSTEPS\tMESSAGES\tUPDATED")
	for _, s := range page.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", s.ID, s.AgentType, s.Status, s.StepCount, s.MessageCount,
			s.UpdatedAt.Local().Format(time.DateTime))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if page.HasMore {
		fmt.Fprintf(c.stdout, "%d of %d sessions; more with --offset %d\n", len(page.Items), page.Total, offset+len(page.Items))
	}
	return nil
}

func knownStatus(s helix.Status) bool {
	switch s {
	case helix.StatusRunning, helix.StatusCompleted, helix.StatusFailed, helix.StatusInterrupted:
		return true
	}
	return s.Suspended()
}

// sessionSummary is what helix sessions show prints.
type sessionSummary struct {
	SessionID        string              `json:"sessionId"`
	AgentType        string              `json:"agentType"`
	Principal        string              `json:"principal,omitempty"`
	ParentSessionID  string              `json:"parentSessionId,omitempty"`
	Status           helix.Status        `json:"status"`
	Aborted          bool                `json:"aborted,omitempty"`
	AbortReason      string              `json:"abortReason,omitempty"`
	StepCount        int                 `json:"stepCount"`
	MessageCount     int                 `json:"messageCount"`
	RunCount         int                 `json:"runCount"`
	CurrentRunID     string              `json:"currentRunId,omitempty"`
	StreamStatus     helix.StreamStatus  `json:"streamStatus,omitempty"`
	StreamSequence   int64               `json:"streamSequence"`
	Pending          []helix.PendingInfo `json:"pending"`
	Output           json.RawMessage     `json:"output,omitempty"`
	Error            *helix.ErrorInfo    `json:"error,omitempty"`
	Usage            llm.Usage           `json:"usage"`
	Metadata         map[string]string   `json:"metadata,omitempty"`
	CreatedAt        time.Time           `json:"createdAt"`
	UpdatedAt        time.Time           `json:"updatedAt"`
	CompletionReason string              `json:"completionReason,omitempty"`
}

func sessionsShow(ctx context.Context, c *cli, args []string) error {
	var storeURL string
	f := newFlagSet("sessions show", "helix sessions show [flags] ID", "Show a session's status, pending calls, output, error and usage.")
	f.String(&storeURL, "store", "HELIX_STORE", defaultStore, "store `URL`")
	pos, err := f.parse(args, c.env, c.stdout)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("sessions show: want one session ID")
	}
	st, err := openSessionsStore(ctx, storeURL)
	if err != nil {
		return err
	}
	defer st.Close()
	s, err := getSession(ctx, st, pos[0])
	if err != nil {
		return err
	}
	sum := sessionSummary{
		SessionID: s.ID, AgentType: s.AgentType, Principal: s.Principal, ParentSessionID: s.ParentSessionID,
		Status: s.Status, Aborted: s.Aborted, AbortReason: s.AbortReason,
		StepCount: s.StepCount, MessageCount: s.MessageCount, RunCount: s.RunCount, CurrentRunID: s.CurrentRunID,
		Pending: []helix.PendingInfo{}, Output: s.Output, Error: s.Error, Usage: s.Usage, Metadata: s.Metadata,
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
	}
	if info, err := st.StreamInfo(ctx, s.ID); err == nil {
		sum.StreamStatus, sum.StreamSequence = info.Status, info.LastSequence
	}
	if s.CurrentRunID != "" {
		if r, err := st.GetRun(ctx, s.ID, s.CurrentRunID); err == nil {
			sum.CompletionReason = r.CompletionReason
		}
	}
	if s.Suspension != nil {
		for _, p := range s.Suspension.Pending {
			if p.Resolution != nil {
				continue
			}
			sum.Pending = append(sum.Pending, helix.PendingInfo{Kind: string(p.Kind), ToolCallID: p.ToolCallID, ToolName: p.ToolName,
				ApprovalID: p.ApprovalID, Arguments: p.Arguments, ChildSessionID: p.ChildSessionID})
		}
	}
	out, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s\n", out)
	return nil
}

func getSession(ctx context.Context, st store.Store, id string) (*store.Session, error) {
	s, err := st.GetSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, exitError{code: 1, msg: fmt.Sprintf("session %q not found", id)}
	}
	return s, err
}

func sessionsMessages(ctx context.Context, c *cli, args []string) error {
	var storeURL string
	var offset, limit int
	f := newFlagSet("sessions messages", "helix sessions messages [flags] ID", "Print a session's messages: text, tool calls and tool results.")
	f.String(&storeURL, "store", "HELIX_STORE", defaultStore, "store `URL`")
	f.Int(&offset, "offset", "", 0, "skip the first `n` messages")
	f.Int(&limit, "limit", "", 50, "at most `n` messages (1–1000)")
	pos, err := f.parse(args, c.env, c.stdout)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("sessions messages: want one session ID")
	}
	if limit < 1 || limit > 1000 {
		return usagef("sessions messages: bad --limit %d: want 1 to 1000", limit)
	}
	if offset < 0 {
		return usagef("sessions messages: bad --offset %d: want 0 or more", offset)
	}
	st, err := openSessionsStore(ctx, storeURL)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := getSession(ctx, st, pos[0]); err != nil {
		return err
	}
	page, err := st.ListMessages(ctx, pos[0], offset, limit)
	if err != nil {
		return err
	}
	for i, m := range page.Items {
		printMessage(c.stdout, offset+i, m)
	}
	switch {
	case len(page.Items) == 0:
		fmt.Fprintf(c.stdout, "No messages at offset %d (the session has %d).\n", offset, page.Total)
	case page.HasMore:
		fmt.Fprintf(c.stdout, "messages %d–%d of %d; more with --offset %d\n", offset, offset+len(page.Items)-1, page.Total, offset+len(page.Items))
	}
	return nil
}

// printMessage prints one message, a line per part.
func printMessage(w io.Writer, i int, m llm.Message) {
	suffix := ""
	if m.Interrupted {
		suffix = " (interrupted)"
	}
	for _, p := range m.Parts {
		prefix := fmt.Sprintf("[%d] %s", i, m.Role)
		switch p.Type {
		case llm.PartText:
			fmt.Fprintf(w, "%s: %s%s\n", prefix, indent(p.Text), suffix)
		case llm.PartThinking:
			if p.Redacted {
				fmt.Fprintf(w, "%s (thinking): [redacted]\n", prefix)
			} else {
				fmt.Fprintf(w, "%s (thinking): %s\n", prefix, indent(p.Text))
			}
		case llm.PartToolCall:
			if tc := p.ToolCall; tc != nil {
				fmt.Fprintf(w, "%s → %s(%s)%s\n", prefix, tc.Name, short(tc.Arguments, 500), suffix)
			}
		case llm.PartToolResult:
			if tr := p.ToolResult; tr != nil {
				mark := "←"
				if tr.IsError {
					mark = "✗"
				}
				fmt.Fprintf(w, "%s %s %s: %s\n", prefix, mark, tr.ToolName, short(tr.Output, 500))
			}
		case llm.PartFile:
			if f := p.File; f != nil {
				fmt.Fprintf(w, "%s: [file %s %s, %d bytes]\n", prefix, f.Name, f.MediaType, len(f.Data))
			}
		default:
			fmt.Fprintf(w, "%s: [%s]\n", prefix, p.Type)
		}
	}
}

// indent indents the continuation lines of a multi-line text.
func indent(s string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

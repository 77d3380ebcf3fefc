package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm/scripted"
	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/server"
	"github.com/helix-agents/helix-go/server/auth"
	"github.com/helix-agents/helix-go/store/memstore"
	"github.com/helix-agents/helix-go/web"
)

const (
	apiKey = "alice-playground-key-0123456789"
	// flowTimeout bounds one browser flow, so a hung browser fails the
	// test instead of hanging it.
	flowTimeout = 60 * time.Second
)

// findChromium returns the path of Debian's chromium. Without one the
// browser tests skip, unless HELIX_REQUIRE_BROWSER=1.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("HELIX_REQUIRE_BROWSER") == "1" {
		t.Fatal("chromium is not installed (HELIX_REQUIRE_BROWSER=1)")
	}
	t.Skip("chromium is not installed; set HELIX_REQUIRE_BROWSER=1 to fail instead")
	return ""
}

type ticketState struct {
	Tickets []string `json:"tickets"`
	Count   int      `json:"count"`
}

type ticketIn struct {
	Title string `json:"title"`
}

type ticketOut struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// newPlaygroundServer starts the API with the playground and four
// agents: "echo" answers at once; "chatty" streams forty words; "slow"
// streams for ten seconds;
// "helpdesk" streams a sentence, asks approval for create_ticket (which
// changes the state and emits a custom event) and then answers.
func newPlaygroundServer(t *testing.T) (*httptest.Server, *atomic.Bool) {
	t.Helper()
	createTicket := helix.NewTool("create_ticket", "opens a ticket",
		func(_ context.Context, tc *helix.ToolContext, in ticketIn) (ticketOut, error) {
			if err := helix.UpdateState(tc, func(s *ticketState) error {
				s.Tickets = append(s.Tickets, in.Title)
				s.Count++
				return nil
			}); err != nil {
				return ticketOut{}, err
			}
			if err := tc.Emit("ticket_created", map[string]string{"id": "T-1"}); err != nil {
				return ticketOut{}, err
			}
			return ticketOut{ID: "T-1", Title: in.Title}, nil
		}, helix.RequireApproval())
	reg := &helix.Registry{}
	for _, a := range []*helix.Agent{
		helix.MustNewAgent(helix.AgentConfig{Name: "echo", Description: "answers at once",
			Model: scripted.Turns(scripted.Turn{Text: "hello from helix"})}),
		helix.MustNewAgent(helix.AgentConfig{Name: "chatty", Description: "counts to forty",
			Model: scripted.Turns(scripted.Turn{Text: countTo(40), ChunkDelayMs: 5})}),
		helix.MustNewAgent(helix.AgentConfig{Name: "slow", Description: "talks for a long time",
			Model: scripted.Turns(scripted.Turn{Text: strings.Repeat("blah ", 500), ChunkDelayMs: 20})}),
		helix.MustNewAgent(helix.AgentConfig{Name: "helpdesk", Description: "opens tickets, with approval",
			Tools: []*helix.Tool{createTicket},
			Model: scripted.Turns(
				scripted.Turn{Text: "Let me open a ticket for <b>that</b>.", ChunkDelayMs: 15, ToolCalls: []scripted.ToolCall{
					{ID: "call_1", Name: "create_ticket", Arguments: json.RawMessage(`{"title":"Printer on fire"}`)},
				}},
				scripted.Turn{Text: "Ticket T-1 is open.", ChunkDelayMs: 15},
			)}),
	} {
		if err := reg.Register(a); err != nil {
			t.Fatal(err)
		}
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	st := memstore.New()
	rt, err := local.New(local.Options{Store: st, Agents: reg, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.ParseAPIKeys("alice=" + apiKey)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{Runtime: rt, Authenticator: keys, Logger: logger,
		DisableRateLimit: true, Heartbeat: time.Second, DefaultAgent: "echo", Playground: web.Handler()})
	if err != nil {
		t.Fatal(err)
	}
	drop := new(atomic.Bool)
	ts := httptest.NewServer(dropOneStream(srv, drop))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		ts.CloseClientConnections()
		ts.Close()
		_ = rt.Close(ctx)
		_ = st.Close()
	})
	return ts, drop
}

func countTo(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "n%d ", i)
	}
	return b.String()
}

// dropOneStream wraps the API so that, while *drop is set, the next GET
// /sse breaks off after about 1 KB, before its end event, as a dropped
// connection would; the playground must resume it with Last-Event-ID.
func dropOneStream(next http.Handler, drop *atomic.Bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sse" && drop.CompareAndSwap(true, false) {
			w = &cutWriter{ResponseWriter: w, left: 1024}
		}
		next.ServeHTTP(w, r)
	})
}

type cutWriter struct {
	http.ResponseWriter
	left int
}

func (w *cutWriter) Write(b []byte) (int, error) {
	if w.left <= 0 {
		return 0, errors.New("connection cut by the test")
	}
	w.left -= len(b)
	return w.ResponseWriter.Write(b)
}

func (w *cutWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *cutWriter) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

// newBrowser starts headless chromium and returns a context of its first
// tab; the browser stops at the end of the test.
func newBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(1280, 900),
		chromedp.DisableGPU,
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to run as root with its sandbox.
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // waits for the browser process
	})
	// The first Run starts the browser; it must not run under a timeout
	// (that would stop the browser later), so a watchdog bounds it.
	watchdog := time.AfterFunc(flowTimeout, cancel)
	defer watchdog.Stop()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`1`)); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	return ctx
}

// pageProbe records CSP violations and uncaught errors of the page in
// window.__problems, from before the page's own scripts run.
const pageProbe = `window.__problems = [];
document.addEventListener('securitypolicyviolation', (e) => window.__problems.push('CSP ' + e.violatedDirective + ' ' + e.blockedURI));
window.addEventListener('error', (e) => window.__problems.push('error ' + e.message));
window.addEventListener('unhandledrejection', (e) => window.__problems.push('rejection ' + String(e.reason)));`

// newTab opens a tab of the browser with the given viewport, bounded by
// flowTimeout.
func newTab(t *testing.T, browser context.Context, width, height int64, mobile bool) context.Context {
	t.Helper()
	tab, cancelTab := chromedp.NewContext(browser)
	t.Cleanup(cancelTab)
	watchdog := time.AfterFunc(flowTimeout, cancelTab)
	t.Cleanup(func() { watchdog.Stop() })
	ctx, cancel := context.WithTimeout(tab, flowTimeout)
	t.Cleanup(cancel)
	vp := chromedp.EmulateViewport(width, height)
	if mobile {
		vp = chromedp.EmulateViewport(width, height, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	if err := chromedp.Do(tab, vp); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: pageProbe}); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// waitFor polls a JavaScript predicate, failing with what the page shows.
func waitFor(t *testing.T, ctx context.Context, what, predicate string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingTimeout(20*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("waiting for %s: %v\npage: %s", what, err, pageText(ctx))
	}
}

func pageText(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText + '\nproblems: ' + JSON.stringify(window.__problems)`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func textOfAttr(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(`+js(sel)+`).getAttribute(`+js(name)+`) || ''`))
	if err != nil {
		t.Fatalf("attribute %s of %s: %v", name, sel, err)
	}
	return s
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	p := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// enterKey answers the key prompt that a server requiring a key shows.
func enterKey(t *testing.T, ctx context.Context, baseURL string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(baseURL+"/"),
		chromedp.WaitVisible(chromedp.ID("api-key")),
	); err != nil {
		t.Fatalf("key prompt: %v\npage: %s", err, pageText(ctx))
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("api-key"), "wrong-key-0123456789"+kb.Enter),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "a refused key", `document.getElementById('key-dialog').open && document.getElementById('key-error').textContent.includes('refused')`)
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.getElementById('api-key').value = ''`),
		chromedp.SendKeys(chromedp.ID("api-key"), apiKey),
		chromedp.Click(chromedp.ID("save-key")),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the agent list", `[...document.querySelectorAll('#agent option')].some((o) => o.value === 'helpdesk') && !document.getElementById('key-dialog').open`)
	stored, err := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem('helix.apiKey') + ' ' + location.href`))
	if err != nil {
		t.Fatal(err)
	}
	if stored != apiKey+" "+baseURL+"/" {
		t.Errorf("sessionStorage key and URL = %q, want the key and a URL without it", stored)
	}
}

// pickAgentAndSend chooses the agent and sends message with the Enter key.
func pickAgentAndSend(t *testing.T, ctx context.Context, agent, message string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`{const s = document.getElementById('agent'); s.value = `+js(agent)+`; s.dispatchEvent(new Event('change'));}`),
		chromedp.Click(chromedp.ID("message")),
		chromedp.SendKeys(chromedp.ID("message"), message),
		chromedp.KeyEvent(kb.Enter),
	); err != nil {
		t.Fatalf("send: %v", err)
	}
	waitFor(t, ctx, "the user message", `[...document.querySelectorAll('.msg.user .msg-text')].some((e) => e.textContent === `+js(message)+`)`)
	if v := textOf(t, ctx, "#message"); v != "" {
		t.Errorf("message box after sending = %q, want empty", v)
	}
}

func checkNoProblems(t *testing.T, ctx context.Context) {
	t.Helper()
	problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__problems`))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("page problem: %s", p)
	}
}

func TestPlaygroundInChromium(t *testing.T) {
	chromium := findChromium(t)
	t.Logf("chromium: %s", chromium)
	ts, drop := newPlaygroundServer(t)
	browser := newBrowser(t, chromium)

	t.Run("desktop", func(t *testing.T) {
		ctx := newTab(t, browser, 1280, 900, false)
		enterKey(t, ctx, ts.URL)
		pickAgentAndSend(t, ctx, "helpdesk", "My printer is on fire")

		waitFor(t, ctx, "the streamed text", `document.getElementById('conversation').textContent.includes('Let me open a ticket for <b>that</b>.')`)
		if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#conversation b').length`)); err != nil || n != 0 {
			t.Errorf("model text was parsed as HTML: %d <b> elements (err %v)", n, err)
		}
		waitFor(t, ctx, "the approval button", `!!document.querySelector('.tool-card button.approve')`)
		if s := textOf(t, ctx, "#run-status"); s != "suspended_approval" {
			t.Errorf("status while waiting for approval = %q, want suspended_approval", s)
		}
		if args := textOf(t, ctx, ".tool-card .tool-args"); !strings.Contains(args, `"title": "Printer on fire"`) {
			t.Errorf("tool arguments = %q, want the title", args)
		}
		screenshot(t, ctx, "desktop-approval.png")

		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(".tool-card button.approve"))); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "the final text", `document.getElementById('conversation').textContent.includes('Ticket T-1 is open.')`)
		waitFor(t, ctx, "the completed status", `document.getElementById('run-status').textContent === 'completed'`)

		if res := textOf(t, ctx, ".tool-card .tool-result"); !strings.Contains(res, `"id": "T-1"`) {
			t.Errorf("tool result = %q, want the ticket", res)
		}
		if s := textOf(t, ctx, ".tool-card .tool-status"); s != "done" {
			t.Errorf("tool status = %q, want done", s)
		}
		var state ticketState
		if err := json.Unmarshal([]byte(textOf(t, ctx, "#state-view")), &state); err != nil {
			t.Fatalf("state panel: %v", err)
		}
		if state.Count != 1 || len(state.Tickets) != 1 || state.Tickets[0] != "Printer on fire" {
			t.Errorf("state panel = %+v, want one ticket", state)
		}
		if ev := textOf(t, ctx, "#events"); !strings.Contains(ev, "state_patch") || !strings.Contains(ev, "ticket_created") {
			t.Errorf("events = %q, want the state patch and the custom event", ev)
		}
		if u := textOf(t, ctx, "#usage"); !strings.Contains(u, "total") {
			t.Errorf("usage = %q", u)
		}
		waitFor(t, ctx, "the session in the list", `[...document.querySelectorAll('#sessions .session-button')].some((b) => b.getAttribute('aria-current') === 'true' && b.textContent.includes('completed'))`)
		screenshot(t, ctx, "desktop-completed.png")

		// Reload the session from the list: history, tool result and the
		// state rebuilt from the stream.
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("new-chat"))); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "an empty chat", `document.querySelectorAll('#conversation .msg').length === 0 && document.getElementById('state-view').textContent === '{}'`)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#sessions .session-button"))); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "the reloaded history", `document.getElementById('conversation').textContent.includes('Ticket T-1 is open.') && document.getElementById('conversation').textContent.includes('My printer is on fire')`)
		waitFor(t, ctx, "the reloaded state", `document.getElementById('state-view').textContent.includes('Printer on fire')`)
		if res := textOf(t, ctx, ".tool-card .tool-result"); !strings.Contains(res, `"id": "T-1"`) {
			t.Errorf("reloaded tool result = %q, want the ticket", res)
		}
		checkNoProblems(t, ctx)
	})

	t.Run("reload suspended", func(t *testing.T) {
		// A run waiting for approval, opened in a fresh tab: the pending
		// call comes from /status and can be denied from there.
		ctx := newTab(t, browser, 1280, 900, false)
		enterKey(t, ctx, ts.URL)
		pickAgentAndSend(t, ctx, "helpdesk", "Another printer")
		waitFor(t, ctx, "the approval button", `!!document.querySelector('.tool-card button.approve')`)
		if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "the session list", `!!document.querySelector('#sessions .session-button')`)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#sessions li:first-child .session-button"))); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "the pending approval", `!!document.querySelector('.tool-card button.danger') && document.getElementById('run-status').textContent === 'suspended_approval'`)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(".tool-card button.danger"))); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "the run after the denial", `document.getElementById('run-status').textContent === 'completed'`)
		if s := textOf(t, ctx, ".tool-card .tool-status"); s != "failed" {
			t.Errorf("denied tool status = %q, want failed", s)
		}
		checkNoProblems(t, ctx)
	})

	t.Run("narrow", func(t *testing.T) {
		ctx := newTab(t, browser, 390, 844, true)
		enterKey(t, ctx, ts.URL)
		visible, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`getComputedStyle(document.getElementById('sidebar')).display !== 'none'`))
		if err != nil || visible {
			t.Errorf("sidebar visible on a narrow screen before opening it (err %v)", err)
		}
		pickAgentAndSend(t, ctx, "helpdesk", "Narrow screen hello")
		waitFor(t, ctx, "the streamed text", `document.getElementById('conversation').textContent.includes('Let me open a ticket')`)
		waitFor(t, ctx, "the approval button", `!!document.querySelector('.tool-card button.approve')`)
		overflow, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - document.documentElement.clientWidth`))
		if err != nil || overflow > 0 {
			t.Errorf("page scrolls sideways by %dpx on a narrow screen (err %v)", overflow, err)
		}
		screenshot(t, ctx, "narrow-approval.png")
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(".tool-card button.approve"))); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "the completed status", `document.getElementById('run-status').textContent === 'completed'`)
		screenshot(t, ctx, "narrow-completed.png")

		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("sidebar-toggle"))); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "the open sidebar", `getComputedStyle(document.getElementById('sidebar')).display !== 'none' && document.getElementById('sidebar-toggle').getAttribute('aria-expanded') === 'true'`)
		screenshot(t, ctx, "narrow-sidebar.png")
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Escape)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "the closed sidebar", `getComputedStyle(document.getElementById('sidebar')).display === 'none'`)
		checkNoProblems(t, ctx)
	})

	t.Run("interrupt dark", func(t *testing.T) {
		ctx := newTab(t, browser, 1024, 700, false)
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
		}); err != nil {
			t.Fatal(err)
		}
		enterKey(t, ctx, ts.URL)
		pickAgentAndSend(t, ctx, "slow", "Talk to me")
		waitFor(t, ctx, "streaming", `document.getElementById('conversation').textContent.includes('blah blah') && !document.getElementById('interrupt').disabled`)
		if busy := textOfAttr(t, ctx, "#conversation", "aria-busy"); busy != "true" {
			t.Errorf("aria-busy while streaming = %q, want true", busy)
		}
		screenshot(t, ctx, "dark-streaming.png")
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("interrupt"))); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "the interrupted status", `document.getElementById('run-status').textContent === 'interrupted' && !document.getElementById('resume').hidden`)
		if busy := textOfAttr(t, ctx, "#conversation", "aria-busy"); busy != "false" {
			t.Errorf("aria-busy after the run = %q, want false", busy)
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("abort"))); err != nil {
			t.Fatal(err)
		}
		// Aborting an interrupted run fails it for good.
		waitFor(t, ctx, "the aborted session", `document.getElementById('run-status').textContent === 'failed' && document.getElementById('resume').hidden && document.getElementById('abort').disabled`)
		waitFor(t, ctx, "the session list", `document.querySelector('#sessions [aria-current="true"]')?.textContent.includes('failed')`)
		screenshot(t, ctx, "dark-interrupted.png")
		checkNoProblems(t, ctx)
	})

	t.Run("reconnect", func(t *testing.T) {
		ctx := newTab(t, browser, 1280, 900, false)
		enterKey(t, ctx, ts.URL)
		drop.Store(true)
		pickAgentAndSend(t, ctx, "chatty", "Count")
		waitFor(t, ctx, "the completed status", `document.getElementById('run-status').textContent === 'completed'`)
		if drop.Load() {
			t.Fatal("the stream was not cut")
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('.msg.assistant .msg-text')].map((e) => e.textContent).join('')`))
		if err != nil {
			t.Fatal(err)
		}
		if want := countTo(40); got != want {
			t.Errorf("text after a reconnect = %q, want %q (no gap, no duplicate)", got, want)
		}
		checkNoProblems(t, ctx)
	})

	t.Run("modules", func(t *testing.T) {
		ctx := newTab(t, browser, 800, 600, false)
		if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/")); err != nil {
			t.Fatal(err)
		}
		failures, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](moduleTests, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range failures {
			t.Error(f)
		}
	})
}

// moduleTests exercises jsonpatch.js and sse.js in the browser and returns
// the failures.
const moduleTests = `(async () => {
  const { applyPatch } = await import('/assets/jsonpatch.js');
  const { SSEParser } = await import('/assets/sse.js');
  const out = [];
  const eq = (name, got, want) => {
    if (JSON.stringify(got) !== JSON.stringify(want)) out.push(name + ': got ' + JSON.stringify(got) + ', want ' + JSON.stringify(want));
  };
  const doc = { a: 1, list: [1, 2], o: { 'x/y': 1, 'm~n': 2 } };
  eq('add', applyPatch(doc, [{ op: 'add', path: '/b', value: 2 }]).b, 2);
  eq('add end', applyPatch(doc, [{ op: 'add', path: '/list/-', value: 3 }]).list, [1, 2, 3]);
  eq('add index', applyPatch(doc, [{ op: 'add', path: '/list/0', value: 0 }]).list, [0, 1, 2]);
  eq('remove', applyPatch(doc, [{ op: 'remove', path: '/list/0' }]).list, [2]);
  eq('replace', applyPatch(doc, [{ op: 'replace', path: '/a', value: 5 }]).a, 5);
  eq('replace root', applyPatch(doc, [{ op: 'replace', path: '', value: [1] }]), [1]);
  eq('escapes', applyPatch(doc, [{ op: 'replace', path: '/o/x~1y', value: 3 }, { op: 'remove', path: '/o/m~0n' }]).o, { 'x/y': 3 });
  eq('move', applyPatch(doc, [{ op: 'move', from: '/a', path: '/o/a' }]), { list: [1, 2], o: { 'x/y': 1, 'm~n': 2, a: 1 } });
  eq('copy', applyPatch(doc, [{ op: 'copy', from: '/list', path: '/copy' }]).copy, [1, 2]);
  eq('test ok', applyPatch(doc, [{ op: 'test', path: '/o', value: { 'm~n': 2, 'x/y': 1 } }]).a, 1);
  eq('input unchanged', doc, { a: 1, list: [1, 2], o: { 'x/y': 1, 'm~n': 2 } });
  for (const [name, ops] of [
    ['test fails', [{ op: 'test', path: '/a', value: 2 }]],
    ['remove missing', [{ op: 'remove', path: '/nope' }]],
    ['replace missing', [{ op: 'replace', path: '/nope', value: 1 }]],
    ['index past end', [{ op: 'add', path: '/list/5', value: 1 }]],
    ['bad index', [{ op: 'add', path: '/list/01', value: 1 }]],
    ['move into child', [{ op: 'move', from: '/o', path: '/o/p' }]],
    ['unknown op', [{ op: 'frob', path: '/a' }]],
  ]) {
    try {
      applyPatch(doc, ops);
      out.push(name + ': no error');
    } catch (e) {
      if (e.name !== 'Error' && !(e instanceof Error)) out.push(name + ': ' + e);
    }
  }
  const events = [];
  const p = new SSEParser((e) => events.push(e));
  const stream = '\uFEFF: ping\r\nid: 1\r\nevent: chunk\r\ndata: {"a":\r\ndata: 1}\r\n\r\n: ping\n\nretry: 1500\n\nid: 2\rdata: x\r\revent: end\ndata: {"status":"completed"}\n\n';
  for (let i = 0; i < stream.length; i += 3) p.feed(stream.slice(i, i + 3));
  eq('sse', events, [
    { id: '1', event: 'chunk', data: '{"a":\n1}', retry: null },
    { id: null, event: 'message', data: '', retry: 1500 },
    { id: '2', event: 'message', data: 'x', retry: null },
    { id: null, event: 'end', data: '{"status":"completed"}', retry: null },
  ]);
  return out;
})()`

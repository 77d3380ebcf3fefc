package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// newHTTPClient is a client whose pool never limits the connections to
// the one host: every concurrent stream gets its own connection.
func newHTTPClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          0, // no limit
		MaxIdleConnsPerHost:   conns,
		MaxConnsPerHost:       0, // no limit
		IdleConnTimeout:       60 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		DisableCompression:    true,
	}}
}

// runStats is the outcome of one run as the client saw it.
type runStats struct {
	ttfe time.Duration // POST /start sent → first "event: chunk" received
	ttft time.Duration // POST /start sent → first text_delta received
	// Diagnostics (SERVERLOAD_STATS): POST /start answered, SSE headers
	// received, last text_delta and end event received, all from t0.
	post, hdr, lastText, end time.Duration
	events                   int // chunk events received (inside the window, if any)
	text                     int // text_delta events received (inside the window)
	err                      error
}

// gen is the load generator's view of one child.
type gen struct {
	hc    *http.Client
	base  string
	words int
}

// startSession is POST /start for agentType; it returns the session id.
func (g *gen) startSession(ctx context.Context, agentType string) (string, error) {
	body := `{"agentType":"` + agentType + `","message":"go"}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.base+"/start", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("POST /start: %w", errShort(err))
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if err != nil {
		return "", fmt.Errorf("POST /start: read: %w", errShort(err))
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST /start: %d %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	var r struct {
		SessionID string `json:"sessionId"`
	}
	if err := json.Unmarshal(b, &r); err != nil || r.SessionID == "" {
		return "", fmt.Errorf("POST /start: bad body %q", b)
	}
	return r.SessionID, nil
}

// openStream is GET /sse for the session; the caller closes the body.
func (g *gen) openStream(ctx context.Context, sid string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.base+"/sse?sessionId="+url.QueryEscape(sid), nil)
	if err != nil {
		return nil, err
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET /sse: %w", errShort(err))
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		resp.Body.Close()
		return nil, fmt.Errorf("GET /sse: %d %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	return resp.Body, nil
}

// Bytes the client looks for: it reads lines and never decodes JSON.
var (
	evChunk   = []byte("event: chunk")
	evEnd     = []byte("event: end")
	dataField = []byte("data: ")
	textDelta = []byte(`{"type":"text_delta"`)
	completed = []byte(`{"status":"completed"}`)
)

// eventReader is a minimal SSE line reader, cheap enough to share the CPU
// with the server: it only tells chunk events, text deltas and the end.
type eventReader struct {
	br   *bufio.Reader
	long []byte
}

var readerPool = sync.Pool{New: func() any { return &eventReader{br: bufio.NewReaderSize(nil, 4096)} }}

// line returns the next line without its line ending; it is valid until
// the next call.
func (r *eventReader) line() ([]byte, error) {
	b, err := r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) { // a long line: gather it
		r.long = append(r.long[:0], b...)
		for errors.Is(err, bufio.ErrBufferFull) {
			b, err = r.br.ReadSlice('\n')
			r.long = append(r.long, b...)
		}
		b = r.long
	}
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSuffix(b[:len(b)-1], []byte{'\r'})
	return b, nil
}

// streamRun is one run: POST /start, GET /sse, read to the end event.
// Events received at or after windowEnd (if not zero) are not counted.
func (g *gen) streamRun(ctx context.Context, windowEnd time.Time) (st runStats) {
	t0 := time.Now()
	sid, err := g.startSession(ctx, agentBench)
	if err != nil {
		st.err = err
		return st
	}
	st.post = time.Since(t0)
	body, err := g.openStream(ctx, sid)
	if err != nil {
		st.err = err
		return st
	}
	st.hdr = time.Since(t0)
	defer body.Close()
	r := readerPool.Get().(*eventReader)
	r.br.Reset(body)
	defer func() {
		r.br.Reset(nil)
		readerPool.Put(r)
	}()

	var (
		inChunk, inEnd bool
		allText        int
	)
	for {
		line, err := r.line()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			st.err = fmt.Errorf("GET /sse: stream cut before its end event: %w", errShort(err))
			return st
		}
		switch {
		case len(line) == 0:
			inChunk, inEnd = false, false
		case bytes.Equal(line, evChunk):
			inChunk = true
		case bytes.Equal(line, evEnd):
			inEnd = true
		case bytes.HasPrefix(line, dataField):
			data := line[len(dataField):]
			if inEnd {
				if !bytes.Equal(data, completed) {
					st.err = fmt.Errorf("GET /sse: end event %s", data)
					return st
				}
				if allText != g.words {
					st.err = fmt.Errorf("GET /sse: %d text_delta events, want %d", allText, g.words)
					return st
				}
				st.end = time.Since(t0)
				_, _ = io.Copy(io.Discard, body) // let the connection be reused
				return st
			}
			if !inChunk {
				continue
			}
			now := time.Now()
			if st.ttfe == 0 {
				st.ttfe = now.Sub(t0)
			}
			isText := bytes.HasPrefix(data, textDelta)
			if isText {
				allText++
				st.lastText = now.Sub(t0)
				if st.ttft == 0 {
					st.ttft = now.Sub(t0)
				}
			}
			if windowEnd.IsZero() || now.Before(windowEnd) {
				st.events++
				if isText {
					st.text++
				}
			}
		}
	}
}

// errShort drops the URL from *url.Error so that error counts group.
func errShort(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// phaseStats is one phase against one child.
type phaseStats struct {
	runs, failed int
	errs         map[string]int
	ttfe, ttft   []time.Duration
	diag         []runStats // successful runs, for SERVERLOAD_STATS
	events, text int
	wall         time.Duration // the measured interval
	cpu          float64       // the child's CPU seconds in wall
	clientCPU    float64       // this process's CPU seconds in wall
}

func (p *phaseStats) add(st runStats) {
	p.runs++
	p.events += st.events
	p.text += st.text
	if st.err != nil {
		p.failed++
		if p.errs == nil {
			p.errs = map[string]int{}
		}
		p.errs[st.err.Error()]++
		return
	}
	p.ttfe = append(p.ttfe, st.ttfe)
	p.ttft = append(p.ttft, st.ttft)
	if diagnose {
		p.diag = append(p.diag, st)
	}
}

func (p *phaseStats) merge(q *phaseStats) {
	p.runs += q.runs
	p.failed += q.failed
	p.events += q.events
	p.text += q.text
	p.ttfe = append(p.ttfe, q.ttfe...)
	p.ttft = append(p.ttft, q.ttft...)
	p.diag = append(p.diag, q.diag...)
	for k, v := range q.errs {
		if p.errs == nil {
			p.errs = map[string]int{}
		}
		p.errs[k] += v
	}
}

// runTimeout bounds one run: far above its scripted length.
func runTimeout(words int, delay time.Duration) time.Duration {
	return 120*time.Second + 3*time.Duration(words)*delay
}

// streaming starts n runs at once and waits for all of them.
func streaming(c *child, n, words int, delay time.Duration) (*phaseStats, error) {
	hc := newHTTPClient(n + 16)
	defer hc.CloseIdleConnections()
	g := &gen{hc: hc, base: c.base, words: words}
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout(words, delay))
	defer cancel()

	results := make([]runStats, n)
	barrier := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-barrier
			results[i] = g.streamRun(ctx, time.Time{})
		})
	}
	time.Sleep(100 * time.Millisecond) // every client parked at the barrier
	cpu0, self0 := c.cpu(), selfCPU()
	t0 := time.Now()
	close(barrier)
	wg.Wait()
	p := &phaseStats{wall: time.Since(t0)}
	p.cpu, p.clientCPU = c.cpu()-cpu0, selfCPU()-self0
	for _, r := range results {
		p.add(r)
	}
	return p, c.alive()
}

// sustained keeps n clients looping start → stream → end for d and counts
// the events received within d.
func sustained(c *child, n, words int, delay, d time.Duration) (*phaseStats, error) {
	hc := newHTTPClient(n + 16)
	defer hc.CloseIdleConnections()
	g := &gen{hc: hc, base: c.base, words: words}
	ctx, cancel := context.WithTimeout(context.Background(), d+runTimeout(words, delay))
	defer cancel()

	per := make([]phaseStats, n)
	barrier := make(chan struct{})
	var (
		wg  sync.WaitGroup
		end time.Time
	)
	for i := range n {
		wg.Go(func() {
			<-barrier
			for time.Now().Before(end) {
				per[i].add(g.streamRun(ctx, end))
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	cpu0, self0 := c.cpu(), selfCPU()
	t0 := time.Now()
	end = t0.Add(d)
	close(barrier)
	time.Sleep(time.Until(end))
	p := &phaseStats{wall: time.Since(t0)}
	p.cpu, p.clientCPU = c.cpu()-cpu0, selfCPU()-self0
	wg.Wait() // runs in flight finish; their later events are not counted
	for i := range per {
		p.merge(&per[i])
	}
	return p, c.alive()
}

// idleStats is the memory cost of idle open streams.
type idleStats struct {
	streams, sessions, failed int
	errs                      map[string]int
	before, after             memSample
}

// idle opens m streams on k sessions that send nothing (after their first
// events, for Helix: run_start and step_start) and measures the child's
// memory before and after. With withRuns, the first measure is taken
// before the sessions are started, so the figure includes their runs.
func idle(c *child, m, k int, withRuns bool) (*idleStats, error) {
	hc := newHTTPClient(m + 16)
	defer hc.CloseIdleConnections()
	g := &gen{hc: hc, base: c.base}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := &idleStats{sessions: k, errs: map[string]int{}}

	var (
		before memSample
		err    error
	)
	if withRuns {
		if before, err = c.mem(ctx, hc); err != nil {
			return nil, err
		}
	}
	sids := make([]string, k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range sids {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			sctx, scancel := context.WithTimeout(ctx, 60*time.Second)
			defer scancel()
			sids[i], errs[i] = g.startSession(sctx, agentIdle)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("idle sessions: %w", err)
	}
	// The runs reach their long model wait within milliseconds.
	time.Sleep(500 * time.Millisecond)
	if !withRuns {
		if before, err = c.mem(ctx, hc); err != nil {
			return nil, err
		}
	}
	want := 0 // relay idle streams send nothing at all
	if c.mode == "helix" {
		want = 2 // run_start, step_start
	}

	var (
		mu     sync.Mutex
		opened sync.WaitGroup
		held   sync.WaitGroup
	)
	sem = make(chan struct{}, 128) // bounds concurrent connects
	for i := range m {
		opened.Add(1)
		held.Go(func() {
			sem <- struct{}{}
			// The stream lives until the phase ends, but must open
			// within 60 s.
			sctx, scancel := context.WithCancel(ctx)
			defer scancel()
			timeout := time.AfterFunc(60*time.Second, scancel)
			body, err := g.openStream(sctx, sids[i%k])
			if err == nil {
				err = awaitEvents(body, want)
			}
			if !timeout.Stop() && err == nil {
				err = errors.New("idle stream: not open within 60s")
			}
			<-sem
			mu.Lock()
			if err != nil {
				st.failed++
				st.errs[err.Error()]++
			} else {
				st.streams++
			}
			mu.Unlock()
			opened.Done()
			if body != nil {
				<-ctx.Done()
				body.Close()
			}
		})
	}
	opened.Wait()
	time.Sleep(time.Second) // let the server settle
	after, err := c.mem(ctx, hc)
	if err != nil {
		return nil, err
	}
	st.before, st.after = before, after
	cancel()
	held.Wait()
	return st, c.alive()
}

// awaitEvents reads until n chunk events have arrived.
func awaitEvents(body io.Reader, n int) error {
	if n == 0 {
		return nil
	}
	r := &eventReader{br: bufio.NewReaderSize(body, 1024)}
	got := 0
	for got < n {
		line, err := r.line()
		if err != nil {
			return fmt.Errorf("idle stream: %d of %d first events: %w", got, n, errShort(err))
		}
		if bytes.Equal(line, evChunk) {
			got++
		}
	}
	return nil
}

// selfCPU is this process's CPU seconds so far.
func selfCPU() float64 {
	s, err := procCPU("self")
	if err != nil {
		fmt.Fprintf(os.Stderr, "serverload: %v\n", err)
	}
	return s
}

// percentile is the nearest-rank q-quantile of ds (sorted in place).
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(q*float64(len(ds))+0.999999) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// diagnose is SERVERLOAD_STATS: print where a run's time goes.
var diagnose = os.Getenv("SERVERLOAD_STATS") != ""

// printDiag prints the medians of a phase's run timings (SERVERLOAD_STATS).
func printDiag(name string, p *phaseStats) {
	if !diagnose || len(p.diag) == 0 {
		return
	}
	med := func(f func(runStats) time.Duration) time.Duration {
		v := make([]time.Duration, len(p.diag))
		for i, st := range p.diag {
			v[i] = f(st)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	fmt.Fprintf(os.Stderr, "serverload: %s run medians: POST /start %v, then SSE headers %v, then first event %v; text %v; last text_delta to end %v; run %v\n", name,
		med(func(s runStats) time.Duration { return s.post }).Round(10*time.Microsecond),
		med(func(s runStats) time.Duration { return s.hdr - s.post }).Round(10*time.Microsecond),
		med(func(s runStats) time.Duration { return s.ttfe - s.hdr }).Round(10*time.Microsecond),
		med(func(s runStats) time.Duration { return s.lastText - s.ttft }).Round(10*time.Microsecond),
		med(func(s runStats) time.Duration { return s.end - s.lastText }).Round(10*time.Microsecond),
		med(func(s runStats) time.Duration { return s.end }).Round(10*time.Microsecond))
}

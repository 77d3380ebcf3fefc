package llmtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/helix-agents/helix-go/llm"
)

// bodyTransport answers every request with status 200 and body, in memory.
type bodyTransport struct {
	contentType string
	body        []byte
}

func (b bodyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {b.contentType}},
		Body:   io.NopCloser(bytes.NewReader(b.body)), ContentLength: -1, Request: r}, nil
}

// Fuzz feeds arbitrary stream bodies to the adapter's parser. The seeds are
// the bodies of every successful cassette in the harness's directory (and
// any corpus under testdata/fuzz). Whatever the body, the stream must end
// promptly, without panicking, and either with an error or with a
// well-formed answer; an error must be an [*llm.APIError] and must not
// reveal the key.
func Fuzz(f *testing.F, h Harness) {
	paths, _ := filepath.Glob(filepath.Join(h.dir(), "*.http"))
	contentType := "text/event-stream"
	for _, p := range paths {
		rec, err := ReadCassette(p)
		if err != nil {
			f.Fatal(err)
		}
		if rec.Status == 200 {
			f.Add(rec.Body)
			if ct := rec.Header.Get("Content-Type"); ct != "" {
				contentType = ct
			}
		}
	}
	if len(paths) == 0 {
		f.Fatalf("no cassettes in %s", h.dir())
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := h.New(Config{BaseURL: "http://llmtest.invalid" + upstreamPath(h), APIKey: TestKey, Model: h.Model,
			HTTPClient: &http.Client{Transport: bodyTransport{contentType: contentType, body: body}}})
		if err != nil {
			t.Fatal(err)
		}
		req := userReq("fuzz")
		req.Tools = []llm.ToolSpec{weatherTool}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		evs, err := collect(t, ctx, m, req, 5*time.Second)
		if err != nil {
			if !isAPIError(err) {
				t.Fatalf("error %v (%T) is not an *llm.APIError", err, err)
			}
			if strings.Contains(err.Error(), TestKey) {
				t.Fatalf("error reveals the key")
			}
			return
		}
		finished := false
		for _, ev := range evs {
			if ev.Type == llm.EventFinish {
				finished = true
			}
			if ev.Type == llm.EventToolCall && len(ev.ToolCall.Arguments) > 0 && !json.Valid(ev.ToolCall.Arguments) {
				t.Fatalf("tool call arguments are not JSON: %q", ev.ToolCall.Arguments)
			}
		}
		if !finished {
			t.Fatalf("stream ended without error and without EventFinish")
		}
	})
}

// upstreamPath is the path of h.Upstream ("/v1"), which replay URLs keep.
func upstreamPath(h Harness) string {
	u, err := url.Parse(h.Upstream)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(u.Path, "/")
}

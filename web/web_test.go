package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/helix-agents/helix-go/web"
)

func get(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandlerServesFiles(t *testing.T) {
	h := web.Handler()
	tests := []struct {
		path, ctype, contains string
	}{
		{"/", "text/html; charset=utf-8", `<script type="module" src="/assets/app.js">`},
		{"/assets/app.js", "text/javascript; charset=utf-8", "import { applyPatch }"},
		{"/assets/jsonpatch.js", "text/javascript; charset=utf-8", "export function applyPatch"},
		{"/assets/sse.js", "text/javascript; charset=utf-8", "export class SSEParser"},
		{"/assets/style.css", "text/css; charset=utf-8", ":root"},
		{"/assets/favicon.svg", "image/svg+xml", "<svg"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res := get(t, h, http.MethodGet, tt.path, nil)
			b := body(t, res)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s = %d, want 200", tt.path, res.StatusCode)
			}
			if got := res.Header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("GET %s Content-Type = %q, want %q", tt.path, got, tt.ctype)
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("GET %s X-Content-Type-Options = %q, want nosniff", tt.path, got)
			}
			if !strings.Contains(b, tt.contains) {
				t.Errorf("GET %s body does not contain %q", tt.path, tt.contains)
			}
			etag := res.Header.Get("ETag")
			if etag == "" {
				t.Fatalf("GET %s has no ETag", tt.path)
			}
			res = get(t, h, http.MethodGet, tt.path, map[string]string{"If-None-Match": etag})
			if res.StatusCode != http.StatusNotModified {
				t.Errorf("GET %s with If-None-Match = %d, want 304", tt.path, res.StatusCode)
			}
			res = get(t, h, http.MethodHead, tt.path, nil)
			if b := body(t, res); res.StatusCode != http.StatusOK || b != "" {
				t.Errorf("HEAD %s = %d with %d body bytes, want 200 and none", tt.path, res.StatusCode, len(b))
			}
		})
	}
}

func TestHandlerNotFound(t *testing.T) {
	h := web.Handler()
	for _, p := range []string{
		"/index.html", "/assets", "/assets/", "/assets/nope.js", "/assets/../index.html",
		"/assets/./app.js", "/static/index.html", "/favicon.ico", "/assets/app.js/", "/sessions",
	} {
		res := get(t, h, http.MethodGet, p, nil)
		b := body(t, res)
		if res.StatusCode != http.StatusNotFound || b != `{"error":"Not found"}` {
			t.Errorf("GET %s = %d %q, want 404 {\"error\":\"Not found\"}", p, res.StatusCode, b)
		}
		if strings.Contains(b, "<a href") || strings.Contains(b, "app.js") {
			t.Errorf("GET %s lists files: %q", p, b)
		}
	}
}

func TestHandlerMethods(t *testing.T) {
	h := web.Handler()
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		// Like every unknown route of the server: the same 404 body.
		res := get(t, h, m, "/", nil)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusNotFound || string(body) != `{"error":"Not found"}` {
			t.Errorf("%s / = %d %q, want 404 {\"error\":\"Not found\"}", m, res.StatusCode, body)
		}
	}
}

// TestPageFollowsCSP checks the files the server's Content-Security-Policy
// would break: no inline script, style or event-handler attribute, and
// nothing loaded from another origin.
func TestPageFollowsCSP(t *testing.T) {
	h := web.Handler()
	page := body(t, get(t, h, http.MethodGet, "/", nil))
	lower := strings.ToLower(page)
	for _, bad := range []string{"<style", " style=", " onclick=", " onload=", " onsubmit=", " oninput=", " onchange=", " onkeydown=", "javascript:", "http://", "https://"} {
		if strings.Contains(lower, bad) {
			t.Errorf("index.html contains %q", bad)
		}
	}
	for rest := lower; ; {
		i := strings.Index(rest, "<script")
		if i < 0 {
			break
		}
		tag := rest[i : i+strings.Index(rest[i:], ">")]
		if !strings.Contains(tag, ` src="/assets/`) {
			t.Errorf("index.html has an inline script: %s", tag)
		}
		rest = rest[i+len(tag):]
	}
	for _, f := range []string{"/assets/app.js", "/assets/jsonpatch.js", "/assets/sse.js"} {
		js := body(t, get(t, h, http.MethodGet, f, nil))
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
			if strings.Contains(js, bad) {
				t.Errorf("%s uses %s", f, bad)
			}
		}
	}
}

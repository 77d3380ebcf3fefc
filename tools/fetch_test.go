package tools_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/tools"
)

func fetchURL(t *testing.T, tool *helix.Tool, url string) (tools.FetchOutput, error) {
	t.Helper()
	args, _ := json.Marshal(tools.FetchInput{URL: url})
	raw, err := tool.Execute(t.Context(), nil, args)
	if err != nil {
		return tools.FetchOutput{}, err
	}
	var out tools.FetchOutput
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	return out, nil
}

func newServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

func TestHTTPFetchRefusesLoopbackByDefault(t *testing.T) {
	srv, hits := newServer(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("secret")) })
	tool := tools.HTTPFetch(tools.FetchOptions{})
	host := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	for _, u := range []string{srv.URL, host} {
		_, err := fetchURL(t, tool, u)
		if !errors.Is(err, tools.ErrRefusedAddress) {
			t.Errorf("http_fetch %s error = %v, want ErrRefusedAddress", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}
}

func TestHTTPFetchAllowed(t *testing.T) {
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			t.Errorf("method %s, want GET", r.Method)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte("hello"))
	})
	for name, o := range map[string]tools.FetchOptions{
		"AllowPrivate": {AllowPrivate: true},
		"Allow":        {Allow: loopback},
	} {
		out, err := fetchURL(t, tools.HTTPFetch(o), srv.URL)
		if err != nil {
			t.Fatalf("%s: http_fetch: %v", name, err)
		}
		want := tools.FetchOutput{Status: 418, ContentType: "text/plain; charset=utf-8", Body: "hello"}
		if out != want {
			t.Errorf("%s: http_fetch = %+v, want %+v", name, out, want)
		}
	}
}

func TestHTTPFetchRedirectToRefusedAddress(t *testing.T) {
	target, targetHits := newServer(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("internal")) })
	// The target listens on 127.0.0.1 too; reach it through other loopback
	// and metadata addresses that only 127.0.0.1/32 does not cover.
	port := target.URL[strings.LastIndex(target.URL, ":"):]
	for _, loc := range []string{
		"http://127.0.0.2" + port + "/",
		"http://[::1]" + port + "/",
		"http://169.254.169.254/latest/meta-data/",
		"http://[::ffff:169.254.169.254]/",
	} {
		srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, loc, http.StatusFound)
		})
		_, err := fetchURL(t, tools.HTTPFetch(tools.FetchOptions{Allow: loopback}), srv.URL)
		if !errors.Is(err, tools.ErrRefusedAddress) {
			t.Errorf("redirect to %s: error = %v, want ErrRefusedAddress", loc, err)
		}
	}
	if n := targetHits.Load(); n != 0 {
		t.Errorf("the refused target got %d requests", n)
	}
}

func TestHTTPFetchRedirects(t *testing.T) {
	var srv *httptest.Server
	srv, _ = newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		case "/one":
			http.Redirect(w, r, "/done", http.StatusFound)
		default:
			_, _ = w.Write([]byte("done"))
		}
	})
	tool := tools.HTTPFetch(tools.FetchOptions{Allow: loopback, MaxRedirects: 3})
	if out, err := fetchURL(t, tool, srv.URL+"/one"); err != nil || out.Body != "done" {
		t.Errorf("one redirect = %+v, %v; want body done", out, err)
	}
	if _, err := fetchURL(t, tool, srv.URL+"/loop"); err == nil || !strings.Contains(err.Error(), "stopped after 3 redirects") {
		t.Errorf("redirect loop error = %v, want stopped after 3 redirects", err)
	}
	if _, err := fetchURL(t, tool, srv.URL+"/file"); err == nil || !strings.Contains(err.Error(), "only http and https") {
		t.Errorf("redirect to file: error = %v, want scheme refused", err)
	}
	none := tools.HTTPFetch(tools.FetchOptions{Allow: loopback, MaxRedirects: -1})
	if _, err := fetchURL(t, none, srv.URL+"/one"); err == nil || !strings.Contains(err.Error(), "not followed") {
		t.Errorf("MaxRedirects -1: error = %v, want redirects not followed", err)
	}
}

func TestHTTPFetchSizeLimit(t *testing.T) {
	srv, _ := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(strings.Repeat("é", 100))) // 200 bytes
	})
	out, err := fetchURL(t, tools.HTTPFetch(tools.FetchOptions{Allow: loopback, MaxBodyBytes: 51}), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Truncated || out.Body != strings.Repeat("é", 25) || out.Note == "" {
		t.Errorf("http_fetch = %+v, want 25 é, truncated with a note", out)
	}
	// The default limit is 1 MiB.
	big, _ := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("a", tools.DefaultMaxBodyBytes+10)))
	})
	out, err = fetchURL(t, tools.HTTPFetch(tools.FetchOptions{Allow: loopback}), big.URL)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Truncated || len(out.Body) != tools.DefaultMaxBodyBytes {
		t.Errorf("http_fetch of 1 MiB+10: truncated %v, %d bytes", out.Truncated, len(out.Body))
	}
}

func TestHTTPFetchSchemes(t *testing.T) {
	tool := tools.HTTPFetch(tools.FetchOptions{AllowPrivate: true})
	for _, u := range []string{"file:///etc/passwd", "ftp://example.com/", "gopher://127.0.0.1:70/", "javascript:alert(1)", "/relative", "http://user:pw@127.0.0.1/"} {
		_, err := fetchURL(t, tool, u)
		if err == nil {
			t.Errorf("http_fetch %s succeeded, want an error", u)
		}
	}
}

func TestHTTPFetchDefaults(t *testing.T) {
	tool := tools.HTTPFetch(tools.FetchOptions{})
	if tool.Name() != "http_fetch" {
		t.Errorf("Name() = %q", tool.Name())
	}
	if need, _ := tool.NeedsApproval(json.RawMessage(`{"url":"https://example.com"}`)); need {
		t.Error("http_fetch needs approval by default")
	}
	if need, _ := tools.HTTPFetch(tools.FetchOptions{RequireApproval: true}).NeedsApproval(nil); !need {
		t.Error("RequireApproval ignored")
	}
}

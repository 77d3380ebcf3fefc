package sse_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/server/sse"
)

// FuzzParseResume checks that ParseResume never panics, accepts exactly
// the non-negative decimal int64 values, and lets a non-empty header win.
// Seeds are in testdata/fuzz/FuzzParseResume.
func FuzzParseResume(f *testing.F) {
	if testing.Short() {
		f.Skip("fuzz target skipped in -short mode")
	}
	f.Fuzz(func(t *testing.T, header, query string) {
		r := &http.Request{URL: &url.URL{RawQuery: query}, Header: http.Header{}}
		if header != "" {
			r.Header["Last-Event-Id"] = []string{header}
		}
		after, ok, err := sse.ParseResume(r)
		if err != nil {
			if ok || after != 0 || !errors.Is(err, sse.ErrInvalidResume) {
				t.Fatalf("ParseResume = %d, %v, %v", after, ok, err)
			}
		} else if ok && after < 0 {
			t.Fatalf("ParseResume = %d, want non-negative", after)
		}
		src, fromHeader := header, header != ""
		if !fromHeader {
			vs, present := r.URL.Query()["after"]
			if !present {
				if ok || err != nil {
					t.Fatalf("ParseResume without a resume point = %d, %v, %v", after, ok, err)
				}
				return
			}
			src = strings.Join(vs, ",")
		}
		n, perr := strconv.ParseUint(src, 10, 63)
		valid := perr == nil && !strings.ContainsAny(src, "+-")
		if valid != (err == nil) || (valid && (int64(n) != after || !ok)) {
			t.Fatalf("ParseResume(%q) = %d, %v, %v; strconv says %d, %v", src, after, ok, err, n, perr)
		}
	})
}

// FuzzDecode checks that Decode never panics on any input and that what
// the Writer writes, Decode reads back identically. Seeds are in
// testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	if testing.Short() {
		f.Skip("fuzz target skipped in -short mode")
	}
	f.Fuzz(func(t *testing.T, stream []byte, text string, seq int64) {
		for ev, err := range (sse.Decoder{MaxLineSize: 256}).Decode(bytes.NewReader(stream)) {
			if err != nil {
				break
			}
			if !utf8.ValidString(ev.Data) || !utf8.ValidString(ev.Name) || !utf8.ValidString(ev.ID) || ev.Retry < 0 {
				t.Fatalf("Decode(%q) yielded %+v", stream, ev)
			}
		}

		if seq <= 0 {
			seq = -seq
			if seq <= 0 {
				seq = 1
			}
		}
		var out bytes.Buffer
		w, err := sse.NewWriter(recorder{&out})
		if err != nil {
			t.Fatal(err)
		}
		c := helix.Chunk{Type: helix.ChunkTextDelta, SessionID: text, Sequence: seq, Delta: text}
		name := strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, text)
		must(t, w.Comment(text))
		must(t, w.Chunk(c))
		must(t, w.Event(name, []byte(text)))
		must(t, w.End(text))
		js, _ := c.MarshalJSON()
		wantData := strings.ToValidUTF8(strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(text), "\uFFFD")
		want := []sse.Event{
			{ID: strconv.FormatInt(seq, 10), Name: "chunk", Data: string(js)},
			{Name: strings.ToValidUTF8(name, "\uFFFD"), Data: wantData},
		}
		got, err := collect(t, sse.Decode(bytes.NewReader(out.Bytes())))
		if err != nil || len(got) != 3 {
			t.Fatalf("Decode of %q = %+v, %v", out.Bytes(), got, err)
		}
		for i, w := range want {
			if got[i] != w {
				t.Fatalf("event %d: got %+v, want %+v (stream %q)", i, got[i], w, out.Bytes())
			}
		}
		var end struct{ Status string }
		if got[2].Name != "end" || json.Unmarshal([]byte(got[2].Data), &end) != nil ||
			(utf8.ValidString(text) && end.Status != text) {
			t.Fatalf("end event %+v, want status %q", got[2], text)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// recorder is a minimal flushing ResponseWriter over a buffer.
type recorder struct{ b *bytes.Buffer }

func (r recorder) Header() http.Header         { return http.Header{} }
func (r recorder) Write(p []byte) (int, error) { return r.b.Write(p) }
func (recorder) WriteHeader(int)               {}
func (recorder) Flush()                        {}

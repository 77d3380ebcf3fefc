package sse_test

import (
	"errors"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/server/sse"
)

func collect(t testing.TB, seq iter.Seq2[sse.Event, error]) ([]sse.Event, error) {
	t.Helper()
	var evs []sse.Event
	for ev, err := range seq {
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, in string
		want     []sse.Event
	}{
		{"chunk", "id: 1\nevent: chunk\ndata: {}\n\n", []sse.Event{{ID: "1", Name: "chunk", Data: "{}"}}},
		{"multi-line data", "data: a\ndata:b\ndata\ndata:  c\n\n", []sse.Event{{Data: "a\nb\n\n c"}}},
		{"CRLF", "id: 1\r\ndata: x\r\n\r\n", []sse.Event{{ID: "1", Data: "x"}}},
		{"CR", "id: 1\rdata: x\r\rdata: y\r\r", []sse.Event{{ID: "1", Data: "x"}, {Data: "y"}}},
		{"mixed", "data: a\r\ndata: b\rdata: c\n\r\n", []sse.Event{{Data: "a\nb\nc"}}},
		{"BOM", "\uFEFFdata: x\n\n", []sse.Event{{Data: "x"}}},
		{"only one BOM", "\uFEFF\uFEFFdata: x\n\n", nil},
		{"comments", ": ping\n\n:\n\ndata: x\n: inside\n\n", []sse.Event{{Data: "x"}}},
		{"retry", "retry: 2500\n\n", []sse.Event{{Retry: 2500 * time.Millisecond}}},
		{"bad retry", "retry: 2.5\n\nretry: -1\n\nretry:\n\nretry: 99999999999999999999\n\n", nil},
		{"id with NUL ignored", "id: a\x00b\ndata: x\n\n", []sse.Event{{Data: "x"}}},
		{"unknown field", "foo: bar\n\n", nil},
		{"no space", "event:end\ndata:{}\n\n", []sse.Event{{Name: "end", Data: "{}"}}},
		{"colon in value", "data: a: b\n\n", []sse.Event{{Data: "a: b"}}},
		{"unfinished at EOF", "data: x\n\ndata: y\n", []sse.Event{{Data: "x"}}},
		{"unterminated line", "data: x\n\ndata: y", []sse.Event{{Data: "x"}}},
		{"invalid UTF-8", "data: a\xffb\n\n", []sse.Event{{Data: "a\uFFFDb"}}},
		{"last field wins", "event: a\nevent: b\nid: 1\nid: 2\ndata: x\n\n", []sse.Event{{ID: "2", Name: "b", Data: "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tt.in), iotest.OneByteReader(strings.NewReader(tt.in))} {
				got, err := collect(t, sse.Decode(r))
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("Decode(%q) (-want +got):\n%s", tt.in, diff)
				}
			}
		})
	}
}

// A CR-terminated event is delivered without waiting for the next byte.
func TestDecodeCRNoLookahead(t *testing.T) {
	pr, pw := io.Pipe()
	defer pr.Close()
	go func() { _, _ = pw.Write([]byte("data: x\r\r")) }() // then nothing
	for ev, err := range sse.Decode(pr) {
		if err != nil || ev.Data != "x" {
			t.Fatalf("got %+v, %v", ev, err)
		}
		break
	}
	pw.Close()
}

func TestDecodeLimits(t *testing.T) {
	d := sse.Decoder{MaxLineSize: 64}
	_, err := collect(t, d.Decode(strings.NewReader("data: "+strings.Repeat("x", 100)+"\n\n")))
	if !errors.Is(err, sse.ErrLineTooLong) {
		t.Errorf("long line: %v, want ErrLineTooLong", err)
	}
	_, err = collect(t, d.Decode(strings.NewReader(strings.Repeat("data: "+strings.Repeat("x", 20)+"\n", 5))))
	if !errors.Is(err, sse.ErrEventTooLong) {
		t.Errorf("long event: %v, want ErrEventTooLong", err)
	}
}

func TestDecodeReadError(t *testing.T) {
	boom := errors.New("boom")
	evs, err := collect(t, sse.Decode(io.MultiReader(strings.NewReader("data: x\n\n"), iotest.ErrReader(boom))))
	if !errors.Is(err, boom) || len(evs) != 1 {
		t.Errorf("got %v, %v; want one event then boom", evs, err)
	}
}

// TestRoundTrip writes through a real server and reads the stream back.
func TestRoundTrip(t *testing.T) {
	chunks := []helix.Chunk{textDelta(5, "a\r\nb\u2028"), textDelta(6, "<&>\"\\\x00")}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw, err := sse.NewWriter(w)
		if err != nil {
			t.Error(err)
			return
		}
		for _, c := range chunks {
			if err := sw.Chunk(c); err != nil {
				t.Error(err)
			}
		}
		_ = sw.Ping()
		_ = sw.Event("custom", []byte("x\r\ny"))
		_ = sw.Retry(3 * time.Second)
		_ = sw.End("suspended_approval")
	}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := collect(t, sse.Decode(resp.Body))
	if err != nil {
		t.Fatal(err)
	}
	var want []sse.Event
	for _, c := range chunks {
		js, _ := c.MarshalJSON()
		want = append(want, sse.Event{ID: itoa(c.Sequence), Name: "chunk", Data: string(js)})
	}
	want = append(want,
		sse.Event{Name: "custom", Data: "x\ny"},
		sse.Event{Retry: 3 * time.Second},
		sse.Event{Name: "end", Data: `{"status":"suspended_approval"}`})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	var c helix.Chunk
	if err := c.UnmarshalJSON([]byte(got[0].Data)); err != nil || c.Delta != chunks[0].Delta || c.Sequence != 5 {
		t.Errorf("chunk decoded as %+v, %v", c, err)
	}
}

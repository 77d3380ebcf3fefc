package sse_test

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/helix-agents/helix-go/server/sse"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func request(query string, header ...string) *http.Request {
	r := &http.Request{URL: &url.URL{Path: "/sse", RawQuery: query}, Header: http.Header{}}
	for _, h := range header {
		r.Header.Add("Last-Event-ID", h)
	}
	return r
}

func TestParseResume(t *testing.T) {
	tests := []struct {
		name   string
		r      *http.Request
		after  int64
		ok     bool
		reject bool
	}{
		{"none", request("sessionId=s"), 0, false, false},
		{"query", request("sessionId=s&after=12"), 12, true, false},
		{"header", request("", "7"), 7, true, false},
		{"header wins", request("after=3", "9"), 9, true, false},
		{"empty header falls back", request("after=3", ""), 3, true, false},
		{"zero", request("after=0"), 0, true, false},
		{"leading zeros", request("after=007"), 7, true, false},
		{"max int64", request("after=9223372036854775807"), 1<<63 - 1, true, false},
		{"overflow", request("after=9223372036854775808"), 0, false, true},
		{"negative", request("after=-1"), 0, false, true},
		{"plus", request("after=%2B1"), 0, false, true},
		{"space", request("", " 1"), 0, false, true},
		{"hex", request("after=0x10"), 0, false, true},
		{"empty after", request("after="), 0, false, true},
		{"repeated after", request("after=1&after=2"), 0, false, true},
		{"repeated header", request("", "1", "2"), 0, false, true},
		{"bad header ignores good query", request("after=1", "x"), 0, false, true},
		{"unicode digits", request("", "١"), 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			after, ok, err := sse.ParseResume(tt.r)
			if tt.reject {
				if !errors.Is(err, sse.ErrInvalidResume) || ok {
					t.Errorf("ParseResume = %d, %v, %v; want ErrInvalidResume", after, ok, err)
				}
				return
			}
			if err != nil || after != tt.after || ok != tt.ok {
				t.Errorf("ParseResume = %d, %v, %v; want %d, %v, nil", after, ok, err, tt.after, tt.ok)
			}
		})
	}
}

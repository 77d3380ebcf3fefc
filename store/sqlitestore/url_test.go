package sqlitestore

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		path string
		o    Options
		err  string
	}{
		{in: "sqlite://./helix.db", path: "./helix.db", o: Options{Synchronous: "normal"}},
		{in: "sqlite:///var/lib/helix/helix.db", path: "/var/lib/helix/helix.db", o: Options{Synchronous: "normal"}},
		{in: "sqlite://helix.db?synchronous=FULL&busy_timeout=10s", path: "helix.db", o: Options{Synchronous: "full", BusyTimeout: 10 * time.Second}},
		{in: "sqlite:rel/helix.db?poll_interval=-1s&read_conns=8&max_batch=64", path: "rel/helix.db",
			o: Options{Synchronous: "normal", PollInterval: -time.Second, ReadConns: 8, MaxBatch: 64}},
		{in: "sqlite:x.db?commit_interval=-1ms", path: "x.db", o: Options{Synchronous: "normal", CommitInterval: -time.Millisecond}},
		{in: "sqlite:x.db?max_chunks=100000", path: "x.db", o: Options{Synchronous: "normal", MaxChunks: 100000}},
		{in: "sqlite:x.db?max_chunks=10", err: "at least 64"},
		{in: "sqlite:x.db?max_chunks=-1", err: "must not be negative"},
		{in: "sqlite://", err: "names no database file"},
		{in: "sqlite://x.db?synchronous=off", err: `synchronous "off"`},
		{in: "sqlite://x.db?busy_timeout=soon", err: "busy_timeout"},
		{in: "sqlite://x.db?read_conns=-2", err: "must not be negative"},
		{in: "sqlite://x.db?journal=memory", err: `unknown URL parameter "journal"`},
	} {
		u, err := url.Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		path, o, err := parseURL(u)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseURL(%q) error = %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseURL(%q): %v", tc.in, err)
			continue
		}
		o.Logger = nil
		// Defaults filled in by validate.
		want := tc.o
		if want.BusyTimeout == 0 {
			want.BusyTimeout = 5 * time.Second
		}
		if want.ReadConns == 0 {
			want.ReadConns = 4
		}
		if want.PollInterval == 0 {
			want.PollInterval = 100 * time.Millisecond
		}
		if want.MaxBatch == 0 {
			want.MaxBatch = 1024
		}
		if want.CommitInterval == 0 {
			want.CommitInterval = 2 * time.Millisecond
		}
		if path != tc.path || o != want {
			t.Errorf("parseURL(%q) = %q, %+v; want %q, %+v", tc.in, path, o, tc.path, want)
		}
	}
}

// FuzzParseURL checks that no URL makes the parser panic and that accepted
// options are valid.
func FuzzParseURL(f *testing.F) {
	f.Add("sqlite://./helix.db?synchronous=full&busy_timeout=1s")
	f.Add("sqlite:x?max_batch=9999999999999999999")
	f.Add("sqlite:x?max_chunks=64&ttl=720h")
	f.Add("sqlite:x?max_chunks=63&ttl=-1s")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.Parse(s)
		if err != nil {
			return
		}
		path, o, err := parseURL(u)
		if err != nil {
			return
		}
		if path == "" || (o.Synchronous != "normal" && o.Synchronous != "full") || o.BusyTimeout <= 0 || o.ReadConns <= 0 || o.MaxBatch <= 0 ||
			o.TTL < 0 || o.MaxChunks < 0 || (o.MaxChunks > 0 && o.MaxChunks < minMaxChunks) {
			t.Fatalf("parseURL(%q) accepted %q, %+v", s, path, o)
		}
	})
}

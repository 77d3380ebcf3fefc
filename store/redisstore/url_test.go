package redisstore

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestParseURL checks the store's own URL parameters, that they are
// removed before redis.ParseURL sees the URL, and that errors name the
// parameter without the password.
func TestParseURL(t *testing.T) {
	const secret = "pa55-w0rd!"
	for _, tc := range []struct {
		url     string
		want    Options
		addr    string
		db      int
		tls     bool
		wantErr string
	}{
		{url: "redis://127.0.0.1:6379/0", addr: "127.0.0.1:6379"},
		{url: "redis://:" + secret + "@h:1/3?prefix=app%3A&ttl=168h&max_chunks=500&poll_interval=250ms",
			want: Options{KeyPrefix: "app:", TTL: 168 * time.Hour, MaxChunks: 500, PollInterval: 250 * time.Millisecond},
			addr: "h:1", db: 3},
		{url: "rediss://u:" + secret + "@h/1?ttl=never&max_chunks=-1&poll_interval=-1s&dial_timeout=2s",
			want: Options{TTL: -1, MaxChunks: -1, PollInterval: -time.Second}, addr: "h:6379", db: 1, tls: true},
		{url: "REDIS://h?ttl=-5m", want: Options{TTL: -5 * time.Minute}, addr: "h:6379"},
		{url: "redis://:" + secret + "@h?ttl=soon", wantErr: `ttl="soon"`},
		{url: "redis://:" + secret + "@h?ttl=0", wantErr: `ttl="0"`},
		{url: "redis://:" + secret + "@h?max_chunks=lots", wantErr: `max_chunks="lots"`},
		{url: "redis://:" + secret + "@h?max_chunks=0", wantErr: `max_chunks="0"`},
		{url: "redis://:" + secret + "@h?poll_interval=often", wantErr: `poll_interval="often"`},
		{url: "redis://:" + secret + "@h?prefix=", wantErr: `prefix=""`},
		{url: "redis://:" + secret + "@h?nonsense=1", wantErr: "unexpected option: nonsense"},
		{url: "redis://:" + secret + "@h/notadb", wantErr: "invalid database number"},
		{url: "postgres://:" + secret + "@h/0", wantErr: `scheme "postgres"`},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatalf("url.Parse(%q): %v", tc.url, err)
		}
		ro, o, err := parseURL(u)
		if tc.wantErr != "" {
			if err == nil {
				t.Errorf("parseURL(%q) succeeded, want an error mentioning %q", tc.url, tc.wantErr)
				continue
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseURL(%q) error %q does not mention %q", tc.url, err, tc.wantErr)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("parseURL(%q) error contains the password: %v", tc.url, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseURL(%q): %v", tc.url, err)
			continue
		}
		if o.KeyPrefix != tc.want.KeyPrefix || o.TTL != tc.want.TTL || o.MaxChunks != tc.want.MaxChunks || o.PollInterval != tc.want.PollInterval {
			t.Errorf("parseURL(%q) options = %+v, want %+v", tc.url, o, tc.want)
		}
		if ro.Addr != tc.addr || ro.DB != tc.db || (ro.TLSConfig != nil) != tc.tls {
			t.Errorf("parseURL(%q) client options: addr %q db %d tls %v; want %q %d %v", tc.url, ro.Addr, ro.DB, ro.TLSConfig != nil, tc.addr, tc.db, tc.tls)
		}
		if strings.Contains(tc.url, secret) && ro.Password != secret {
			t.Errorf("parseURL(%q): password not passed to the client", tc.url)
		}
	}
}

// TestOptionsDefaults checks the zero Options.
func TestOptionsDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	if o.KeyPrefix != "helix:" || o.TTL != 720*time.Hour || o.MaxChunks != 100000 || o.PollInterval != 2*time.Second || o.Logger == nil {
		t.Errorf("Options{}.withDefaults() = %+v", o)
	}
	o = Options{TTL: -1, MaxChunks: -1, PollInterval: -1}.withDefaults()
	if o.TTL != -1 || o.MaxChunks != -1 || o.PollInterval != -1 {
		t.Errorf("negative options changed by withDefaults: %+v", o)
	}
}

// TestSplitPoint checks where the sequence is spliced into a chunk's JSON.
func TestSplitPoint(t *testing.T) {
	for _, tc := range []struct {
		js   string
		want int
	}{
		{`{"type":"x","timestamp":123,"delta":"a"}`, len(`{"type":"x","timestamp":123`)},
		{`{"type":"x","timestamp":-5}`, len(`{"type":"x","timestamp":-5`)},
		{`{"type":"\",\"timestamp\":1","timestamp":7}`, len(`{"type":"\",\"timestamp\":1","timestamp":7`)},
		{`{"type":"x"}`, -1},
	} {
		if got := splitPoint([]byte(tc.js)); got != tc.want {
			t.Errorf("splitPoint(%s) = %d, want %d", tc.js, got, tc.want)
		}
	}
}

// TestNotifyParse checks the decoding of notifications, with ids holding
// the separator.
func TestNotifyParse(t *testing.T) {
	var got []string
	parse := func(p string) {
		got = got[:0]
		for p != "" {
			id, rest, ok := nextNotified(p)
			if !ok {
				break
			}
			got = append(got, id)
			p = rest
		}
	}
	parse("3:a:b5:c 1:2")
	if strings.Join(got, "|") != "a:b|c 1:2" {
		t.Errorf("parsed %q", got)
	}
	parse("9:short")
	if len(got) != 0 {
		t.Errorf("a truncated notification gave %q", got)
	}
}

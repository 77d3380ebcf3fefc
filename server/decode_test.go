package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

type testBody struct {
	SessionID string         `json:"sessionId"`
	Message   string         `json:"message,omitempty"`
	Count     int            `json:"count,omitempty"`
	State     map[string]any `json:"state,omitempty"`
}

func newJSONRequest(body, contentType string) *http.Request {
	r := httptest.NewRequest("POST", "/start", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

func TestDecodeJSON(t *testing.T) {
	const ct = "application/json"
	tests := []struct {
		name  string
		body  string
		ct    string
		limit int64
		want  error // nil, ErrBadRequest or ErrTooLarge
		got   testBody
	}{
		{name: "valid", body: `{"sessionId":"s1","message":"hi"}`, ct: ct, got: testBody{SessionID: "s1", Message: "hi"}},
		{name: "valid with charset", body: `{"sessionId":"s1"}`, ct: "application/json; charset=utf-8", got: testBody{SessionID: "s1"}},
		{name: "valid with charset upper", body: `{"sessionId":"s1"}`, ct: "Application/JSON;charset=UTF-8", got: testBody{SessionID: "s1"}},
		{name: "surrounding whitespace", body: " \n\t{\"sessionId\":\"s1\"}\r\n ", ct: ct, got: testBody{SessionID: "s1"}},
		{name: "nested state", body: `{"sessionId":"s1","state":{"a":[1,2]}}`, ct: ct, got: testBody{SessionID: "s1", State: map[string]any{"a": []any{1.0, 2.0}}}},
		{name: "exactly at limit", body: `{"sessionId":"s1"}`, ct: ct, limit: int64(len(`{"sessionId":"s1"}`)), got: testBody{SessionID: "s1"}},

		{name: "unknown field", body: `{"sessionId":"s1","admin":true}`, ct: ct, want: ErrBadRequest},
		{name: "wrong type", body: `{"sessionId":42}`, ct: ct, want: ErrBadRequest},
		{name: "name in another case", body: `{"SessionId":"s1"}`, ct: ct, want: ErrBadRequest},
		{name: "name in capitals", body: `{"sessionId":"s1","MESSAGE":"hi"}`, ct: ct, want: ErrBadRequest},
		{name: "repeated name", body: `{"sessionId":"s1","sessionId":"s2"}`, ct: ct, want: ErrBadRequest},
		{name: "repeated name, same value", body: `{"message":"a","sessionId":"s1","message":"a"}`, ct: ct, want: ErrBadRequest},
		{name: "wrong nested type", body: `{"state":[]}`, ct: ct, want: ErrBadRequest},
		{name: "int overflow", body: `{"count":1e400}`, ct: ct, want: ErrBadRequest},
		{name: "trailing garbage", body: `{"sessionId":"s1"}x`, ct: ct, want: ErrBadRequest},
		{name: "trailing garbage after space", body: `{"sessionId":"s1"} ]`, ct: ct, want: ErrBadRequest},
		{name: "two objects", body: `{"sessionId":"s1"}{"sessionId":"s2"}`, ct: ct, want: ErrBadRequest},
		{name: "two objects newline", body: "{\"sessionId\":\"s1\"}\n{}", ct: ct, want: ErrBadRequest},
		{name: "empty", body: ``, ct: ct, want: ErrBadRequest},
		{name: "whitespace only", body: " \n ", ct: ct, want: ErrBadRequest},
		{name: "array top level", body: `[{"sessionId":"s1"}]`, ct: ct, want: ErrBadRequest},
		{name: "null", body: `null`, ct: ct, want: ErrBadRequest},
		{name: "string top level", body: `"s1"`, ct: ct, want: ErrBadRequest},
		{name: "truncated", body: `{"sessionId":"s1"`, ct: ct, want: ErrBadRequest},
		{name: "syntax error", body: `{"sessionId":s1}`, ct: ct, want: ErrBadRequest},
		{name: "invalid utf-8", body: "{\"sessionId\":\"\xff\"}", ct: ct, want: ErrBadRequest},
		{name: "oversized", body: `{"sessionId":"` + strings.Repeat("a", 100) + `"}`, ct: ct, limit: 64, want: ErrTooLarge},
		{name: "one byte over", body: `{"sessionId":"s1"}`, ct: ct, limit: int64(len(`{"sessionId":"s1"}`)) - 1, want: ErrTooLarge},
		{name: "missing content type", body: `{"sessionId":"s1"}`, ct: "", want: ErrBadRequest},
		{name: "text/plain", body: `{"sessionId":"s1"}`, ct: "text/plain", want: ErrBadRequest},
		{name: "form", body: `{"sessionId":"s1"}`, ct: "application/x-www-form-urlencoded", want: ErrBadRequest},
		{name: "json suffix type", body: `{"sessionId":"s1"}`, ct: "application/vnd.api+json", want: ErrBadRequest},
		{name: "latin1 charset", body: `{"sessionId":"s1"}`, ct: "application/json; charset=latin1", want: ErrBadRequest},
		{name: "other param", body: `{"sessionId":"s1"}`, ct: "application/json; foo=bar", want: ErrBadRequest},
		{name: "malformed content type", body: `{"sessionId":"s1"}`, ct: "application/json;;", want: ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newJSONRequest(tt.body, tt.ct)
			w := httptest.NewRecorder()
			var got testBody
			err := decodeJSON(w, r, tt.limit, &got)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("decodeJSON(%q) = %v, want nil", tt.body, err)
				}
				gb, _ := json.Marshal(got)
				wb, _ := json.Marshal(tt.got)
				if !bytes.Equal(gb, wb) {
					t.Errorf("decodeJSON(%q) decoded %s, want %s", tt.body, gb, wb)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("decodeJSON(%q) = %v, want error wrapping %v", tt.body, err, tt.want)
			}
			// The client sees exactly the fixed body.
			writeError(w, r, discardLogger(), err)
			wantStatus, wantBody := statusOf(tt.want)
			if w.Code != wantStatus || w.Body.String() != wantBody {
				t.Errorf("response = %d %s, want %d %s", w.Code, w.Body, wantStatus, wantBody)
			}
		})
	}
}

func TestDecodeJSONOversizedIs413(t *testing.T) {
	r := newJSONRequest(`{"message":"`+strings.Repeat("x", 1<<10)+`"}`, "application/json")
	w := httptest.NewRecorder()
	var got testBody
	err := decodeJSON(w, r, 512, &got)
	writeError(w, r, discardLogger(), err)
	if w.Code != http.StatusRequestEntityTooLarge || w.Body.String() != `{"error":"Request body too large"}` {
		t.Errorf("oversized body: %d %s, want 413 {\"error\":\"Request body too large\"}", w.Code, w.Body)
	}
}

func TestDecodeJSONDefaultLimit(t *testing.T) {
	// Just over DefaultMaxBodyBytes; the limit argument 0 means the default.
	body := `{"message":"` + strings.Repeat("x", int(DefaultMaxBodyBytes)) + `"}`
	r := newJSONRequest(body, "application/json")
	var got testBody
	if err := decodeJSON(httptest.NewRecorder(), r, 0, &got); !errors.Is(err, ErrTooLarge) {
		t.Errorf("decodeJSON(%d bytes, limit 0) = %v, want ErrTooLarge", len(body), err)
	}
}

func TestDecodeJSONNilBody(t *testing.T) {
	r := httptest.NewRequest("POST", "/start", nil)
	r.Header.Set("Content-Type", "application/json")
	var got testBody
	if err := decodeJSON(httptest.NewRecorder(), r, 0, &got); !errors.Is(err, ErrBadRequest) {
		t.Errorf("decodeJSON(no body) = %v, want ErrBadRequest", err)
	}
}

func TestDecodeJSONDetailHasNoValue(t *testing.T) {
	const secret = "sk-live-hunter2"
	for _, body := range []string{
		`{"count":"` + secret + `"}`,
		`{"sessionId":"s1","` + "x" + `":"` + secret + `"}`,
	} {
		var got testBody
		err := decodeJSON(httptest.NewRecorder(), newJSONRequest(body, "application/json"), 0, &got)
		if !errors.Is(err, ErrBadRequest) || strings.Contains(err.Error(), secret) {
			t.Errorf("decodeJSON(%q) = %v; want ErrBadRequest without the value", body, err)
		}
	}
}

func TestParsePagination(t *testing.T) {
	tests := []struct {
		query         string
		offset, limit int
		want          error
	}{
		{"", 0, 50, nil},
		{"offset=0&limit=1", 0, 1, nil},
		{"offset=10", 10, 50, nil},
		{"limit=1000", 0, 1000, nil},
		{"offset=007&limit=020", 7, 20, nil},
		{"offset=9223372036854775807", 9223372036854775807, 50, nil},
		{"sessionId=s1&offset=5&limit=5", 5, 5, nil},

		{"offset=-1", 0, 0, ErrInvalidOffset},
		{"offset=%2B5", 0, 0, ErrInvalidOffset}, // "+5"
		{"offset=+5", 0, 0, ErrInvalidOffset},   // "+" decodes to " 5"
		{"offset=%205", 0, 0, ErrInvalidOffset},
		{"offset=5%20", 0, 0, ErrInvalidOffset},
		{"offset=abc", 0, 0, ErrInvalidOffset},
		{"offset=1.5", 0, 0, ErrInvalidOffset},
		{"offset=1e3", 0, 0, ErrInvalidOffset},
		{"offset=0x10", 0, 0, ErrInvalidOffset},
		{"offset=", 0, 0, ErrInvalidOffset},
		{"offset", 0, 0, ErrInvalidOffset},
		{"offset=9223372036854775808", 0, 0, ErrInvalidOffset},
		{"offset=99999999999999999999999", 0, 0, ErrInvalidOffset},
		{"offset=1&offset=2", 0, 0, ErrInvalidOffset},
		{"offset=%EF%BC%91", 0, 0, ErrInvalidOffset}, // fullwidth digit one
		{"offset=-1&limit=0", 0, 0, ErrInvalidOffset},

		{"limit=0", 0, 0, ErrInvalidLimit},
		{"limit=1001", 0, 0, ErrInvalidLimit},
		{"limit=-5", 0, 0, ErrInvalidLimit},
		{"limit=%2B5", 0, 0, ErrInvalidLimit},
		{"limit=5%20", 0, 0, ErrInvalidLimit},
		{"limit=ten", 0, 0, ErrInvalidLimit},
		{"limit=", 0, 0, ErrInvalidLimit},
		{"limit=1&limit=2", 0, 0, ErrInvalidLimit},
		{"limit=99999999999999999999999", 0, 0, ErrInvalidLimit},
		{"offset=3&limit=1001", 0, 0, ErrInvalidLimit},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatalf("ParseQuery(%q): %v", tt.query, err)
			}
			offset, limit, err := parsePagination(q)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Errorf("parsePagination(%q) = %d, %d, %v; want %v", tt.query, offset, limit, err, tt.want)
				}
				return
			}
			if err != nil || offset != tt.offset || limit != tt.limit {
				t.Errorf("parsePagination(%q) = %d, %d, %v; want %d, %d, nil", tt.query, offset, limit, err, tt.offset, tt.limit)
			}
		})
	}
}

func TestParsePaginationBodies(t *testing.T) {
	for query, want := range map[string]string{
		"offset=x": `{"error":"Invalid offset parameter"}`,
		"limit=x":  `{"error":"Invalid limit parameter"}`,
	} {
		q, _ := url.ParseQuery(query)
		_, _, err := parsePagination(q)
		if status, body := statusOf(err); status != 400 || body != want {
			t.Errorf("parsePagination(%q) maps to %d %s, want 400 %s", query, status, body, want)
		}
	}
}

func FuzzDecodeJSON(f *testing.F) {
	if testing.Short() {
		f.Skip("fuzz: skipped under -short")
	}
	for _, s := range []string{
		`{"sessionId":"s1","message":"hi"}`,
		`{"sessionId":"s1"} `,
		`{"sessionId":"s1"}{}`,
		`{"state":{"a":[1,{"b":null}]}}`,
		`[]`, `null`, ``, `{"count":1e400}`, `{"x":1}`,
		`{"SessionId":"s1"}`, `{"sessionId":"s1","sessionId":"s2"}`,
	} {
		f.Add([]byte(s), "application/json")
	}
	f.Add([]byte(`{}`), "application/json; charset=utf-8")
	f.Add([]byte(`{}`), "text/plain")
	const limit = 4096
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		r := httptest.NewRequest("POST", "/start", bytes.NewReader(body))
		r.Header.Set("Content-Type", ct)
		var got testBody
		err := decodeJSON(httptest.NewRecorder(), r, limit, &got)
		if err == nil {
			trimmed := bytes.TrimSpace(body)
			if !json.Valid(body) || len(trimmed) == 0 || trimmed[0] != '{' {
				t.Fatalf("decodeJSON accepted %q (content type %q), which is not a single JSON object", body, ct)
			}
			if len(body) > limit {
				t.Fatalf("decodeJSON accepted %d bytes over the %d limit", len(body), limit)
			}
			// Every member name exact and only once.
			var members map[string]json.RawMessage
			if err := json.Unmarshal(body, &members); err != nil {
				t.Fatalf("decodeJSON accepted %q: %v", body, err)
			}
			for name := range members {
				switch name {
				case "sessionId", "message", "count", "state":
				default:
					t.Fatalf("decodeJSON accepted %q with member %q", body, name)
				}
			}
			if n := topMembers(t, body); n != len(members) {
				t.Fatalf("decodeJSON accepted %q: %d members, %d distinct names", body, n, len(members))
			}
			return
		}
		switch {
		case errors.Is(err, ErrTooLarge):
			if len(body) <= limit {
				t.Fatalf("decodeJSON(%d bytes) = %v, but the limit is %d", len(body), err, limit)
			}
		case errors.Is(err, ErrBadRequest):
		default:
			t.Fatalf("decodeJSON(%q) = %v, want ErrBadRequest or ErrTooLarge", body, err)
		}
		if status, _ := statusOf(err); status != 400 && status != 413 {
			t.Fatalf("decodeJSON error %v maps to %d", err, status)
		}
	})
}

func FuzzPagination(f *testing.F) {
	if testing.Short() {
		f.Skip("fuzz: skipped under -short")
	}
	for _, s := range []string{
		"", "offset=0&limit=50", "offset=-1", "limit=1001", "offset=%2B5",
		"offset=1&offset=2", "limit=99999999999999999999", "offset=%205",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		offset, limit, err := parsePagination(q)
		if err != nil {
			if !errors.Is(err, ErrInvalidOffset) && !errors.Is(err, ErrInvalidLimit) {
				t.Fatalf("parsePagination(%q) = %v, want ErrInvalidOffset or ErrInvalidLimit", raw, err)
			}
			if status, _ := statusOf(err); status != 400 {
				t.Fatalf("parsePagination(%q) error maps to %d, want 400", raw, status)
			}
			return
		}
		if offset < 0 || limit < 1 || limit > maxLimit {
			t.Fatalf("parsePagination(%q) = %d, %d: out of bounds", raw, offset, limit)
		}
		for _, name := range []string{"offset", "limit"} {
			if vs := q[name]; len(vs) > 1 {
				t.Fatalf("parsePagination(%q) accepted repeated %s", raw, name)
			}
		}
	})
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// topMembers counts the members of the JSON object body, repeated names
// included.
func topMembers(t *testing.T, body []byte) int {
	dec := json.NewDecoder(bytes.NewReader(body))
	n, depth := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return n
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			continue
		case json.Delim('}'), json.Delim(']'):
			depth--
			continue
		}
		// At depth 1, names and values alternate: count the names.
		if _, ok := tok.(string); ok && depth == 1 && dec.More() {
			n++
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatal(err)
			}
		}
	}
}

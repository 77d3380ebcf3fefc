package sse

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// ErrInvalidResume is returned by [ParseResume] for a resume point that is
// not a single non-negative decimal integer no greater than the maximum
// int64. The server answers it with 400 {"error":"Invalid request body"}.
var ErrInvalidResume = errors.New("sse: invalid resume point")

// ParseResume returns the sequence after which a GET /sse stream resumes:
// the Last-Event-ID header if the request has a non-empty one, else the
// after query parameter if present. ok is false when neither is given; the
// stream then starts at the first chunk of the session's current run.
//
// The header wins because a browser's EventSource reconnects to the same
// URL, so after still holds the point of the first connection, while
// Last-Event-ID holds the id of the last event received. An empty header is
// what a client with no last event id would send, and counts as absent.
//
// A value must be ASCII digits only (no sign, space or other text), at most
// the maximum int64; a repeated header or parameter, or an after parameter
// that is present but empty, is also an error. Errors wrap
// [ErrInvalidResume].
func ParseResume(r *http.Request) (after int64, ok bool, err error) {
	if vs := r.Header.Values("Last-Event-ID"); len(vs) > 0 {
		if len(vs) > 1 {
			return 0, false, fmt.Errorf("%w: %d Last-Event-ID headers", ErrInvalidResume, len(vs))
		}
		if vs[0] != "" {
			return parseSequence("Last-Event-ID", vs[0])
		}
	}
	vs, present := r.URL.Query()["after"]
	if !present {
		return 0, false, nil
	}
	if len(vs) > 1 {
		return 0, false, fmt.Errorf("%w: %d after parameters", ErrInvalidResume, len(vs))
	}
	return parseSequence("after", vs[0])
}

// parseSequence parses a resume point from source.
func parseSequence(source, s string) (int64, bool, error) {
	if s == "" || len(s) > 64 {
		return 0, false, fmt.Errorf("%w: %s has %d bytes", ErrInvalidResume, source, len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false, fmt.Errorf("%w: %s %q is not a non-negative integer", ErrInvalidResume, source, s)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%w: %s %q is out of range", ErrInvalidResume, source, s)
	}
	return n, true, nil
}

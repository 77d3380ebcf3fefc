package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/helix-agents/helix-go/server/internal/jsonobj"
)

// DefaultMaxBodyBytes is the default limit on a request body: 10 MB.
const DefaultMaxBodyBytes int64 = 10 << 20

// Pagination defaults and bounds (DESIGN §5).
const (
	defaultLimit = 50
	maxLimit     = 1000
)

// decodeJSON decodes the body of r, a single JSON object, into dst.
//
// It requires Content-Type application/json (a charset parameter is
// allowed only if it is utf-8), reads at most limit bytes (limit ≤ 0 means
// DefaultMaxBodyBytes) through http.MaxBytesReader, and rejects unknown
// fields, wrong types, invalid UTF-8, an empty body, a top level other than
// an object (so also null), and anything but whitespace after the object.
//
// Errors wrap ErrTooLarge for an oversized body and ErrBadRequest for
// everything else, with detail (field, offset) for the log only. dst may be
// partly written when an error is returned.
func decodeJSON[T any](w http.ResponseWriter, r *http.Request, limit int64, dst *T) error {
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	if r.Body == nil || r.Body == http.NoBody {
		return fmt.Errorf("%w: empty body", ErrBadRequest)
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return fmt.Errorf("%w: body exceeds %d bytes", ErrTooLarge, mbe.Limit)
		}
		return fmt.Errorf("%w: read body: %w", ErrBadRequest, err)
	}
	return unmarshalStrict(data, dst)
}

// unmarshalStrict is the body-independent part of decodeJSON.
func unmarshalStrict[T any](data []byte, dst *T) error {
	start := len(data) - len(bytes.TrimLeft(data, " \t\r\n"))
	if start == len(data) {
		return fmt.Errorf("%w: empty body", ErrBadRequest)
	}
	if data[start] != '{' {
		return fmt.Errorf("%w: top level is not an object (offset %d)", ErrBadRequest, start)
	}
	if !utf8.Valid(data) {
		return fmt.Errorf("%w: invalid UTF-8", ErrBadRequest)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("%w: %s", ErrBadRequest, describeJSONError(err))
	}
	off := dec.InputOffset()
	if rest := bytes.TrimLeft(data[off:], " \t\r\n"); len(rest) > 0 {
		return fmt.Errorf("%w: trailing data at offset %d", ErrBadRequest, int64(len(data)-len(rest)))
	}
	// encoding/json matched the names case-insensitively and let a
	// repeated one overwrite the first: each must be exact and appear once.
	var known func(string) bool
	if names := jsonobj.FieldNames(reflect.TypeFor[T]()); names != nil {
		known = func(n string) bool { return names[n] }
	}
	if err := jsonobj.CheckNames(data[:off], known); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return nil
}

// describeJSONError turns a decoding error into log detail. It never
// includes the offending value, which may be a secret.
func describeJSONError(err error) string {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		field := te.Field
		if field == "" {
			field = "(top level)"
		}
		return fmt.Sprintf("field %s: want %s, got JSON %s (offset %d)", field, te.Type, te.Value, te.Offset)
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("syntax error at offset %d", se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "truncated JSON"
	}
	// Unknown fields ("json: unknown field \"x\"") and anything else: the
	// text names the field, not the value.
	return err.Error()
}

// checkJSONContentType accepts application/json with at most a utf-8
// charset parameter.
func checkJSONContentType(ct string) error {
	if ct == "" {
		return fmt.Errorf("%w: missing Content-Type", ErrBadRequest)
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("%w: bad Content-Type: %v", ErrBadRequest, err)
	}
	if mt != "application/json" {
		return fmt.Errorf("%w: Content-Type %q, want application/json", ErrBadRequest, mt)
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return fmt.Errorf("%w: unsupported Content-Type parameter %q", ErrBadRequest, k)
		}
	}
	return nil
}

// parsePagination reads the offset and limit query parameters.
//
// offset is an integer ≥ 0 (default 0); limit is an integer in [1, 1000]
// (default 50). Values are plain ASCII digits: signs, spaces, an empty
// value, overflow and a repeated parameter are rejected with an error
// wrapping ErrInvalidOffset or ErrInvalidLimit (offset is checked first).
func parsePagination(q url.Values) (offset, limit int, err error) {
	offset, err = parseQueryInt(q, "offset", 0)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %v", ErrInvalidOffset, err)
	}
	limit, err = parseQueryInt(q, "limit", defaultLimit)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %v", ErrInvalidLimit, err)
	}
	if limit < 1 || limit > maxLimit {
		return 0, 0, fmt.Errorf("%w: %d out of range [1, %d]", ErrInvalidLimit, limit, maxLimit)
	}
	return offset, limit, nil
}

// parseQueryInt parses the single value of q[name] as a non-negative
// decimal integer, or returns def if the parameter is absent.
func parseQueryInt(q url.Values, name string, def int) (int, error) {
	vs, ok := q[name]
	if !ok || len(vs) == 0 {
		return def, nil
	}
	if len(vs) > 1 {
		return 0, fmt.Errorf("%s given %d times", name, len(vs))
	}
	v := vs[0]
	if v == "" {
		return 0, fmt.Errorf("%s is empty", name)
	}
	for i := range len(v) {
		if v[i] < '0' || v[i] > '9' {
			return 0, fmt.Errorf("%s is not a non-negative integer", name)
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s out of range", name)
	}
	return n, nil
}

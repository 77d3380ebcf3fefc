package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"
)

// ErrInvalid is wrapped by every error that reports a value failing
// validation, so callers can tell bad arguments apart from other failures
// with errors.Is.
var ErrInvalid = errors.New("invalid arguments")

// Schema is a compiled JSON Schema: its JSON text and a resolved validator,
// built once. A Schema is immutable and safe for concurrent use.
type Schema struct {
	raw      json.RawMessage
	root     *jsonschema.Schema
	resolved *jsonschema.Resolved
}

// Compile compiles JSON Schema text, such as a schema declared in a
// configuration file. The text must be a JSON object or boolean that
// jsonschema-go can resolve without loading remote schemas; defaults in it
// must satisfy their own schemas.
func Compile(raw json.RawMessage) (*Schema, error) {
	return compile(raw)
}

// compile builds a Schema from JSON Schema text.
func compile(raw json.RawMessage) (*Schema, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("schema: invalid JSON: %w", err)
	}
	compact := buf.Bytes()
	if len(compact) == 0 || (compact[0] != '{' && compact[0] != 't' && compact[0] != 'f') {
		return nil, errors.New("schema: a JSON Schema must be a JSON object or boolean")
	}
	root := new(jsonschema.Schema)
	if err := json.Unmarshal(compact, root); err != nil {
		return nil, fmt.Errorf("schema: invalid JSON Schema: %w", err)
	}
	switch root.Schema {
	case "", "http://json-schema.org/draft-07/schema#", "https://json-schema.org/draft-07/schema#",
		"https://json-schema.org/draft/2020-12/schema":
	default:
		return nil, fmt.Errorf("schema: unsupported $schema %q: only draft-07 and draft 2020-12 are supported", root.Schema)
	}
	if err := checkTypes(reflect.ValueOf(root)); err != nil {
		return nil, fmt.Errorf("schema: invalid JSON Schema: %w", err)
	}
	resolved, err := root.Resolve(&jsonschema.ResolveOptions{ValidateDefaults: true})
	if err != nil {
		return nil, fmt.Errorf("schema: invalid JSON Schema: %w", err)
	}
	return &Schema{raw: compact, root: root, resolved: resolved}, nil
}

var (
	schemaPtrType   = reflect.TypeFor[*jsonschema.Schema]()
	schemaSliceType = reflect.TypeFor[[]*jsonschema.Schema]()
	schemaMapType   = reflect.TypeFor[map[string]*jsonschema.Schema]()
)

// checkTypes reports an unknown type name in the schema s (a
// *jsonschema.Schema) or its subschemas, which jsonschema-go accepts.
func checkTypes(s reflect.Value) error {
	if s.IsNil() {
		return nil
	}
	js := s.Interface().(*jsonschema.Schema)
	for _, t := range append([]string{js.Type}, js.Types...) {
		switch t {
		case "", "null", "boolean", "object", "array", "number", "string", "integer":
		default:
			return fmt.Errorf("unknown type %q", t)
		}
	}
	v := s.Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Type() {
		case schemaPtrType:
			if err := checkTypes(f); err != nil {
				return err
			}
		case schemaSliceType:
			for j := range f.Len() {
				if err := checkTypes(f.Index(j)); err != nil {
					return err
				}
			}
		case schemaMapType:
			for it := f.MapRange(); it.Next(); {
				if err := checkTypes(it.Value()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// JSON returns the schema's compact JSON text, marshalled once at
// construction. The caller must not modify it.
func (s *Schema) JSON() json.RawMessage { return s.raw }

// Validate reports whether v, a decoded JSON value (map[string]any, []any,
// string, float64 or json.Number, bool or nil, nested as JSON allows),
// satisfies the schema. It returns nil or an error wrapping [ErrInvalid] that
// names the offending property. Validate does not modify v.
func (s *Schema) Validate(v any) error {
	nv, _, err := normalize(v, false)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := s.resolved.Validate(nv); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalid, describe(s.root, nv, err))
	}
	return nil
}

// ValidateJSON decodes data as a single JSON value, keeping numbers exact, and
// validates it like [Schema.Validate]. Data that is not valid UTF-8 or not a
// single JSON value is an error wrapping [ErrInvalid].
func (s *Schema) ValidateJSON(data []byte) error {
	if !utf8.Valid(data) {
		return fmt.Errorf("%w: arguments are not valid UTF-8", ErrInvalid)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("%w: arguments are not valid JSON: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: arguments are not valid JSON: unexpected data after the value", ErrInvalid)
	}
	v, _, err := normalize(v, true)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := s.resolved.Validate(v); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalid, describe(s.root, v, err))
	}
	return nil
}

// normalize replaces the json.Number values in v with int64, uint64 or
// float64 values, which jsonschema-go treats as numbers (it sees a
// json.Number as a string). It reports whether anything was replaced. If
// inPlace is false, containers are copied on write and v is unchanged;
// otherwise they are changed in place.
func normalize(v any, inPlace bool) (any, bool, error) {
	switch v := v.(type) {
	case json.Number:
		n, err := numberValue(v)
		return n, true, err
	case map[string]any:
		var out map[string]any
		changed := false
		for k, e := range v {
			ne, ch, err := normalize(e, inPlace)
			if err != nil {
				return nil, false, err
			}
			if !ch {
				continue
			}
			changed = true
			if inPlace {
				v[k] = ne
				continue
			}
			if out == nil {
				out = maps.Clone(v)
			}
			out[k] = ne
		}
		if out != nil {
			return out, true, nil
		}
		return v, changed, nil
	case []any:
		var out []any
		changed := false
		for i, e := range v {
			ne, ch, err := normalize(e, inPlace)
			if err != nil {
				return nil, false, err
			}
			if !ch {
				continue
			}
			changed = true
			if inPlace {
				v[i] = ne
				continue
			}
			if out == nil {
				out = slices.Clone(v)
			}
			out[i] = ne
		}
		if out != nil {
			return out, true, nil
		}
		return v, changed, nil
	}
	return v, false, nil
}

// numberValue converts a JSON number to int64 or uint64 when it is an integer
// that fits, and to float64 otherwise.
func numberValue(n json.Number) (any, error) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i, nil
	}
	if u, err := strconv.ParseUint(string(n), 10, 64); err == nil {
		return u, nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if errors.Is(err, strconv.ErrRange) {
		return nil, fmt.Errorf("number %s is out of range", n)
	} else if err != nil {
		return nil, fmt.Errorf("invalid number %q", string(n))
	}
	return f, nil
}

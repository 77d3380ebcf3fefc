// Package jsonobj checks the member names of a JSON object, which
// encoding/json does not: it matches struct fields case-insensitively and
// lets a repeated name silently overwrite the first. Request bodies are
// validated strictly (DESIGN §5), so the server requires every name to be
// spelt exactly and to appear once.
package jsonobj

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
)

// CheckNames walks the members of the JSON object data (whose syntax the
// caller checks) and returns an error for a name that appears twice or for
// which known returns false. A nil known accepts every name. Only the
// object's own members are checked, not those of nested objects.
func CheckNames(data []byte, known func(name string) bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("not an object")
	}
	var seen map[string]bool
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		name, ok := t.(string)
		if !ok {
			return fmt.Errorf("not an object")
		}
		if seen[name] {
			return fmt.Errorf("field %q appears twice", name)
		}
		if known != nil && !known(name) {
			return fmt.Errorf("unknown field %q", name)
		}
		if seen == nil {
			seen = map[string]bool{}
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// fieldNames caches FieldNames by type.
var fieldNames sync.Map // reflect.Type → map[string]bool

// FieldNames returns the JSON member names of struct type t, as
// encoding/json spells them (a field's tag name, else its Go name), or nil
// if t is not a struct. Embedded structs are not flattened: request bodies
// do not use them.
func FieldNames(t reflect.Type) map[string]bool {
	if t.Kind() != reflect.Struct {
		return nil
	}
	if v, ok := fieldNames.Load(t); ok {
		return v.(map[string]bool)
	}
	names := map[string]bool{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		names[name] = true
	}
	fieldNames.Store(t, names)
	return names
}

package jsonpatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Apply applies ops in order to doc and returns the new document. It does not
// modify doc (see the package documentation on sharing). It supports add,
// remove, replace, move, copy and test, with RFC 6901 pointers ("" is the
// whole document; ~0 and ~1 escape "~" and "/"). On failure (a malformed
// pointer, a missing target, an index out of range, a missing value, an
// unknown op or a failed test) it returns an error naming the index, op and
// path of the failing operation, and no document.
func Apply(doc any, ops []Op) (any, error) {
	for i, op := range ops {
		var err error
		doc, err = applyOp(doc, op)
		if err != nil {
			where := fmt.Sprintf("%s %q", op.Op, op.Path)
			if op.Op == "move" || op.Op == "copy" {
				where = fmt.Sprintf("%s from %q to %q", op.Op, op.From, op.Path)
			}
			return nil, fmt.Errorf("jsonpatch: op %d (%s): %w", i, where, err)
		}
	}
	return doc, nil
}

func applyOp(doc any, op Op) (any, error) {
	path, err := parsePointer(op.Path)
	if err != nil {
		return nil, err
	}
	switch op.Op {
	case "add", "replace", "test":
		value, err := opValue(op)
		if err != nil {
			return nil, err
		}
		switch op.Op {
		case "add":
			return add(doc, path, value)
		case "replace":
			return replace(doc, path, value)
		}
		got, err := get(doc, path)
		if err != nil {
			return nil, err
		}
		if !equal(got, value) {
			return nil, fmt.Errorf("test failed: the value is %s, not %s", short(got), short(value))
		}
		return doc, nil
	case "remove":
		return remove(doc, path)
	case "move", "copy":
		from, err := parsePointer(op.From)
		if err != nil {
			return nil, fmt.Errorf("from: %w", err)
		}
		value, err := get(doc, from)
		if err != nil {
			return nil, fmt.Errorf("from: %w", err)
		}
		if op.Op == "copy" {
			return add(doc, path, value)
		}
		if slices.Equal(from, path) {
			return doc, nil
		}
		if len(from) < len(path) && slices.Equal(from, path[:len(from)]) {
			return nil, errors.New("cannot move a value into itself")
		}
		if doc, err = remove(doc, from); err != nil {
			return nil, err
		}
		return add(doc, path, value)
	}
	return nil, fmt.Errorf("unknown op %q", op.Op)
}

// opValue decodes the value of op.
func opValue(op Op) (any, error) {
	if len(op.Value) == 0 {
		return nil, errors.New("missing value")
	}
	v, err := Decode(op.Value)
	if err != nil {
		return nil, fmt.Errorf("invalid value: %w", err)
	}
	return v, nil
}

// short returns v as JSON, shortened if long.
func short(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("%v", v)
	}
	s := strings.TrimSuffix(b.String(), "\n")
	const max = 60
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return s[:cut] + "..."
	}
	return s
}

// parsePointer splits an RFC 6901 JSON pointer into unescaped tokens.
func parsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, fmt.Errorf("invalid pointer %q: it must be empty or start with /", p)
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		if !strings.Contains(t, "~") {
			continue
		}
		for j := 0; j < len(t); j++ {
			if t[j] == '~' && (j+1 == len(t) || (t[j+1] != '0' && t[j+1] != '1')) {
				return nil, fmt.Errorf("invalid pointer %q: ~ must be followed by 0 or 1", p)
			}
		}
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

// typeName names the JSON type of v for errors.
func typeName(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	if _, ok := numberText(v); ok {
		return "a number"
	}
	return fmt.Sprintf("a %T", v)
}

// index parses an array index token for an array of length n. The index must
// be below n, or at most n if end is true.
func index(tok string, n int, end bool) (int, error) {
	if tok == "-" {
		return 0, errors.New(`index "-" names no existing element`)
	}
	if tok == "" || !allDigits(tok) || (len(tok) > 1 && tok[0] == '0') {
		return 0, fmt.Errorf("invalid array index %q", tok)
	}
	i, err := strconv.Atoi(tok)
	if err != nil || i > n || (i == n && !end) {
		return 0, fmt.Errorf("index %s out of range for an array of length %d", tok, n)
	}
	return i, nil
}

// get returns the value at path in doc.
func get(doc any, path []string) (any, error) {
	for _, tok := range path {
		var err error
		if doc, err = member(doc, tok); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// member returns the member tok of the object or array v.
func member(v any, tok string) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		e, ok := v[tok]
		if !ok {
			return nil, fmt.Errorf("member %q not found", tok)
		}
		return e, nil
	case []any:
		i, err := index(tok, len(v), false)
		if err != nil {
			return nil, err
		}
		return v[i], nil
	}
	return nil, fmt.Errorf("cannot look up %q in %s", tok, typeName(v))
}

// update returns a copy of doc in which the parent of the location path is
// replaced by leaf(parent, last token). It copies the containers along path
// and shares everything else. path must not be empty.
func update(doc any, path []string, leaf func(parent any, tok string) (any, error)) (any, error) {
	if len(path) == 1 {
		return leaf(doc, path[0])
	}
	child, err := member(doc, path[0])
	if err != nil {
		return nil, err
	}
	newChild, err := update(child, path[1:], leaf)
	if err != nil {
		return nil, err
	}
	switch doc := doc.(type) {
	case map[string]any:
		m := cloneMap(doc)
		m[path[0]] = newChild
		return m, nil
	case []any:
		a := slices.Clone(doc)
		i, _ := index(path[0], len(a), false) // checked by member
		a[i] = newChild
		return a, nil
	}
	return nil, fmt.Errorf("cannot look up %q in %s", path[0], typeName(doc))
}

// cloneMap returns a shallow copy of m with room for one more member; it
// never returns nil.
func cloneMap(m map[string]any) map[string]any {
	c := make(map[string]any, len(m)+1)
	for k, v := range m {
		c[k] = v
	}
	return c
}

// add implements the add operation.
func add(doc any, path []string, value any) (any, error) {
	if len(path) == 0 {
		return value, nil
	}
	return update(doc, path, func(parent any, tok string) (any, error) {
		switch p := parent.(type) {
		case map[string]any:
			m := cloneMap(p)
			m[tok] = value
			return m, nil
		case []any:
			if tok == "-" {
				return append(slices.Clip(p), value), nil
			}
			i, err := index(tok, len(p), true)
			if err != nil {
				return nil, err
			}
			return slices.Insert(slices.Clip(p), i, value), nil
		}
		return nil, fmt.Errorf("cannot add %q to %s", tok, typeName(parent))
	})
}

// remove implements the remove operation.
func remove(doc any, path []string) (any, error) {
	if len(path) == 0 {
		return nil, errors.New("cannot remove the whole document")
	}
	return update(doc, path, func(parent any, tok string) (any, error) {
		switch p := parent.(type) {
		case map[string]any:
			if _, ok := p[tok]; !ok {
				return nil, fmt.Errorf("member %q not found", tok)
			}
			m := cloneMap(p)
			delete(m, tok)
			return m, nil
		case []any:
			i, err := index(tok, len(p), false)
			if err != nil {
				return nil, err
			}
			return slices.Delete(slices.Clone(p), i, i+1), nil
		}
		return nil, fmt.Errorf("cannot remove %q from %s", tok, typeName(parent))
	})
}

// replace implements the replace operation.
func replace(doc any, path []string, value any) (any, error) {
	if len(path) == 0 {
		return value, nil
	}
	return update(doc, path, func(parent any, tok string) (any, error) {
		switch p := parent.(type) {
		case map[string]any:
			if _, ok := p[tok]; !ok {
				return nil, fmt.Errorf("member %q not found", tok)
			}
			m := cloneMap(p)
			m[tok] = value
			return m, nil
		case []any:
			i, err := index(tok, len(p), false)
			if err != nil {
				return nil, err
			}
			a := slices.Clone(p)
			a[i] = value
			return a, nil
		}
		return nil, fmt.Errorf("cannot replace %q in %s", tok, typeName(parent))
	})
}

// Package jsonpatch computes and applies RFC 6902 JSON Patches on decoded JSON
// values.
//
// Documents are the values that [Decode] returns: map[string]any, []any,
// string, json.Number, bool and nil. float64 numbers (from a plain
// json.Unmarshal) are accepted too. Numbers are equal when their decimal values
// are equal, so 1, 1.0 and 1e0 are the same number.
//
// [Diff] produces a patch in one of two shapes for arrays. When the new array
// extends the old one (the old elements are a prefix of the new), it emits one
// "add" per new element with the path "<array>/-". Such appends commute: two
// patches made from the same base that each append to one array can be applied
// one after the other and both appends survive. Any other array change is one
// "replace" of the whole array.
//
// [Apply] never modifies the document it is given: it copies the objects and
// arrays along each modified path and shares the rest, so the result may share
// unmodified parts with the input. Callers must therefore treat both as
// immutable.
package jsonpatch

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
	"strings"
)

// Op is one RFC 6902 operation.
//
// Value holds the JSON text of the operation's value; it must be set (to
// "null" for a JSON null) for add, replace and test. From is used by move and
// copy; because it is omitted from the JSON encoding when empty, an empty From
// means the whole document.
type Op struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	From  string          `json:"from,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
}

// Decode decodes the single JSON value in raw, keeping numbers as
// json.Number. Trailing data after the value is an error.
func Decode(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("jsonpatch: decoding JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("jsonpatch: decoding JSON: unexpected data after the value")
	}
	return v, nil
}

// Diff returns the operations that turn a into b, in a deterministic order.
// Objects are compared key by key in sorted key order; arrays as described in
// the package documentation; other values are replaced when they differ.
// Values of types other than decoded JSON are compared with
// reflect.DeepEqual. Diff returns an error only if a value of b cannot be
// marshalled to JSON.
func Diff(a, b any) ([]Op, error) {
	var ops []Op
	if err := diff("", a, b, &ops); err != nil {
		return nil, err
	}
	return ops, nil
}

func diff(path string, a, b any, ops *[]Op) error {
	switch a := a.(type) {
	case map[string]any:
		if b, ok := b.(map[string]any); ok {
			return diffObjects(path, a, b, ops)
		}
	case []any:
		if b, ok := b.([]any); ok && len(b) > len(a) && slices.EqualFunc(a, b[:len(a)], equal) {
			for _, e := range b[len(a):] {
				if err := emit(ops, "add", path+"/-", e); err != nil {
					return err
				}
			}
			return nil
		}
	}
	if equal(a, b) {
		return nil
	}
	return emit(ops, "replace", path, b)
}

func diffObjects(path string, a, b map[string]any, ops *[]Op) error {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := path + "/" + escape(k)
		av, inA := a[k]
		bv, inB := b[k]
		var err error
		switch {
		case !inB:
			*ops = append(*ops, Op{Op: "remove", Path: p})
		case !inA:
			err = emit(ops, "add", p, bv)
		default:
			err = diff(p, av, bv, ops)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// emit appends an operation with value v.
func emit(ops *[]Op, op, path string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("jsonpatch: diff at %q: %w", path, err)
	}
	*ops = append(*ops, Op{Op: op, Path: path, Value: raw})
	return nil
}

// escape escapes a key as an RFC 6901 reference token.
func escape(key string) string {
	if !strings.ContainsAny(key, "~/") {
		return key
	}
	return strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
}

// equal reports whether the decoded JSON values a and b are equal, comparing
// numbers (json.Number or float64) by value and objects regardless of key
// order.
func equal(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, av := range a {
			bv, ok := b[k]
			if !ok || !equal(av, bv) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		return ok && slices.EqualFunc(a, b, equal)
	case json.Number, float64:
		return numbersEqual(a, b)
	case string:
		b, ok := b.(string)
		return ok && a == b
	case bool:
		b, ok := b.(bool)
		return ok && a == b
	case nil:
		return b == nil
	}
	return reflect.DeepEqual(a, b)
}

// numbersEqual compares two numbers by decimal value.
func numbersEqual(a, b any) bool {
	as, ok1 := numberText(a)
	bs, ok2 := numberText(b)
	if !ok1 || !ok2 {
		return false
	}
	if as == bs {
		return true
	}
	an, ok1 := parseDecimal(as)
	bn, ok2 := parseDecimal(bs)
	return ok1 && ok2 && an == bn
}

// numberText returns the text of a json.Number or float64.
func numberText(v any) (string, bool) {
	switch v := v.(type) {
	case json.Number:
		return string(v), true
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	}
	return "", false
}

// decimal is a number in a canonical form: (-1)^neg * 0.digits * 10^exp, with
// no leading or trailing zeros in digits. Zero has empty digits.
type decimal struct {
	neg    bool
	digits string
	exp    int64
}

// parseDecimal parses a JSON number (an exponent may have a plus sign, as Go
// writes floats) into canonical form. It reports false for anything else and
// for exponents too large to handle exactly.
func parseDecimal(s string) (decimal, bool) {
	var d decimal
	if strings.HasPrefix(s, "-") {
		d.neg = true
		s = s[1:]
	}
	mant, expText, hasExp := strings.Cut(strings.ToLower(s), "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" || !allDigits(intPart) || !allDigits(frac) {
		return decimal{}, false
	}
	var exp int64
	if hasExp {
		e, err := strconv.ParseInt(expText, 10, 64)
		if err != nil || e > 1<<40 || e < -(1<<40) {
			return decimal{}, false
		}
		exp = e
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	exp += int64(len(digits)) - int64(len(frac)) // the point now sits before digits
	trimmed := strings.TrimRight(digits, "0")
	if trimmed == "" {
		return decimal{}, true // zero, whatever its sign
	}
	d.digits = trimmed
	d.exp = exp
	return d, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

package jsonobj

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

func TestCheckNames(t *testing.T) {
	known := func(n string) bool { return n == "a" || n == "b" }
	tests := []struct {
		name, in string
		known    func(string) bool
		ok       bool
	}{
		{"empty object", `{}`, known, true},
		{"known names", `{"a":1,"b":{"a":1,"a":2}}`, known, true}, // nested objects are not checked
		{"unknown name", `{"a":1,"c":2}`, known, false},
		{"other case", `{"A":1}`, known, false},
		{"repeated", `{"a":1,"a":1}`, known, false},
		{"repeated, any name", `{"x":[1],"x":null}`, nil, false},
		{"any name", `{"x":[1,{"y":2}],"z":"s"}`, nil, true},
		{"not an object", `[1]`, nil, false},
		{"truncated", `{"a":`, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckNames([]byte(tt.in), tt.known)
			if (err == nil) != tt.ok {
				t.Errorf("CheckNames(%s) = %v, want ok %v", tt.in, err, tt.ok)
			}
		})
	}
}

func TestFieldNames(t *testing.T) {
	type body struct {
		SessionID string `json:"sessionId"`
		Message   string `json:"message,omitempty"`
		Plain     int
		Skipped   int `json:"-"`
	}
	got := FieldNames(reflect.TypeFor[body]())
	want := map[string]bool{"sessionId": true, "message": true, "Plain": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FieldNames = %v, want %v", got, want)
	}
	if FieldNames(reflect.TypeFor[json.RawMessage]()) != nil {
		t.Error("FieldNames of a non-struct is not nil")
	}
}

// FuzzCheckNames: CheckNames never panics, and accepts an object only if
// its names are distinct (as a map decode of it counts them).
func FuzzCheckNames(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"a":2}`, `{"a":{"b":[1,2]},"c":"d"}`, `[]`, `{"a"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if CheckNames(data, nil) != nil || !json.Valid(data) {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("accepted %q, which is not an object: %v", data, err)
		}
		var names []string
		dec := json.NewDecoder(bytes.NewReader(data))
		_, _ = dec.Token()
		for dec.More() {
			tok, _ := dec.Token()
			names = append(names, tok.(string))
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				t.Fatalf("accepted %q, whose members do not decode", data)
			}
		}
		if len(names) != len(m) {
			t.Fatalf("accepted %q: %d names, %d distinct", data, len(names), len(m))
		}
	})
}

package schema

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
)

type todo struct {
	Title string `json:"title"`
	State string `json:"state" jsonschema:"enum=open,enum=done"`
}

type searchArgs struct {
	Query  string            `json:"query" jsonschema:"minLength=2,description=Search terms"`
	Limit  int               `json:"limit,omitempty" jsonschema:"minimum=1,maximum=100,default=10"`
	Exact  *bool             `json:"exact"`
	Todos  []todo            `json:"todos,omitempty"`
	ByName map[string]todo   `json:"by_name,omitempty"`
	Filter *struct{ N uint } `json:"filter,omitempty"`
	Code   string            `json:"code,omitempty" jsonschema:"pattern=^[a-z]+$,maxLength=4"`
}

func mustForType[T any](t testing.TB) *Schema {
	t.Helper()
	s, err := ForType[T]()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestValidateJSON(t *testing.T) {
	s := mustForType[searchArgs](t)
	tests := []struct {
		name, in string
		want     string // "" for valid; otherwise the exact message
	}{
		{"minimal", `{"query":"go"}`, ""},
		{"full", `{"query":"go","limit":5,"exact":true,"todos":[{"title":"a","state":"open"}],"by_name":{"x":{"title":"b","state":"done"}},"filter":{"N":3},"code":"abc"}`, ""},
		{"integral float", `{"query":"go","limit":5.0}`, ""},
		{"missing required", `{}`, `property "query" is required`},
		{"wrong type", `{"query":"go","limit":"5"}`, `property "limit": expected integer, got string`},
		{"not integer", `{"query":"go","limit":2.5}`, `property "limit": expected integer, got number`},
		{"null for pointer", `{"query":"go","exact":null}`, `property "exact": expected boolean, got null`},
		{"below minimum", `{"query":"go","limit":0}`, `property "limit": must be >= 1; got 0`},
		{"above maximum", `{"query":"go","limit":101}`, `property "limit": must be <= 100; got 101`},
		{"too short", `{"query":"g"}`, `property "query": must be at least 2 characters long; got 1`},
		{"too long", `{"query":"go","code":"abcde"}`, `property "code": must be at most 4 characters long; got 5`},
		{"pattern", `{"query":"go","code":"A1"}`, `property "code": must match the pattern "^[a-z]+$"; got "A1"`},
		{"unknown property", `{"query":"go","qurey":"x"}`, `unknown property "qurey"; allowed properties are "by_name", "code", "exact", "filter", "limit", "query", "todos"`},
		{"enum in array", `{"query":"go","todos":[{"title":"a","state":"open"},{"title":"b","state":"closed"}]}`, `property "todos[1].state": must be one of "open", "done"; got "closed"`},
		{"required in array", `{"query":"go","todos":[{"title":"a","state":"open"},{"state":"open"}]}`, `property "todos[1].title" is required`},
		{"nested unknown", `{"query":"go","todos":[{"title":"a","state":"open","x":1}]}`, `unknown property "todos[0].x"; allowed properties are "state", "title"`},
		{"map value", `{"query":"go","by_name":{"k":{"title":"a","state":1}}}`, `property "by_name.k.state": expected string, got integer`},
		{"nested struct", `{"query":"go","filter":{"N":-1}}`, `property "filter.N": must be >= 0; got -1`},
		{"array not object", `{"query":"go","todos":"none"}`, `property "todos": expected array, got string`},
		{"top-level type", `["go"]`, `expected object, got array`},
		{"huge number", `{"query":"go","limit":1e999}`, `number 1e999 is out of range`},
		{"not JSON", `{"query":`, `arguments are not valid JSON: unexpected EOF`},
		{"empty", ``, `arguments are not valid JSON: EOF`},
		{"trailing data", `{"query":"go"} {}`, `arguments are not valid JSON: unexpected data after the value`},
		{"not UTF-8", "{\"query\":\"\xff\xfe\"}", `arguments are not valid UTF-8`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.ValidateJSON([]byte(tt.in))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateJSON(%s) = %v, want nil", tt.in, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateJSON(%s) = nil, want %q", tt.in, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if got, want := err.Error(), "invalid arguments: "+tt.want; got != want {
				t.Errorf("ValidateJSON(%s):\n got %s\nwant %s", tt.in, got, want)
			}
		})
	}
}

func TestValidateTopLevelTypes(t *testing.T) {
	ints, err := For(reflect.TypeFor[[]int]())
	if err != nil {
		t.Fatal(err)
	}
	if err := ints.Validate([]any{1.0, json.Number("2"), float64(3)}); err != nil {
		t.Errorf("Validate of ints: %v", err)
	}
	err = ints.Validate([]any{1.0, "x"})
	if err == nil || err.Error() != `invalid arguments: property "[1]": expected integer, got string` {
		t.Errorf("Validate of mixed array = %v", err)
	}
	str := mustForType[string](t)
	if err := str.Validate("x"); err != nil {
		t.Errorf("Validate of string: %v", err)
	}
	if err := str.Validate(nil); err == nil || err.Error() != "invalid arguments: expected string, got null" {
		t.Errorf("Validate of nil = %v", err)
	}
	anything := mustForType[any](t)
	for _, v := range []any{nil, "x", 1.0, map[string]any{"a": []any{}}} {
		if err := anything.Validate(v); err != nil {
			t.Errorf("Validate(%v) against the empty schema: %v", v, err)
		}
	}
}

func TestValidateDoesNotModify(t *testing.T) {
	s := mustForType[searchArgs](t)
	v := map[string]any{
		"query": "go",
		"limit": json.Number("7"),
		"todos": []any{map[string]any{"title": "a", "state": "open"}},
	}
	if err := s.Validate(v); err != nil {
		t.Fatal(err)
	}
	if _, ok := v["limit"].(json.Number); !ok {
		t.Errorf("Validate changed the caller's value: limit is %T", v["limit"])
	}
	v["limit"] = json.Number("1000")
	if err := s.Validate(v); err == nil || !strings.Contains(err.Error(), "must be <= 100; got 1000") {
		t.Errorf("Validate with a json.Number out of bounds = %v", err)
	}
	v["limit"] = json.Number("x")
	if err := s.Validate(v); err == nil || !strings.Contains(err.Error(), `invalid number "x"`) {
		t.Errorf("Validate with a bad json.Number = %v", err)
	}
}

func TestCompile(t *testing.T) {
	raw := json.RawMessage(`{
		"$defs": {"item": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}},
		"type": "object",
		"properties": {
			"items": {"type": "array", "items": {"$ref": "#/$defs/item"}},
			"kind": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
			"pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "boolean"}], "minItems": 2}
		}
	}`)
	s, err := Compile(raw)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(string(s.JSON()), " \n\t") {
		t.Errorf("JSON() is not compact: %s", s.JSON())
	}
	tests := []struct {
		in, want string
	}{
		{`{"items":[{"n":1}],"kind":"a","pair":["a",true]}`, ""},
		{`{"items":[{"n":1},{"n":"x"}]}`, `property "items[1].n": expected integer, got string`},
		{`{"items":[{"n":1},{}]}`, `property "items[1].n" is required`},
		{`{"pair":["a",1]}`, `property "pair[1]": expected boolean, got integer`},
		{`{"pair":["a"]}`, `property "pair": must have at least 2 items; got 1`},
		{`{"kind":true}`, `property "kind": did not validate against any of`},
	}
	for _, tt := range tests {
		err := s.ValidateJSON([]byte(tt.in))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("ValidateJSON(%s) = %v", tt.in, err)
		case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), "invalid arguments: "+tt.want)):
			t.Errorf("ValidateJSON(%s) = %v, want prefix %q", tt.in, err, tt.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ name, raw, want string }{
		{"not JSON", `{"type":`, "invalid JSON"},
		{"empty", ``, "invalid JSON"},
		{"null", `null`, "object or boolean"},
		{"array", `[]`, "object or boolean"},
		{"number", `1`, "object or boolean"},
		{"bad type", `{"type":5}`, "invalid JSON Schema"},
		{"unknown type name", `{"type":"strin"}`, "invalid JSON Schema"},
		{"bad pattern", `{"pattern":"a("}`, "invalid JSON Schema"},
		{"dangling ref", `{"$ref":"#/$defs/nope"}`, "invalid JSON Schema"},
		{"remote ref", `{"$ref":"https://example.com/s.json"}`, "invalid JSON Schema"},
		{"bad default", `{"type":"integer","default":"x"}`, "invalid JSON Schema"},
		{"unknown version", `{"$schema":"http://json-schema.org/draft-04/schema#"}`, "unsupported $schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Compile(json.RawMessage(tt.raw))
			if err == nil {
				t.Fatalf("Compile(%s) succeeded: %s", tt.raw, s.JSON())
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compile(%s) = %v, want it to contain %q", tt.raw, err, tt.want)
			}
		})
	}
	for _, raw := range []string{`true`, `false`, `{}`} {
		if _, err := Compile(json.RawMessage(raw)); err != nil {
			t.Errorf("Compile(%s): %v", raw, err)
		}
	}
}

func TestValidateConcurrent(t *testing.T) {
	s := mustForType[searchArgs](t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				if err := s.ValidateJSON([]byte(`{"query":"go","limit":3}`)); err != nil {
					t.Error(err)
				}
				if err := s.ValidateJSON([]byte(`{"query":1}`)); err == nil {
					t.Errorf("goroutine %d: invalid arguments accepted", i)
				}
			}
		})
	}
	wg.Wait()
}

func FuzzValidateJSON(f *testing.F) {
	for _, seed := range []string{
		`{"query":"go"}`, `{}`, `[]`, `null`, `1e999`, `{"query":"go","todos":[{"title":1},{"state":"x"}]}`,
		`{"query":"go","by_name":{"a":{"x":[]}},"filter":{"N":1.5}}`, `{"query":"go","limit":-0.0}`,
		"\xff", `{"a":1,"a":2}`, `{"query":"go","code":"\u0000"}`, `"x"`, `{"query":["a",{"b":null}]}`,
	} {
		f.Add([]byte(seed))
	}
	schemas := []*Schema{mustForType[searchArgs](f), mustForType[[]map[string]int](f), mustForType[any](f)}
	refs, err := Compile(json.RawMessage(`{"$defs":{"t":{"type":"object","additionalProperties":{"$ref":"#/$defs/t"}}},"$ref":"#/$defs/t"}`))
	if err != nil {
		f.Fatal(err)
	}
	schemas = append(schemas, refs)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range schemas {
			if err := s.ValidateJSON(data); err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
		}
	})
}

type benchArgs struct {
	Query string `json:"query"`
	Limit int    `json:"limit" jsonschema:"minimum=1,maximum=100"`
	Sort  string `json:"sort,omitempty" jsonschema:"enum=relevance,enum=date"`
}

func BenchmarkValidate(b *testing.B) {
	s := mustForType[benchArgs](b)
	v := map[string]any{"query": "golang generics", "limit": 20.0, "sort": "date"}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Validate(v); err != nil {
			b.Fatal(err)
		}
	}
}

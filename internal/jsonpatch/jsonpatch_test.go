package jsonpatch

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func mustDecode(t testing.TB, s string) any {
	t.Helper()
	v, err := Decode([]byte(s))
	if err != nil {
		t.Fatalf("Decode(%s): %v", s, err)
	}
	return v
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDecode(t *testing.T) {
	v := mustDecode(t, `{"n": 12345678901234567890, "f": 1.50}`)
	m := v.(map[string]any)
	if m["n"] != json.Number("12345678901234567890") || m["f"] != json.Number("1.50") {
		t.Errorf("Decode did not keep numbers exact: %#v", m)
	}
	for _, bad := range []string{``, `{`, `{} {}`, `1 2`, `nul`} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%q) succeeded", bad)
		}
	}
}

func TestDiff(t *testing.T) {
	tests := []struct {
		name, a, b string
		want       string // the ops as JSON
	}{
		{"equal", `{"a":[1,{"b":null}]}`, `{"a":[1,{"b":null}]}`, `null`},
		{"equal numbers", `{"a":1,"b":[2.50]}`, `{"a":1.0,"b":[25e-1]}`, `null`},
		{"scalar root", `1`, `"x"`, `[{"op":"replace","path":"","value":"x"}]`},
		{"type change", `{"a":{"b":1}}`, `{"a":[1]}`, `[{"op":"replace","path":"/a","value":[1]}]`},
		{"keys sorted", `{"c":1,"a":1,"b":1}`, `{"b":2,"d":4,"a":1}`,
			`[{"op":"replace","path":"/b","value":2},{"op":"remove","path":"/c"},{"op":"add","path":"/d","value":4}]`},
		{"nested", `{"x":{"y":{"z":true}}}`, `{"x":{"y":{"z":false,"w":null}}}`,
			`[{"op":"add","path":"/x/y/w","value":null},{"op":"replace","path":"/x/y/z","value":false}]`},
		{"append", `{"l":[1,2]}`, `{"l":[1,2,{"k":3},4]}`,
			`[{"op":"add","path":"/l/-","value":{"k":3}},{"op":"add","path":"/l/-","value":4}]`},
		{"append to empty", `[]`, `[1]`, `[{"op":"add","path":"/-","value":1}]`},
		{"array edit", `{"l":[1,2,3]}`, `{"l":[1,5,3]}`, `[{"op":"replace","path":"/l","value":[1,5,3]}]`},
		{"array shrink", `{"l":[1,2,3]}`, `{"l":[1,2]}`, `[{"op":"replace","path":"/l","value":[1,2]}]`},
		{"array prepend", `{"l":[1]}`, `{"l":[0,1]}`, `[{"op":"replace","path":"/l","value":[0,1]}]`},
		{"escaped keys", `{"a/b":1,"m~n":1}`, `{"a/b":2,"m~n":2,"~/":3}`,
			`[{"op":"replace","path":"/a~1b","value":2},{"op":"replace","path":"/m~0n","value":2},{"op":"add","path":"/~0~1","value":3}]`},
		{"empty key", `{"":1}`, `{"":2}`, `[{"op":"replace","path":"/","value":2}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops, err := Diff(mustDecode(t, tt.a), mustDecode(t, tt.b))
			if err != nil {
				t.Fatal(err)
			}
			if got := mustJSON(t, ops); got != tt.want {
				t.Errorf("Diff(%s, %s)\n got %s\nwant %s", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestDiffFloat64(t *testing.T) {
	a := map[string]any{"x": 1.0, "y": 0.1, "z": 2.0}
	b := mustDecode(t, `{"x":1,"y":0.10,"z":3}`)
	ops, err := Diff(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mustJSON(t, ops), `[{"op":"replace","path":"/z","value":3}]`; got != want {
		t.Errorf("Diff across float64 and json.Number = %s, want %s", got, want)
	}
	if _, err := Diff(nil, map[string]any{"c": make(chan int)}); err == nil {
		t.Error("Diff with an unmarshallable value succeeded")
	}
}

var roundTripDocs = []string{
	`null`, `true`, `0`, `-1.5e3`, `""`, `"s"`, `[]`, `{}`,
	`[1,2,3]`, `[1,2,3,4,5]`, `[3,2,1]`, `[[1],[1,2]]`, `[{"a":1},{"a":2}]`,
	`{"a":1}`, `{"a":1,"b":[1,{"c":null}]}`, `{"a":{"b":{"c":[true,false]}}}`,
	`{"a":[1,2],"b":{"x":"y"}}`, `{"a":[1,2,3],"b":{"x":"z","w":[]}}`,
	`{"a/b":{"~":1},"":[""]}`, `{"big":123456789012345678901234567890}`,
	`{"a":{"b":1},"c":[{"d":[1,2]},{"d":[]}]}`, `{"a":{"b":2},"c":[{"d":[1,2,3]},{"d":[]}],"e":"new"}`,
}

func TestDiffApplyRoundTrip(t *testing.T) {
	for _, as := range roundTripDocs {
		for _, bs := range roundTripDocs {
			a, b := mustDecode(t, as), mustDecode(t, bs)
			before := mustJSON(t, a)
			ops, err := Diff(a, b)
			if err != nil {
				t.Fatalf("Diff(%s, %s): %v", as, bs, err)
			}
			got, err := Apply(a, ops)
			if err != nil {
				t.Fatalf("Apply(%s, Diff(..., %s) = %s): %v", as, bs, mustJSON(t, ops), err)
			}
			if !equal(got, b) {
				t.Errorf("Apply(%s, Diff) = %s, want %s", as, mustJSON(t, got), bs)
			}
			if after := mustJSON(t, a); after != before {
				t.Errorf("Apply modified its input: %s became %s", before, after)
			}
		}
	}
}

func TestConcurrentAppendsSurvive(t *testing.T) {
	base := mustDecode(t, `{"log":["start"],"n":1}`)
	one, err := Diff(base, mustDecode(t, `{"log":["start","one"],"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	two, err := Diff(base, mustDecode(t, `{"log":["start","two","three"],"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Apply(base, one)
	if err != nil {
		t.Fatal(err)
	}
	if got, err = Apply(got, two); err != nil {
		t.Fatal(err)
	}
	want := mustDecode(t, `{"log":["start","one","two","three"],"n":1}`)
	if !equal(got, want) {
		t.Errorf("appends applied in sequence = %s, want %s", mustJSON(t, got), mustJSON(t, want))
	}
}

func TestApply(t *testing.T) {
	tests := []struct {
		name, doc, patch, want string
	}{
		{"add member", `{"a":1}`, `[{"op":"add","path":"/b","value":2}]`, `{"a":1,"b":2}`},
		{"add replaces member", `{"a":1}`, `[{"op":"add","path":"/a","value":[1]}]`, `{"a":[1]}`},
		{"add insert", `[1,3]`, `[{"op":"add","path":"/1","value":2}]`, `[1,2,3]`},
		{"add at end index", `[1]`, `[{"op":"add","path":"/1","value":2}]`, `[1,2]`},
		{"add append", `{"l":[]}`, `[{"op":"add","path":"/l/-","value":{"x":null}}]`, `{"l":[{"x":null}]}`},
		{"add root", `{"a":1}`, `[{"op":"add","path":"","value":[true]}]`, `[true]`},
		{"add null", `{}`, `[{"op":"add","path":"/n","value":null}]`, `{"n":null}`},
		{"remove member", `{"a":1,"b":2}`, `[{"op":"remove","path":"/a"}]`, `{"b":2}`},
		{"remove element", `[1,2,3]`, `[{"op":"remove","path":"/1"}]`, `[1,3]`},
		{"replace nested", `{"a":{"b":[0,{"c":1}]}}`, `[{"op":"replace","path":"/a/b/1/c","value":"x"}]`, `{"a":{"b":[0,{"c":"x"}]}}`},
		{"replace root", `1`, `[{"op":"replace","path":"","value":2}]`, `2`},
		{"move", `{"a":{"b":1},"c":[]}`, `[{"op":"move","from":"/a/b","path":"/c/0"}]`, `{"a":{},"c":[1]}`},
		{"move in array", `[1,2,3]`, `[{"op":"move","from":"/0","path":"/2"}]`, `[2,3,1]`},
		{"move to itself", `{"a":1}`, `[{"op":"move","from":"/a","path":"/a"}]`, `{"a":1}`},
		{"move to sibling prefix", `{"a":1,"ab":2}`, `[{"op":"move","from":"/a","path":"/ab"}]`, `{"ab":1}`},
		{"copy", `{"a":{"b":[1]}}`, `[{"op":"copy","from":"/a","path":"/c"},{"op":"add","path":"/c/b/-","value":2}]`, `{"a":{"b":[1]},"c":{"b":[1,2]}}`},
		{"copy root", `{"a":1}`, `[{"op":"copy","path":"/self"}]`, `{"a":1,"self":{"a":1}}`},
		{"test passes", `{"a":[1,{"b":"c"}],"n":10}`, `[{"op":"test","path":"/a","value":[1,{"b":"c"}]},{"op":"test","path":"/n","value":1e1}]`, `{"a":[1,{"b":"c"}],"n":10}`},
		{"escapes", `{"a/b":{"m~n":1}}`, `[{"op":"replace","path":"/a~1b/m~0n","value":2},{"op":"add","path":"/~01","value":3}]`, `{"a/b":{"m~n":2},"~1":3}`},
		{"empty key", `{"":{"":1}}`, `[{"op":"replace","path":"//","value":2}]`, `{"":{"":2}}`},
		{"numeric key in object", `{"0":1}`, `[{"op":"replace","path":"/0","value":2}]`, `{"0":2}`},
		{"no ops", `{"a":1}`, `[]`, `{"a":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := mustDecode(t, tt.doc)
			var ops []Op
			if err := json.Unmarshal([]byte(tt.patch), &ops); err != nil {
				t.Fatal(err)
			}
			got, err := Apply(doc, ops)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if want := mustDecode(t, tt.want); !equal(got, want) {
				t.Errorf("Apply(%s, %s) = %s, want %s", tt.doc, tt.patch, mustJSON(t, got), tt.want)
			}
			if !equal(doc, mustDecode(t, tt.doc)) {
				t.Errorf("Apply modified its input: now %s", mustJSON(t, doc))
			}
		})
	}
}

func TestApplyErrors(t *testing.T) {
	tests := []struct {
		name, doc, patch, want string
	}{
		{"unknown op", `{}`, `[{"op":"merge","path":"/a"}]`, `op 0 (merge "/a"): unknown op "merge"`},
		{"bad pointer", `{}`, `[{"op":"add","path":"a","value":1}]`, `must be empty or start with /`},
		{"bad escape", `{}`, `[{"op":"add","path":"/a~2","value":1}]`, `~ must be followed by 0 or 1`},
		{"trailing tilde", `{}`, `[{"op":"add","path":"/a~","value":1}]`, `~ must be followed by 0 or 1`},
		{"missing parent", `{}`, `[{"op":"add","path":"/a/b","value":1}]`, `member "a" not found`},
		{"missing value", `{}`, `[{"op":"add","path":"/a"}]`, `missing value`},
		{"remove missing", `{"a":1}`, `[{"op":"remove","path":"/b"}]`, `op 0 (remove "/b"): member "b" not found`},
		{"remove root", `{}`, `[{"op":"remove","path":""}]`, `cannot remove the whole document`},
		{"replace missing", `{"a":1}`, `[{"op":"replace","path":"/b","value":1}]`, `member "b" not found`},
		{"index out of range", `[1]`, `[{"op":"replace","path":"/1","value":1}]`, `index 1 out of range for an array of length 1`},
		{"insert out of range", `[1]`, `[{"op":"add","path":"/2","value":1}]`, `index 2 out of range`},
		{"remove dash", `[1]`, `[{"op":"remove","path":"/-"}]`, `index "-" names no existing element`},
		{"leading zero", `[1,2]`, `[{"op":"remove","path":"/01"}]`, `invalid array index "01"`},
		{"negative index", `[1,2]`, `[{"op":"remove","path":"/-1"}]`, `invalid array index "-1"`},
		{"huge index", `[1,2]`, `[{"op":"remove","path":"/99999999999999999999999"}]`, `out of range`},
		{"into scalar", `{"a":1}`, `[{"op":"add","path":"/a/b","value":1}]`, `cannot add "b" to a number`},
		{"through scalar", `{"a":"s"}`, `[{"op":"add","path":"/a/b/c","value":1}]`, `cannot look up "b" in a string`},
		{"move missing", `{}`, `[{"op":"move","from":"/x","path":"/y"}]`, `op 0 (move from "/x" to "/y"): from: member "x" not found`},
		{"move into itself", `{"a":{"b":{}}}`, `[{"op":"move","from":"/a","path":"/a/b/c"}]`, `cannot move a value into itself`},
		{"copy bad from", `{}`, `[{"op":"copy","from":"x","path":"/y"}]`, `from: invalid pointer`},
		{"test fails", `{"a":[1,2]}`, `[{"op":"test","path":"/a","value":[1,3]}]`, `op 0 (test "/a"): test failed: the value is [1,2], not [1,3]`},
		{"test missing", `{}`, `[{"op":"test","path":"/a","value":1}]`, `member "a" not found`},
		{"later op", `{}`, `[{"op":"add","path":"/a","value":1},{"op":"remove","path":"/b"}]`, `op 1 (remove "/b")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := mustDecode(t, tt.doc)
			var ops []Op
			if err := json.Unmarshal([]byte(tt.patch), &ops); err != nil {
				t.Fatal(err)
			}
			got, err := Apply(doc, ops)
			if err == nil {
				t.Fatalf("Apply succeeded with %s", mustJSON(t, got))
			}
			if got != nil {
				t.Errorf("Apply returned a document with an error: %s", mustJSON(t, got))
			}
			if !strings.HasPrefix(err.Error(), "jsonpatch: op ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Apply error %q does not contain %q", err, tt.want)
			}
			if !equal(doc, mustDecode(t, tt.doc)) {
				t.Errorf("Apply modified its input: now %s", mustJSON(t, doc))
			}
		})
	}
}

func TestApplyInvalidValue(t *testing.T) {
	_, err := Apply(map[string]any{}, []Op{{Op: "add", Path: "/a", Value: json.RawMessage(`{bad`)}})
	if err == nil || !strings.Contains(err.Error(), `op 0 (add "/a"): invalid value`) {
		t.Errorf("Apply with an invalid value = %v", err)
	}
}

func TestApplySharesNothingMutable(t *testing.T) {
	// Ops applied to a result must not leak into earlier results.
	doc := mustDecode(t, `{"l":[1,2],"m":{"k":"v"}}`)
	first, err := Apply(doc, []Op{{Op: "copy", From: "/l", Path: "/l2"}})
	if err != nil {
		t.Fatal(err)
	}
	second, err := Apply(first, []Op{
		{Op: "add", Path: "/l2/0", Value: json.RawMessage(`0`)},
		{Op: "replace", Path: "/m/k", Value: json.RawMessage(`"w"`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mustJSON(t, first), `{"l":[1,2],"l2":[1,2],"m":{"k":"v"}}`; got != want {
		t.Errorf("first result changed: %s, want %s", got, want)
	}
	if got, want := mustJSON(t, second), `{"l":[1,2],"l2":[0,1,2],"m":{"k":"w"}}`; got != want {
		t.Errorf("second result = %s, want %s", got, want)
	}
}

func TestNilContainers(t *testing.T) {
	got, err := Apply(map[string]any(nil), []Op{{Op: "add", Path: "/a", Value: json.RawMessage(`1`)}})
	if err != nil || !equal(got, map[string]any{"a": json.Number("1")}) {
		t.Errorf("add to a nil map = %v, %v", got, err)
	}
	got, err = Apply([]any(nil), []Op{{Op: "add", Path: "/-", Value: json.RawMessage(`1`)}})
	if err != nil || !equal(got, []any{json.Number("1")}) {
		t.Errorf("append to a nil slice = %v, %v", got, err)
	}
}

func TestEqualNumbers(t *testing.T) {
	tests := []struct {
		a, b any
		want bool
	}{
		{json.Number("1"), json.Number("1.0"), true},
		{json.Number("100"), json.Number("1e2"), true},
		{json.Number("0.05"), json.Number("5E-2"), true},
		{json.Number("-0"), json.Number("0.0"), true},
		{json.Number("12345678901234567890"), json.Number("12345678901234567891"), false},
		{json.Number("1"), 1.0, true},
		{1e21, json.Number("1000000000000000000000"), true},
		{json.Number("0.1"), 0.1, true},
		{json.Number("1"), json.Number("-1"), false},
		{json.Number("1e99999999999999999999"), json.Number("1e99999999999999999999"), true},
		{json.Number("1e99999999999999999999"), json.Number("10e99999999999999999998"), false},
		{json.Number("1"), "1", false},
		{json.Number("x"), json.Number("y"), false},
	}
	for _, tt := range tests {
		if got := equal(tt.a, tt.b); got != tt.want {
			t.Errorf("equal(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := equal(tt.b, tt.a); got != tt.want {
			t.Errorf("equal(%v, %v) = %v, want %v", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestParsePointer(t *testing.T) {
	tests := []struct {
		p    string
		want []string
	}{
		{"", nil},
		{"/", []string{""}},
		{"/a/b", []string{"a", "b"}},
		{"/a~1b/~0~1", []string{"a/b", "~/"}},
		{"/~01", []string{"~1"}},
		{"//x/", []string{"", "x", ""}},
	}
	for _, tt := range tests {
		got, err := parsePointer(tt.p)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parsePointer(%q) = %q, %v; want %q", tt.p, got, err, tt.want)
		}
	}
}

func FuzzApply(f *testing.F) {
	f.Add([]byte(`{"a":[1,2],"b":{"c":"d"}}`), []byte(`[{"op":"add","path":"/a/-","value":3},{"op":"move","from":"/b/c","path":"/e"}]`))
	f.Add([]byte(`[1,2,3]`), []byte(`[{"op":"remove","path":"/1"},{"op":"copy","from":"/0","path":"/0"},{"op":"test","path":"/0","value":1}]`))
	f.Add([]byte(`{"a~b":{"c/d":null}}`), []byte(`[{"op":"replace","path":"/a~0b/c~1d","value":[]}]`))
	f.Add([]byte(`1`), []byte(`[{"op":"replace","path":"","value":{}},{"op":"add","path":"/x","value":1}]`))
	f.Add([]byte(`{}`), []byte(`[{"op":"move","from":"","path":"/a"},{"op":"bogus","path":"/"},{"op":"add","path":"/9999999999999999999999"}]`))
	f.Fuzz(func(t *testing.T, docJSON, patchJSON []byte) {
		doc, err := Decode(docJSON)
		if err != nil {
			return
		}
		var ops []Op
		if err := json.Unmarshal(patchJSON, &ops); err != nil {
			return
		}
		before, err := json.Marshal(doc)
		if err != nil {
			return
		}
		got, err := Apply(doc, ops)
		if after, _ := json.Marshal(doc); string(after) != string(before) {
			t.Fatalf("Apply modified its input: %s became %s", before, after)
		}
		if err == nil {
			if _, err := json.Marshal(got); err != nil {
				t.Fatalf("Apply returned an unmarshallable document: %v", err)
			}
		}
	})
}

func FuzzDiffApply(f *testing.F) {
	for i := range roundTripDocs {
		f.Add([]byte(roundTripDocs[i]), []byte(roundTripDocs[len(roundTripDocs)-1-i]))
	}
	f.Add([]byte(`{"a":[1,2]}`), []byte(`{"a":[1,2,3],"b":1.0}`))
	f.Add([]byte(`{"a":1e2}`), []byte(`{"a":100}`))
	f.Fuzz(func(t *testing.T, aJSON, bJSON []byte) {
		a, err := Decode(aJSON)
		if err != nil {
			return
		}
		b, err := Decode(bJSON)
		if err != nil {
			return
		}
		ops, err := Diff(a, b)
		if err != nil {
			t.Fatalf("Diff: %v", err)
		}
		got, err := Apply(a, ops)
		if err != nil {
			t.Fatalf("Apply(a, Diff(a, b)): %v", err)
		}
		if !equal(got, b) {
			t.Fatalf("Apply(a, Diff(a, b)) = %s, want %s", mustJSON(t, got), mustJSON(t, b))
		}
		if !equal(a, mustDecode(t, string(aJSON))) {
			t.Fatal("Apply modified its input")
		}
	})
}

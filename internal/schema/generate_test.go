package schema

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

type basic struct {
	Name    string   `json:"name"`
	Count   int      `json:"count"`
	Ratio   float64  `json:"ratio"`
	OK      bool     `json:"ok"`
	Tags    []string `json:"tags"`
	NoTag   string
	Skipped string `json:"-"`
	hidden  string //lint:ignore U1000 unexported fields must be skipped
}

type required struct {
	Plain     string  `json:"plain"`
	Ptr       *string `json:"ptr"`
	Omit      string  `json:"omit,omitempty"`
	OmitZero  string  `json:"omit_zero,omitzero"`
	Default   string  `json:"default" jsonschema:"default=x"`
	Optional  string  `json:"optional" jsonschema:"optional"`
	ForcedPtr *int    `json:"forced_ptr" jsonschema:"required"`
	ForcedOm  int     `json:"forced_omit,omitempty" jsonschema:"required"`
}

type inner struct {
	A int `json:"a"`
}

type nested struct {
	In    inner            `json:"in"`
	InPtr *inner           `json:"in_ptr"`
	List  []inner          `json:"list"`
	Map   map[string]inner `json:"map"`
	Grid  [2][]int         `json:"grid"`
}

type Embedded struct {
	E     string `json:"e"`
	Clash string `json:"clash"`
}

type embeddedPtr struct {
	P string `json:"p"`
}

type withEmbedded struct {
	Embedded
	*embeddedPtr
	Clash int    `json:"clash"`
	Own   string `json:"own"`
}

type tagged struct {
	Level  string  `json:"level" jsonschema:"enum=low,enum=high,default=low,description=How loud\\, roughly"`
	Small  int8    `json:"small" jsonschema:"enum=-1,enum=1,minimum=-1,maximum=1"`
	U      uint16  `json:"u" jsonschema:"default=7,maximum=9"`
	F      float32 `json:"f" jsonschema:"enum=1.5,enum=2"`
	B      *bool   `json:"b" jsonschema:"enum=true"`
	Code   string  `json:"code" jsonschema:"pattern=^\\d+$,minLength=1,maxLength=5,title=Code,format=digits"`
	Any    any     `json:"any" jsonschema:"enum=plain,enum={\"x\":1}"`
	List   []int   `json:"list" jsonschema:"default=[1\\,2]"`
	When   time.Time
	Raw    json.RawMessage `json:"raw"`
	Addr   netip.Addr      `json:"addr"`
	Bytes  []byte          `json:"bytes"`
	Spaces string          `json:"spaces" jsonschema:"description=a \\, b \\\\ c"`
}

func TestFor(t *testing.T) {
	tests := []struct {
		name string
		typ  reflect.Type
		want string
	}{
		{"string", reflect.TypeFor[string](), `{"type":"string"}`},
		{"int slice", reflect.TypeFor[[]int](), `{"type":"array","items":{"type":"integer"}}`},
		{"bytes", reflect.TypeFor[[]byte](), `{"type":"string"}`},
		{"map", reflect.TypeFor[map[string]float64](), `{"type":"object","additionalProperties":{"type":"number"}}`},
		{"time", reflect.TypeFor[time.Time](), `{"type":"string","format":"date-time"}`},
		{"any", reflect.TypeFor[any](), `true`},
		{"raw", reflect.TypeFor[json.RawMessage](), `true`},
		{"number", reflect.TypeFor[json.Number](), `{"type":"number"}`},
		{"pointer", reflect.TypeFor[*uint](), `{"type":"integer","minimum":0}`},
		{"empty struct", reflect.TypeFor[struct{}](), `{"type":"object","properties":{},"additionalProperties":false}`},
		{"basic", reflect.TypeFor[basic](), `{
			"type":"object",
			"properties":{
				"name":{"type":"string"},
				"count":{"type":"integer"},
				"ratio":{"type":"number"},
				"ok":{"type":"boolean"},
				"tags":{"type":"array","items":{"type":"string"}},
				"NoTag":{"type":"string"}
			},
			"required":["name","count","ratio","ok","tags","NoTag"],
			"additionalProperties":false}`},
		{"required rules", reflect.TypeFor[required](), `{
			"type":"object",
			"properties":{
				"plain":{"type":"string"},
				"ptr":{"type":"string"},
				"omit":{"type":"string"},
				"omit_zero":{"type":"string"},
				"default":{"type":"string","default":"x"},
				"optional":{"type":"string"},
				"forced_ptr":{"type":"integer"},
				"forced_omit":{"type":"integer"}
			},
			"required":["plain","forced_ptr","forced_omit"],
			"additionalProperties":false}`},
		{"nested", reflect.TypeFor[nested](), `{
			"type":"object",
			"properties":{
				"in":{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"],"additionalProperties":false},
				"in_ptr":{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"],"additionalProperties":false},
				"list":{"type":"array","items":{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"],"additionalProperties":false}},
				"map":{"type":"object","additionalProperties":{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"],"additionalProperties":false}},
				"grid":{"type":"array","items":{"type":"array","items":{"type":"integer"}}}
			},
			"required":["in","list","map","grid"],
			"additionalProperties":false}`},
		{"embedded", reflect.TypeFor[withEmbedded](), `{
			"type":"object",
			"properties":{
				"e":{"type":"string"},
				"p":{"type":"string"},
				"clash":{"type":"integer"},
				"own":{"type":"string"}
			},
			"required":["e","clash","own"],
			"additionalProperties":false}`},
		{"tags", reflect.TypeFor[tagged](), `{
			"type":"object",
			"properties":{
				"level":{"type":"string","enum":["low","high"],"default":"low","description":"How loud, roughly"},
				"small":{"type":"integer","enum":[-1,1],"minimum":-1,"maximum":1},
				"u":{"type":"integer","default":7,"minimum":0,"maximum":9},
				"f":{"type":"number","enum":[1.5,2]},
				"b":{"type":"boolean","enum":[true]},
				"code":{"type":"string","pattern":"^\\d+$","minLength":1,"maxLength":5,"title":"Code","format":"digits"},
				"any":{"enum":["plain",{"x":1}]},
				"list":{"type":"array","items":{"type":"integer"},"default":[1,2]},
				"When":{"type":"string","format":"date-time"},
				"raw":true,
				"addr":{"type":"string"},
				"bytes":{"type":"string"},
				"spaces":{"type":"string","description":"a , b \\\\ c"}
			},
			"required":["small","f","code","any","When","raw","addr","bytes","spaces"],
			"additionalProperties":false}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := For(tt.typ)
			if err != nil {
				t.Fatalf("For: %v", err)
			}
			var got, want any
			if err := json.Unmarshal(s.JSON(), &got); err != nil {
				t.Fatalf("JSON() is not JSON: %v", err)
			}
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatalf("bad test: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("schema mismatch\n got: %s\nwant: %s", s.JSON(), tt.want)
			}
		})
	}
}

func TestForPropertyOrder(t *testing.T) {
	s, err := ForType[basic]()
	if err != nil {
		t.Fatal(err)
	}
	got := string(s.JSON())
	last := -1
	for _, name := range []string{`"name"`, `"count"`, `"ratio"`, `"ok"`, `"tags"`, `"NoTag"`} {
		i := strings.Index(got, name)
		if i <= last {
			t.Fatalf("property %s out of field order in %s", name, got)
		}
		last = i
	}
}

type (
	recursive struct {
		Next *recursive `json:"next"`
	}
	recursiveSlice struct {
		Kids []recursiveSlice `json:"kids"`
	}
	mutualA struct {
		B *mutualB `json:"b"`
	}
	mutualB struct {
		A []mutualA `json:"a"`
	}
	recursiveList []recursiveList
	recursiveMap  map[string]recursiveMap
)

func TestForErrors(t *testing.T) {
	tests := []struct {
		name string
		typ  reflect.Type
		want string
	}{
		{"nil", nil, "nil type"},
		{"chan", reflect.TypeFor[chan int](), "unsupported type chan int"},
		{"func", reflect.TypeFor[func()](), "unsupported type func()"},
		{"complex", reflect.TypeFor[complex128](), "unsupported type complex128"},
		{"field chan", reflect.TypeFor[struct {
			C chan int `json:"c"`
		}](), "unsupported type chan int"},
		{"int map key", reflect.TypeFor[map[int]string](), "map key type int"},
		{"recursive", reflect.TypeFor[recursive](), "recursive type schema.recursive"},
		{"recursive slice", reflect.TypeFor[recursiveSlice](), "recursive type schema.recursiveSlice"},
		{"mutually recursive", reflect.TypeFor[mutualA](), "recursive type schema.mutualA"},
		{"recursive slice type", reflect.TypeFor[recursiveList](), "recursive type schema.recursiveList"},
		{"recursive map type", reflect.TypeFor[recursiveMap](), "recursive type schema.recursiveMap"},
		{"unknown item", reflect.TypeFor[struct {
			A string `jsonschema:"requird"`
		}](), `unknown jsonschema tag item "requird"`},
		{"unknown key", reflect.TypeFor[struct {
			A string `jsonschema:"minimun=3"`
		}](), `unknown jsonschema tag item "minimun"`},
		{"required and optional", reflect.TypeFor[struct {
			A string `jsonschema:"required,optional"`
		}](), "both required and optional"},
		{"bad int enum", reflect.TypeFor[struct {
			A int `jsonschema:"enum=x"`
		}](), `enum="x": not an integer`},
		{"int8 overflow", reflect.TypeFor[struct {
			A int8 `jsonschema:"enum=300"`
		}](), "fits int8"},
		{"negative uint", reflect.TypeFor[struct {
			A uint `jsonschema:"default=-1"`
		}](), "not an unsigned integer"},
		{"bad bool", reflect.TypeFor[struct {
			A bool `jsonschema:"default=yes"`
		}](), "not a boolean"},
		{"bad float", reflect.TypeFor[struct {
			A float64 `jsonschema:"enum=1.2.3"`
		}](), "not a number"},
		{"bad array default", reflect.TypeFor[struct {
			A []int `jsonschema:"default=[1"`
		}](), "not JSON text"},
		{"bad minimum", reflect.TypeFor[struct {
			A int `jsonschema:"minimum=low"`
		}](), "minimum=\"low\": not a number"},
		{"minimum on string", reflect.TypeFor[struct {
			A string `jsonschema:"minimum=1"`
		}](), "numeric fields"},
		{"minLength on int", reflect.TypeFor[struct {
			A int `jsonschema:"minLength=1"`
		}](), "string fields"},
		{"negative maxLength", reflect.TypeFor[struct {
			A string `jsonschema:"maxLength=-2"`
		}](), "non-negative integer"},
		{"bad pattern", reflect.TypeFor[struct {
			A string `jsonschema:"pattern=a(b"`
		}](), "pattern"},
		{"json string option", reflect.TypeFor[struct {
			A int `json:"a,string"`
		}](), `option "string"`},
		{"default violates enum", reflect.TypeFor[struct {
			A string `jsonschema:"enum=a,enum=b,default=c"`
		}](), "invalid JSON Schema"},
		{"field named in error", reflect.TypeFor[basicWithBadTag](), "field schema.basicWithBadTag.Broken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := For(tt.typ)
			if err == nil {
				t.Fatalf("For succeeded with %s; want error containing %q", s.JSON(), tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

type basicWithBadTag struct {
	Broken string `jsonschema:"nope"`
}

func TestSplitTag(t *testing.T) {
	tests := []struct {
		tag  string
		want []string
	}{
		{"", []string{""}},
		{"a", []string{"a"}},
		{"a,b", []string{"a", "b"}},
		{`a\,b,c`, []string{"a,b", "c"}},
		{`pattern=^\d+$`, []string{`pattern=^\d+$`}},
		{`x\`, []string{`x\`}},
		{"a,", []string{"a", ""}},
	}
	for _, tt := range tests {
		if got := splitTag(tt.tag); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitTag(%q) = %q, want %q", tt.tag, got, tt.want)
		}
	}
}

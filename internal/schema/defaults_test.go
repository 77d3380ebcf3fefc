package schema

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

type defLeaf struct {
	Mode  string  `json:"mode" jsonschema:"default=fast"`
	Level int8    `json:"level" jsonschema:"default=-3"`
	Rate  float32 `json:"rate" jsonschema:"default=0.5"`
	On    bool    `json:"on" jsonschema:"default=true"`
	Plain string  `json:"plain"`
}

type DefEmbedded struct {
	Region string `json:"region" jsonschema:"default=eu"`
}

type defRoot struct {
	DefEmbedded
	Name     string    `json:"name" jsonschema:"default=anon"`
	Count    *int      `json:"count" jsonschema:"default=5"`
	Tags     []string  `json:"tags" jsonschema:"default=[\"a\"\\,\"b\"]"`
	Since    time.Time `json:"since" jsonschema:"default=2024-01-02T03:04:05Z"`
	Leaf     defLeaf   `json:"leaf"`
	LeafPtr  *defLeaf  `json:"leaf_ptr"`
	NilLeaf  *defLeaf  `json:"nil_leaf"`
	Skipped  string    `json:"-" jsonschema:"default=never"`
	internal string
}

func TestSetDefaults(t *testing.T) {
	five := 5
	want := defRoot{
		DefEmbedded: DefEmbedded{Region: "eu"},
		Name:        "anon",
		Count:       &five,
		Tags:        []string{"a", "b"},
		Since:       time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		Leaf:        defLeaf{Mode: "fast", Level: -3, Rate: 0.5, On: true},
		LeafPtr:     &defLeaf{Mode: "fast", Level: -3, Rate: 0.5, On: true},
	}
	got := defRoot{LeafPtr: &defLeaf{}}
	if err := SetDefaults(reflect.ValueOf(&got)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SetDefaults:\n got %+v\nwant %+v", got, want)
	}

	// Non-zero values are kept, and an addressable struct works too.
	seven := 7
	kept := defRoot{
		DefEmbedded: DefEmbedded{Region: "us"},
		Name:        "bob",
		Count:       &seven,
		Tags:        []string{},
		Leaf:        defLeaf{Mode: "slow", Level: 1, Rate: 2, Plain: "p"},
	}
	if err := SetDefaults(reflect.ValueOf(&kept).Elem()); err != nil {
		t.Fatal(err)
	}
	if kept.Region != "us" || kept.Name != "bob" || *kept.Count != 7 || len(kept.Tags) != 0 ||
		kept.Leaf != (defLeaf{Mode: "slow", Level: 1, Rate: 2, On: true, Plain: "p"}) {
		t.Errorf("SetDefaults overwrote values: %+v", kept)
	}
	if kept.Skipped != "" || kept.internal != "" || kept.NilLeaf != nil {
		t.Errorf("SetDefaults set fields it must skip: %+v", kept)
	}
}

func TestSetDefaultsErrors(t *testing.T) {
	type badDefault struct {
		N int `jsonschema:"default=many"`
	}
	type badNested struct {
		Inner *badDefault
	}
	type badTag struct {
		S string `jsonschema:"defualt=x"`
	}
	var nilPtr *defLeaf
	tests := []struct {
		name string
		v    reflect.Value
		want string
	}{
		{"unparsable default", reflect.ValueOf(&badDefault{}), `default="many": not an integer`},
		{"nested unparsable default", reflect.ValueOf(&badNested{Inner: &badDefault{}}), "not an integer"},
		{"unknown tag item", reflect.ValueOf(&badTag{}), "unknown jsonschema tag item"},
		{"not a struct", reflect.ValueOf(new(int)), "not a struct"},
		{"nil pointer", reflect.ValueOf(nilPtr), "nil pointer"},
		{"unaddressable", reflect.ValueOf(defLeaf{}), "unaddressable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := SetDefaults(tt.v)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("SetDefaults = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

type defNode struct {
	Name string   `json:"name" jsonschema:"default=n"`
	Next *defNode `json:"next"`
}

func TestSetDefaultsRecursiveType(t *testing.T) {
	v := defNode{Next: &defNode{Name: "set", Next: &defNode{}}}
	if err := SetDefaults(reflect.ValueOf(&v)); err != nil {
		t.Fatal(err)
	}
	if v.Name != "n" || v.Next.Name != "set" || v.Next.Next.Name != "n" || v.Next.Next.Next != nil {
		t.Errorf("SetDefaults on a linked list: %+v %+v %+v", v, v.Next, v.Next.Next)
	}
}

func TestDefaultsInSchema(t *testing.T) {
	s := mustForType[defLeaf](t)
	if !strings.Contains(string(s.JSON()), `"default":-3`) || !strings.Contains(string(s.JSON()), `"default":true`) {
		t.Errorf("schema lacks typed defaults: %s", s.JSON())
	}
}

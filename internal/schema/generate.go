package schema

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
)

var (
	timeType            = reflect.TypeFor[time.Time]()
	rawMessageType      = reflect.TypeFor[json.RawMessage]()
	numberType          = reflect.TypeFor[json.Number]()
	jsonMarshalerType   = reflect.TypeFor[json.Marshaler]()
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// For generates the JSON Schema of the Go type t, following the rules in the
// package documentation, and compiles it.
func For(t reflect.Type) (*Schema, error) {
	if t == nil {
		return nil, errors.New("schema: nil type")
	}
	g := generator{inProgress: map[reflect.Type]bool{}}
	s, err := g.schemaFor(t)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("schema: marshalling schema of %s: %w", t, err)
	}
	return compile(raw)
}

// ForType generates the JSON Schema of the type T; it is For(reflect.TypeFor[T]()).
func ForType[T any]() (*Schema, error) {
	return For(reflect.TypeFor[T]())
}

// generator holds the state of one For call.
type generator struct {
	// inProgress holds the composite types being generated, to detect
	// recursion.
	inProgress map[reflect.Type]bool
}

// implements reports whether t or *t implements the interface type it.
func implements(t, it reflect.Type) bool {
	return t.Implements(it) || (t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(it))
}

// schemaFor returns a fresh schema for t. Fresh matters: jsonschema-go
// requires a schema graph to be a tree.
func (g *generator) schemaFor(t reflect.Type) (*jsonschema.Schema, error) {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map, reflect.Struct:
		if g.inProgress[t] {
			return nil, fmt.Errorf("schema: recursive type %s is not supported", t)
		}
		g.inProgress[t] = true
		defer delete(g.inProgress, t)
	}
	switch {
	case t == timeType:
		return &jsonschema.Schema{Type: "string", Format: "date-time"}, nil
	case t == rawMessageType:
		return &jsonschema.Schema{}, nil
	case t == numberType:
		return &jsonschema.Schema{Type: "number"}, nil
	case t.Kind() == reflect.Pointer:
		return g.schemaFor(t.Elem())
	case t.Kind() == reflect.Interface:
		return &jsonschema.Schema{}, nil
	case implements(t, jsonMarshalerType) || implements(t, jsonUnmarshalerType):
		return &jsonschema.Schema{}, nil
	case implements(t, textMarshalerType) || implements(t, textUnmarshalerType):
		return &jsonschema.Schema{Type: "string"}, nil
	}
	switch t.Kind() {
	case reflect.String:
		return &jsonschema.Schema{Type: "string"}, nil
	case reflect.Bool:
		return &jsonschema.Schema{Type: "boolean"}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &jsonschema.Schema{Type: "integer"}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return &jsonschema.Schema{Type: "integer", Minimum: jsonschema.Ptr(0.0)}, nil
	case reflect.Float32, reflect.Float64:
		return &jsonschema.Schema{Type: "number"}, nil
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 &&
			!implements(t.Elem(), jsonMarshalerType) && !implements(t.Elem(), textMarshalerType) {
			return &jsonschema.Schema{Type: "string"}, nil // base64, like encoding/json
		}
		items, err := g.schemaFor(t.Elem())
		if err != nil {
			return nil, err
		}
		return &jsonschema.Schema{Type: "array", Items: items}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("schema: unsupported map key type %s in %s: keys must be strings", t.Key(), t)
		}
		values, err := g.schemaFor(t.Elem())
		if err != nil {
			return nil, err
		}
		return &jsonschema.Schema{Type: "object", AdditionalProperties: values}, nil
	case reflect.Struct:
		return g.structSchema(t)
	default:
		return nil, fmt.Errorf("schema: unsupported type %s (kind %s)", t, t.Kind())
	}
}

// falseSchema returns a fresh schema that accepts nothing; it marshals as false.
func falseSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Not: &jsonschema.Schema{}}
}

// structSchema returns the object schema of the struct type t.
func (g *generator) structSchema(t reflect.Type) (*jsonschema.Schema, error) {
	fields, err := structFields(t)
	if err != nil {
		return nil, err
	}
	s := &jsonschema.Schema{
		Type:                 "object",
		Properties:           make(map[string]*jsonschema.Schema, len(fields)),
		AdditionalProperties: falseSchema(),
	}
	for _, f := range fields {
		fs, err := g.schemaFor(f.typ)
		if err != nil {
			return nil, err
		}
		tags, err := parseTags(f.tag)
		if err != nil {
			return nil, fmt.Errorf("schema: field %s.%s: %w", t, f.goName, err)
		}
		if err := tags.apply(fs, f.typ); err != nil {
			return nil, fmt.Errorf("schema: field %s.%s: %w", t, f.goName, err)
		}
		s.Properties[f.name] = fs
		s.PropertyOrder = append(s.PropertyOrder, f.name)
		if f.required(tags) {
			s.Required = append(s.Required, f.name)
		}
	}
	return s, nil
}

// field is a JSON-visible struct field, possibly promoted from an embedded
// struct.
type field struct {
	name      string       // JSON name
	goName    string       // Go field name, for errors
	typ       reflect.Type // field type
	tag       string       // jsonschema tag
	index     []int        // index sequence for reflect.Value.FieldByIndex
	tagged    bool         // the JSON name came from a json tag
	omitEmpty bool         // the json tag has omitempty or omitzero
	viaPtr    bool         // promoted through an embedded pointer
}

// required reports whether the field is required, given its parsed tags.
func (f *field) required(tags *fieldTags) bool {
	switch {
	case tags.required:
		return true
	case tags.optional:
		return false
	}
	return f.typ.Kind() != reflect.Pointer && !f.omitEmpty && !f.viaPtr && tags.defaultValue == nil
}

// structFields returns the JSON-visible fields of the struct type t in
// encoding/json order, applying its rules for promotion and name conflicts.
func structFields(t reflect.Type) ([]field, error) {
	var all []field
	var walk func(t reflect.Type, index []int, viaPtr bool, seen map[reflect.Type]bool) error
	walk = func(t reflect.Type, index []int, viaPtr bool, seen map[reflect.Type]bool) error {
		for i := range t.NumField() {
			sf := t.Field(i)
			if sf.Anonymous {
				et := sf.Type
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if !sf.IsExported() && et.Kind() != reflect.Struct {
					continue
				}
			} else if !sf.IsExported() {
				continue
			}
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			var omit bool
			for o := range strings.SplitSeq(opts, ",") {
				switch o {
				case "omitempty", "omitzero":
					omit = true
				case "string":
					return fmt.Errorf("schema: field %s.%s: json tag option \"string\" is not supported", t, sf.Name)
				}
			}
			idx := append(append([]int(nil), index...), i)
			ft := sf.Type
			ptr := false
			if ft.Name() == "" && ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
				ptr = true
			}
			if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
				if seen[ft] {
					continue // an embedding cycle, which encoding/json ignores too
				}
				seen[ft] = true
				err := walk(ft, idx, viaPtr || ptr, seen)
				delete(seen, ft)
				if err != nil {
					return err
				}
				continue
			}
			f := field{
				name:      name,
				goName:    sf.Name,
				typ:       sf.Type,
				tag:       sf.Tag.Get("jsonschema"),
				index:     idx,
				tagged:    name != "",
				omitEmpty: omit,
				viaPtr:    viaPtr,
			}
			if f.name == "" {
				f.name = sf.Name
			}
			all = append(all, f)
		}
		return nil
	}
	if err := walk(t, nil, false, map[reflect.Type]bool{t: true}); err != nil {
		return nil, err
	}

	// Resolve name conflicts: the shallowest field wins, then the only
	// tagged one among the shallowest; otherwise the name is dropped.
	byName := map[string][]int{} // name -> positions in all
	for i, f := range all {
		byName[f.name] = append(byName[f.name], i)
	}
	out := make([]field, 0, len(all))
	for i, f := range all {
		if dominant(all, byName[f.name]) == i {
			out = append(out, f)
		}
	}
	return out, nil
}

// dominant returns the position of the field that wins among the fields at
// positions pos (all with one name), or -1 if none does.
func dominant(all []field, pos []int) int {
	if len(pos) == 1 {
		return pos[0]
	}
	depth := len(all[pos[0]].index)
	for _, p := range pos[1:] {
		depth = min(depth, len(all[p].index))
	}
	winner, count, tagged := -1, 0, 0
	for _, p := range pos {
		if len(all[p].index) != depth {
			continue
		}
		count++
		if all[p].tagged {
			tagged++
			winner = p
		}
	}
	switch {
	case count == 1:
		for _, p := range pos {
			if len(all[p].index) == depth {
				return p
			}
		}
	case tagged == 1:
		return winner
	}
	return -1
}

// fieldTags is a parsed jsonschema struct tag.
type fieldTags struct {
	required, optional   bool
	description, title   string
	format, pattern      string
	enum                 []string
	defaultValue         *string
	minimum, maximum     *float64
	minLength, maxLength *int
}

// splitTag splits a jsonschema tag at commas not preceded by a backslash and
// turns each \, into a comma.
func splitTag(tag string) []string {
	var items []string
	var b strings.Builder
	for i := 0; i < len(tag); i++ {
		switch {
		case tag[i] == '\\' && i+1 < len(tag) && tag[i+1] == ',':
			b.WriteByte(',')
			i++
		case tag[i] == ',':
			items = append(items, b.String())
			b.Reset()
		default:
			b.WriteByte(tag[i])
		}
	}
	return append(items, b.String())
}

// parseTags parses a jsonschema struct tag. It checks the syntax of numeric
// items and patterns; values typed by the field are checked by apply.
func parseTags(tag string) (*fieldTags, error) {
	ft := &fieldTags{}
	if tag == "" {
		return ft, nil
	}
	for _, item := range splitTag(tag) {
		key, value, hasValue := strings.Cut(item, "=")
		if !hasValue {
			switch key {
			case "required":
				ft.required = true
			case "optional":
				ft.optional = true
			case "":
				// Tolerate empty items, as in a trailing comma.
			default:
				return nil, fmt.Errorf("unknown jsonschema tag item %q", item)
			}
			continue
		}
		var err error
		switch key {
		case "description":
			ft.description = value
		case "title":
			ft.title = value
		case "format":
			ft.format = value
		case "pattern":
			if _, err := regexp.Compile(value); err != nil {
				return nil, fmt.Errorf("jsonschema tag item pattern: %w", err)
			}
			ft.pattern = value
		case "enum":
			ft.enum = append(ft.enum, value)
		case "default":
			ft.defaultValue = &value
		case "minimum":
			ft.minimum, err = parseFloatItem(key, value)
		case "maximum":
			ft.maximum, err = parseFloatItem(key, value)
		case "minLength":
			ft.minLength, err = parseLengthItem(key, value)
		case "maxLength":
			ft.maxLength, err = parseLengthItem(key, value)
		default:
			return nil, fmt.Errorf("unknown jsonschema tag item %q", key)
		}
		if err != nil {
			return nil, err
		}
	}
	if ft.required && ft.optional {
		return nil, errors.New("jsonschema tag has both required and optional")
	}
	return ft, nil
}

func parseFloatItem(key, value string) (*float64, error) {
	f, err := strconv.ParseFloat(value, 64)
	if err != nil {
		return nil, fmt.Errorf("jsonschema tag item %s=%q: not a number", key, value)
	}
	return &f, nil
}

func parseLengthItem(key, value string) (*int, error) {
	n, err := strconv.Atoi(value)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("jsonschema tag item %s=%q: not a non-negative integer", key, value)
	}
	return &n, nil
}

// apply sets the keywords of the parsed tags on s, the schema of a field of
// type t.
func (ft *fieldTags) apply(s *jsonschema.Schema, t reflect.Type) error {
	s.Description = ft.description
	s.Title = ft.title
	if ft.format != "" {
		s.Format = ft.format
	}
	numeric := s.Type == "integer" || s.Type == "number"
	if ft.minimum != nil || ft.maximum != nil {
		if !numeric {
			return fmt.Errorf("minimum and maximum apply only to numeric fields, not %s", t)
		}
		if ft.minimum != nil {
			s.Minimum = ft.minimum
		}
		s.Maximum = ft.maximum
	}
	if ft.minLength != nil || ft.maxLength != nil || ft.pattern != "" {
		if s.Type != "string" {
			return fmt.Errorf("minLength, maxLength and pattern apply only to string fields, not %s", t)
		}
		s.MinLength, s.MaxLength, s.Pattern = ft.minLength, ft.maxLength, ft.pattern
	}
	for _, e := range ft.enum {
		v, err := parseValue(s.Type, t, e)
		if err != nil {
			return fmt.Errorf("jsonschema tag item enum=%q: %w", e, err)
		}
		s.Enum = append(s.Enum, v)
	}
	if ft.defaultValue != nil {
		raw, err := defaultJSON(s.Type, t, *ft.defaultValue)
		if err != nil {
			return err
		}
		s.Default = raw
	}
	return nil
}

// defaultJSON returns the JSON text of a default= value for a field of type t
// whose schema type is schemaType.
func defaultJSON(schemaType string, t reflect.Type, value string) (json.RawMessage, error) {
	v, err := parseValue(schemaType, t, value)
	if err != nil {
		return nil, fmt.Errorf("jsonschema tag item default=%q: %w", value, err)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("jsonschema tag item default=%q: %w", value, err)
	}
	return raw, nil
}

// parseValue parses the text of an enum= or default= item for a field of Go
// type t whose schema type is schemaType.
func parseValue(schemaType string, t reflect.Type, value string) (any, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch schemaType {
	case "string":
		return value, nil
	case "boolean":
		b, err := strconv.ParseBool(value)
		if err != nil {
			return nil, errors.New("not a boolean")
		}
		return b, nil
	case "integer":
		switch t.Kind() {
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			n, err := strconv.ParseUint(value, 10, t.Bits())
			if err != nil {
				return nil, fmt.Errorf("not an unsigned integer that fits %s", t)
			}
			return n, nil
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			n, err := strconv.ParseInt(value, 10, t.Bits())
			if err != nil {
				return nil, fmt.Errorf("not an integer that fits %s", t)
			}
			return n, nil
		}
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return nil, errors.New("not an integer")
		}
		return n, nil
	case "number":
		bits := 64
		if t.Kind() == reflect.Float32 {
			bits = 32
		}
		f, err := strconv.ParseFloat(value, bits)
		if err != nil {
			return nil, fmt.Errorf("not a number that fits %s", t)
		}
		return f, nil
	}
	var v any
	if err := json.Unmarshal([]byte(value), &v); err != nil {
		if schemaType == "" {
			return value, nil // an empty-schema field: plain text is a string
		}
		return nil, fmt.Errorf("not JSON text for a %s value", schemaType)
	}
	return v, nil
}

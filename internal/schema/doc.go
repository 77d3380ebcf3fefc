// Package schema builds JSON Schemas from Go types, compiles them once, and
// validates decoded JSON values against them quickly.
//
// A [Schema] is built either from a Go type with [For] or [ForType], or from
// JSON Schema text with [Compile]. Construction marshals the schema's JSON and
// resolves the validator exactly once; [Schema.Validate] and
// [Schema.ValidateJSON] then only walk the instance. Validation is performed by
// github.com/google/jsonschema-go; its errors are rewritten into short messages
// that name the offending property, such as
//
//	invalid arguments: property "query" is required
//	invalid arguments: property "limit": expected integer, got string
//	invalid arguments: property "todos[2].state": must be one of "open", "done"; got "closed"
//
// All validation errors wrap [ErrInvalid].
//
// # Generation rules
//
// [For] maps Go types to JSON Schema as follows:
//
//   - string kinds become "string"; bool becomes "boolean"; signed integer
//     kinds become "integer"; unsigned integer kinds become "integer" with
//     "minimum": 0; float kinds become "number".
//   - Slices and arrays become "array" with "items" set to the element's
//     schema, except []byte, which encoding/json writes as a base64 string and
//     so becomes "string".
//   - Maps whose key kind is string become "object" with
//     "additionalProperties" set to the value's schema. Other key kinds are an
//     error.
//   - Structs become "object" with "properties" in field order, a "required"
//     list, and "additionalProperties": false.
//   - A pointer has the schema of its element; as a struct field it is
//     optional (see below). JSON null is not accepted for it.
//   - time.Time becomes "string" with "format": "date-time"; json.Number
//     becomes "number".
//   - json.RawMessage, interface types (such as any), and other types that
//     implement json.Marshaler or json.Unmarshaler become the empty schema,
//     which accepts any value, since their encoding cannot be known. Other
//     types that implement encoding.TextMarshaler or
//     encoding.TextUnmarshaler become "string".
//   - Channels, functions, complex numbers and unsafe pointers are errors.
//   - A type that contains itself (directly or indirectly) is an error naming
//     the type.
//
// The top-level type need not be a struct: For(reflect.TypeFor[[]int]()) is
// {"type":"array","items":{"type":"integer"}}. A top-level pointer type is
// treated as its element type.
//
// # Struct fields
//
// Fields are named and selected like encoding/json does: the name comes from
// the json tag, or is the Go field name when the tag gives none; fields tagged
// json:"-" and unexported fields are skipped; the fields of embedded structs
// without a json name are promoted, with encoding/json's rules for name
// conflicts (the shallowest field wins, then the only tagged one; otherwise
// the name is dropped). The json tag option ",string" is not supported and is
// an error.
//
// The jsonschema struct tag holds comma-separated items. A literal comma inside
// a value is written \, (any other backslash is kept as is, so patterns such as
// ^\d+$ need no escaping). The items are:
//
//	required        the field is required
//	optional        the field is not required
//	description=T   the "description" keyword
//	title=T         the "title" keyword
//	enum=V          one allowed value; repeat the item for each value
//	default=V       the "default" keyword; also used by [SetDefaults]
//	minimum=N       the "minimum" keyword (numeric fields only)
//	maximum=N       the "maximum" keyword (numeric fields only)
//	minLength=N     the "minLength" keyword (string fields only)
//	maxLength=N     the "maxLength" keyword (string fields only)
//	pattern=RE      the "pattern" keyword (string fields only; must compile)
//	format=F        the "format" keyword
//
// For example:
//
//	type SearchArgs struct {
//		Query string   `json:"query" jsonschema:"description=What to look for\, in plain words"`
//		Limit int      `json:"limit" jsonschema:"minimum=1,maximum=100,default=10"`
//		Sort  string   `json:"sort,omitempty" jsonschema:"enum=relevance,enum=date"`
//		Tags  []string `json:"tags,omitempty"`
//	}
//
// Enum and default values are typed by the field's schema type: values of
// "integer" fields are parsed as integers that must fit the Go type, "number"
// fields as floats, "boolean" fields with strconv.ParseBool, and "string"
// fields are taken verbatim. For array, object and empty-schema fields the
// value is JSON text (for an empty-schema field, text that is not JSON is
// taken as a string). Tags on a pointer or slice field apply to the field's own
// schema (for a pointer, the element's schema), not to slice items. An unknown
// item, a malformed value, or both required and optional is an error.
//
// A field is required if it is tagged required. Otherwise it is required
// unless it is a pointer, its json tag has omitempty or omitzero, it has a
// default, it is tagged optional, or it was promoted from an embedded pointer
// to a struct.
//
// # Defaults
//
// [SetDefaults] fills zero-valued fields that have a default= item, after the
// arguments have been decoded into a Go value. A zero value cannot be told
// apart from an absent one, so an explicit false, 0 or "" is replaced by the
// default too; use a pointer field when that matters.
package schema

package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"
)

// This file turns a jsonschema-go validation error into a short message that
// names the offending property in the instance.
//
// jsonschema-go reports only the path of the failing schema, by wrapping the
// innermost error once per schema it descends into ("validating
// /properties/a/items: ..."). describe recovers those schema paths, walks the
// schema and the instance along them together, and, at the end, re-checks the
// failed keyword on the instance value it reached. Where a schema path step
// stands for many instance values (array items, map values), the re-check
// picks out the failing one. Where that is impossible, the step is written as
// [*] and the message of jsonschema-go is kept.

// describe returns a message for the validation error err of instance v
// against root. It never panics; at worst it returns jsonschema-go's message.
func describe(root *jsonschema.Schema, v any, err error) (msg string) {
	leaf, paths := unwrapLayers(err)
	defer func() {
		if recover() != nil {
			msg = leaf
		}
	}()
	toks, ok := tokens(paths)
	if !ok {
		return leaf
	}
	keyword := leafKeyword(leaf)
	w := walker{root: root, keyword: keyword}
	res, st := w.walk(toks, root, v, nil)
	if st == missed {
		return leaf
	}
	if st == failed {
		if m := message(keyword, res); m != "" {
			return m
		}
	}
	return withPath(res.path, trimKeyword(leaf))
}

// unwrapLayers returns the innermost error message of err and the schema
// paths of the "validating PATH: " layers wrapped around it, outermost first.
func unwrapLayers(err error) (leaf string, paths []string) {
	for e := err; e != nil; {
		next := errors.Unwrap(e)
		msg := e.Error()
		if next == nil {
			return msg, paths
		}
		prefix, ok := strings.CutSuffix(msg, ": "+next.Error())
		if p, isLayer := strings.CutPrefix(prefix, "validating "); ok && isLayer {
			paths = append(paths, p)
		}
		e = next
	}
	return "", paths
}

// leafKeyword returns the keyword that a jsonschema-go innermost error
// message is about.
func leafKeyword(leaf string) string {
	if strings.HasPrefix(leaf, "unexpected additional properties") {
		return "additionalProperties:false"
	}
	k, _, _ := strings.Cut(leaf, ":")
	return k
}

// trimKeyword removes a "keyword: " prefix from a jsonschema-go message.
func trimKeyword(leaf string) string {
	k, rest, ok := strings.Cut(leaf, ": ")
	if ok && !strings.ContainsAny(k, " \"") {
		return rest
	}
	return leaf
}

// token is one step of a walk: a jump to an absolute schema path (after a
// $ref, say), or one schema path segment relative to the current schema.
type token struct {
	jump bool
	path []string // for a jump: the absolute path's segments
	seg  string   // otherwise: the segment
}

// tokens turns the schema paths of the layers into walk steps. It reports
// false if a path cannot be interpreted (for example, it is an $id).
func tokens(paths []string) ([]token, bool) {
	var toks []token
	prev := ""
	for i, p := range paths {
		if p == "root" {
			p = ""
		} else if !strings.HasPrefix(p, "/") {
			return nil, false
		}
		if rest, ok := strings.CutPrefix(p, prev+"/"); ok && i > 0 {
			for s := range strings.SplitSeq(rest, "/") {
				toks = append(toks, token{seg: unescapePointer(s)})
			}
		} else if i > 0 || p != "" {
			var segs []string
			if p != "" {
				for s := range strings.SplitSeq(p[1:], "/") {
					segs = append(segs, unescapePointer(s))
				}
			}
			toks = append(toks, token{jump: true, path: segs})
		}
		prev = p
	}
	return toks, true
}

func unescapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
}

// status is the outcome of a walk.
type status int

const (
	failed  status = iota // the keyword was re-checked and fails at the location
	unknown               // the location is as good as can be told; not re-checked
	missed                // the path does not lead through this instance value
)

// pathElem is one element of an instance path: a property name or an array
// index ("*" for an unknown index).
type pathElem struct {
	name    string
	isIndex bool
}

// located is where a walk ended.
type located struct {
	path []pathElem
	node *jsonschema.Schema
	val  any
}

// walker walks a schema and an instance together.
type walker struct {
	root    *jsonschema.Schema
	keyword string
}

// instStep says how a schema step moves in the instance.
type instStep int

const (
	sameValue  instStep = iota // the same value
	propValue                  // the value of the property key
	indexValue                 // the array element at index
	eachItem                   // each array element
	eachExtra                  // each property value not named in properties
	eachMatch                  // each property value whose name matches a pattern
	lost                       // no way to follow
)

// child follows the schema step that starts at segs[0] from n. It returns the
// child schema, the number of segments used, how the instance moves, and the
// property key or array index.
func child(n *jsonschema.Schema, segs []string) (c *jsonschema.Schema, used int, step instStep, key string) {
	arg := ""
	if len(segs) > 1 {
		arg = segs[1]
	}
	index := func(list []*jsonschema.Schema) *jsonschema.Schema {
		i, err := strconv.Atoi(arg)
		if err != nil || i < 0 || i >= len(list) {
			return nil
		}
		return list[i]
	}
	switch segs[0] {
	case "properties":
		return n.Properties[arg], 2, propValue, arg
	case "items":
		if n.Items != nil {
			return n.Items, 1, eachItem, ""
		}
		return index(n.ItemsArray), 2, indexValue, arg
	case "prefixItems":
		return index(n.PrefixItems), 2, indexValue, arg
	case "additionalProperties":
		return n.AdditionalProperties, 1, eachExtra, ""
	case "patternProperties":
		return n.PatternProperties[arg], 2, eachMatch, arg
	case "allOf":
		return index(n.AllOf), 2, sameValue, ""
	case "anyOf":
		return index(n.AnyOf), 2, sameValue, ""
	case "oneOf":
		return index(n.OneOf), 2, sameValue, ""
	case "not":
		return n.Not, 1, sameValue, ""
	case "if":
		return n.If, 1, sameValue, ""
	case "then":
		return n.Then, 1, sameValue, ""
	case "else":
		return n.Else, 1, sameValue, ""
	case "dependentSchemas":
		return n.DependentSchemas[arg], 2, sameValue, ""
	case "dependencies":
		return n.DependencySchemas[arg], 2, sameValue, ""
	case "$defs":
		return n.Defs[arg], 2, lost, ""
	case "definitions":
		return n.Definitions[arg], 2, lost, ""
	case "contains":
		return n.Contains, 1, lost, ""
	case "propertyNames":
		return n.PropertyNames, 1, lost, ""
	case "unevaluatedItems":
		return n.UnevaluatedItems, 1, lost, ""
	case "unevaluatedProperties":
		return n.UnevaluatedProperties, 1, lost, ""
	case "additionalItems":
		return n.AdditionalItems, 1, lost, ""
	}
	return nil, 1, lost, ""
}

// lookup returns the schema at the absolute path segs, or nil.
func lookup(root *jsonschema.Schema, segs []string) *jsonschema.Schema {
	n := root
	for len(segs) > 0 && n != nil {
		c, used, _, _ := child(n, segs)
		n = c
		segs = segs[min(used, len(segs)):]
	}
	return n
}

// walk follows toks from schema node and instance value val, at instance
// path path.
func (w *walker) walk(toks []token, node *jsonschema.Schema, val any, path []pathElem) (located, status) {
	here := located{path: path, node: node, val: val}
	if len(toks) == 0 {
		return here, w.check(node, val)
	}
	if toks[0].jump {
		// A reference: the instance stays where it is.
		n := lookup(w.root, toks[0].path)
		if n == nil {
			return here, unknown
		}
		return w.walk(toks[1:], n, val, path)
	}
	var segs []string
	for _, t := range toks {
		if t.jump {
			break
		}
		segs = append(segs, t.seg)
	}
	c, used, step, key := child(node, segs)
	if c == nil || used > len(segs) {
		return here, unknown
	}
	rest := toks[used:]
	switch step {
	case sameValue:
		return w.walk(rest, c, val, path)
	case propValue:
		m, ok := val.(map[string]any)
		if !ok {
			return here, missed
		}
		e, ok := m[key]
		if !ok {
			return here, missed
		}
		return w.walk(rest, c, e, appendPath(path, pathElem{name: key}))
	case indexValue:
		a, ok := val.([]any)
		i, err := strconv.Atoi(key)
		if !ok || err != nil || i < 0 || i >= len(a) {
			return here, missed
		}
		return w.walk(rest, c, a[i], appendPath(path, pathElem{name: key, isIndex: true}))
	case eachItem:
		a, ok := val.([]any)
		if !ok {
			return here, missed
		}
		names := make([]string, len(a))
		for i := range a {
			names[i] = strconv.Itoa(i)
		}
		return w.each(rest, c, names, func(i int) any { return a[i] }, path, true)
	case eachExtra, eachMatch:
		m, ok := val.(map[string]any)
		if !ok {
			return here, missed
		}
		var re *regexp.Regexp
		if step == eachMatch {
			var err error
			if re, err = regexp.Compile(key); err != nil {
				return here, unknown
			}
		}
		var names []string
		for k := range m {
			_, named := node.Properties[k]
			if (step == eachExtra && !named) || (step == eachMatch && re.MatchString(k)) {
				names = append(names, k)
			}
		}
		slices.Sort(names)
		return w.each(rest, c, names, func(i int) any { return m[names[i]] }, path, false)
	}
	return here, unknown
}

// each walks rest from schema c into each of the values named names (array
// indexes if isIndex), and returns the first that fails. Failing that, it
// returns the one that is unknown if there is just one; otherwise it returns
// the first unknown result with this step of its path replaced by "*".
func (w *walker) each(rest []token, c *jsonschema.Schema, names []string, value func(int) any, path []pathElem, isIndex bool) (located, status) {
	var first located
	unknowns := 0
	for i, name := range names {
		res, st := w.walk(rest, c, value(i), appendPath(path, pathElem{name: name, isIndex: isIndex}))
		switch st {
		case failed:
			return res, failed
		case unknown:
			if unknowns == 0 {
				first = res
			}
			unknowns++
		}
	}
	switch unknowns {
	case 0:
		return located{path: path}, missed
	case 1:
		return first, unknown
	}
	first.path = slices.Clone(first.path)
	first.path[len(path)] = pathElem{name: "*", isIndex: isIndex}
	return first, unknown
}

func appendPath(path []pathElem, e pathElem) []pathElem {
	return append(slices.Clip(path), e)
}

// check re-checks the failed keyword on val against node. It returns failed
// if the keyword fails there, missed if it holds, and unknown if the keyword
// is not one it knows.
func (w *walker) check(node *jsonschema.Schema, val any) status {
	verdict := func(fails bool) status {
		if fails {
			return failed
		}
		return missed
	}
	switch w.keyword {
	case "type":
		return verdict(!typeMatches(node, jsonType(val)))
	case "enum":
		return verdict(!slices.ContainsFunc(node.Enum, func(e any) bool { return jsonschema.Equal(e, val) }))
	case "const":
		return verdict(node.Const != nil && !jsonschema.Equal(*node.Const, val))
	case "required":
		return verdict(len(missingProps(node, val)) > 0)
	case "additionalProperties:false":
		return verdict(len(extraProps(node, val)) > 0)
	case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
		_, fails := boundFailure(w.keyword, node, val)
		return verdict(fails)
	case "minLength", "maxLength", "pattern":
		_, fails := stringFailure(w.keyword, node, val)
		return verdict(fails)
	case "minItems", "maxItems":
		_, fails := countFailure(w.keyword, node, val)
		return verdict(fails)
	}
	return unknown
}

// message returns the message for a failed check at res, or "".
func message(keyword string, res located) string {
	node, val := res.node, res.val
	switch keyword {
	case "type":
		return withPath(res.path, fmt.Sprintf("expected %s, got %s", typeWant(node), jsonType(val)))
	case "enum":
		vals := make([]string, len(node.Enum))
		for i, e := range node.Enum {
			vals[i] = quote(e)
		}
		return withPath(res.path, fmt.Sprintf("must be one of %s; got %s", strings.Join(vals, ", "), quote(val)))
	case "const":
		return withPath(res.path, fmt.Sprintf("must be %s; got %s", quote(*node.Const), quote(val)))
	case "required":
		missing := missingProps(node, val)
		names := make([]string, len(missing))
		for i, m := range missing {
			names[i] = strconv.Quote(formatPath(appendPath(res.path, pathElem{name: m})))
		}
		if len(names) == 1 {
			return fmt.Sprintf("property %s is required", names[0])
		}
		return fmt.Sprintf("properties %s are required", strings.Join(names, ", "))
	case "additionalProperties:false":
		extra := extraProps(node, val)
		names := make([]string, len(extra))
		for i, e := range extra {
			names[i] = strconv.Quote(formatPath(appendPath(res.path, pathElem{name: e})))
		}
		msg := "unknown property " + names[0]
		if len(names) > 1 {
			msg = "unknown properties " + strings.Join(names, ", ")
		}
		if len(node.Properties) == 0 {
			return msg + "; no properties are allowed here"
		}
		allowed := make([]string, 0, len(node.Properties))
		for k := range node.Properties {
			allowed = append(allowed, strconv.Quote(k))
		}
		slices.Sort(allowed)
		return msg + "; allowed properties are " + strings.Join(allowed, ", ")
	case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
		m, _ := boundFailure(keyword, node, val)
		return withPath(res.path, m)
	case "minLength", "maxLength", "pattern":
		m, _ := stringFailure(keyword, node, val)
		return withPath(res.path, m)
	case "minItems", "maxItems":
		m, _ := countFailure(keyword, node, val)
		return withPath(res.path, m)
	}
	return ""
}

// withPath prefixes msg with the instance path, if any.
func withPath(path []pathElem, msg string) string {
	if len(path) == 0 {
		return msg
	}
	return fmt.Sprintf("property %q: %s", formatPath(path), msg)
}

// formatPath writes an instance path as a.b[2].c.
func formatPath(path []pathElem) string {
	var b strings.Builder
	for i, e := range path {
		switch {
		case e.isIndex:
			b.WriteString("[" + e.name + "]")
		case i > 0:
			b.WriteString("." + e.name)
		default:
			b.WriteString(e.name)
		}
	}
	return b.String()
}

// quote returns v as JSON text, shortened if long.
func quote(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	const max = 80
	if len(b) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		return string(b[:cut]) + "…"
	}
	return string(b)
}

// jsonType returns the JSON Schema type name of a normalized decoded value.
func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return "integer"
	case float32:
		return jsonType(float64(v))
	case float64:
		if math.Trunc(v) == v && !math.IsInf(v, 0) {
			return "integer"
		}
		return "number"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// typeMatches reports whether a value of JSON type got satisfies node's type.
func typeMatches(node *jsonschema.Schema, got string) bool {
	ok := func(want string) bool { return want == got || (want == "number" && got == "integer") }
	if node.Type != "" {
		return ok(node.Type)
	}
	return node.Types == nil || slices.ContainsFunc(node.Types, ok)
}

// typeWant describes node's allowed types.
func typeWant(node *jsonschema.Schema) string {
	if node.Type != "" {
		return node.Type
	}
	return strings.Join(node.Types, " or ")
}

// missingProps returns node's required properties that the object val lacks.
func missingProps(node *jsonschema.Schema, val any) []string {
	m, ok := val.(map[string]any)
	if !ok {
		return nil
	}
	var missing []string
	for _, r := range node.Required {
		if _, ok := m[r]; !ok {
			missing = append(missing, r)
		}
	}
	return missing
}

// extraProps returns, sorted, the properties of the object val that node
// neither names nor matches with a pattern.
func extraProps(node *jsonschema.Schema, val any) []string {
	m, ok := val.(map[string]any)
	if !ok {
		return nil
	}
	var extra []string
	for k := range m {
		if _, ok := node.Properties[k]; ok {
			continue
		}
		matched := false
		for p := range node.PatternProperties {
			if re, err := regexp.Compile(p); err == nil && re.MatchString(k) {
				matched = true
				break
			}
		}
		if !matched {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	return extra
}

// toFloat returns a normalized decoded number as a float64.
func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case uint64:
		return float64(v), true
	case int:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// boundFailure checks a numeric bound keyword.
func boundFailure(keyword string, node *jsonschema.Schema, val any) (string, bool) {
	f, ok := toFloat(val)
	if !ok {
		return "", false
	}
	var bound *float64
	var fails bool
	var rel string
	switch keyword {
	case "minimum":
		bound, rel = node.Minimum, ">="
		fails = bound != nil && f < *bound
	case "maximum":
		bound, rel = node.Maximum, "<="
		fails = bound != nil && f > *bound
	case "exclusiveMinimum":
		bound, rel = node.ExclusiveMinimum, ">"
		fails = bound != nil && f <= *bound
	case "exclusiveMaximum":
		bound, rel = node.ExclusiveMaximum, "<"
		fails = bound != nil && f >= *bound
	}
	if !fails {
		return "", false
	}
	return fmt.Sprintf("must be %s %s; got %s", rel, formatFloat(*bound), quote(val)), true
}

// stringFailure checks a string keyword.
func stringFailure(keyword string, node *jsonschema.Schema, val any) (string, bool) {
	s, ok := val.(string)
	if !ok {
		return "", false
	}
	n := utf8.RuneCountInString(s)
	switch keyword {
	case "minLength":
		if node.MinLength != nil && n < *node.MinLength {
			return fmt.Sprintf("must be at least %d characters long; got %d", *node.MinLength, n), true
		}
	case "maxLength":
		if node.MaxLength != nil && n > *node.MaxLength {
			return fmt.Sprintf("must be at most %d characters long; got %d", *node.MaxLength, n), true
		}
	case "pattern":
		re, err := regexp.Compile(node.Pattern)
		if err == nil && !re.MatchString(s) {
			return fmt.Sprintf("must match the pattern %q; got %s", node.Pattern, quote(s)), true
		}
	}
	return "", false
}

// countFailure checks an array length keyword.
func countFailure(keyword string, node *jsonschema.Schema, val any) (string, bool) {
	a, ok := val.([]any)
	if !ok {
		return "", false
	}
	switch keyword {
	case "minItems":
		if node.MinItems != nil && len(a) < *node.MinItems {
			return fmt.Sprintf("must have at least %d items; got %d", *node.MinItems, len(a)), true
		}
	case "maxItems":
		if node.MaxItems != nil && len(a) > *node.MaxItems {
			return fmt.Sprintf("must have at most %d items; got %d", *node.MaxItems, len(a)), true
		}
	}
	return "", false
}

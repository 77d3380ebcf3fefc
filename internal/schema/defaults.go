package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
)

// SetDefaults fills the zero-valued fields of the struct v that have a
// default= item in their jsonschema tag, recursing into nested structs,
// embedded structs, and non-nil pointers to structs. v must be an addressable
// struct or a non-nil pointer to a struct. Fields that are not zero are left
// alone. A default that cannot be parsed for its field, or any other malformed
// jsonschema tag in a visited struct, is an error.
func SetDefaults(v reflect.Value) error {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return errors.New("schema: SetDefaults of a nil pointer")
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return fmt.Errorf("schema: SetDefaults of a %s, not a struct", v.Kind())
	}
	if !v.CanAddr() {
		return fmt.Errorf("schema: SetDefaults of an unaddressable %s", v.Type())
	}
	return setDefaults(v)
}

func setDefaults(v reflect.Value) error {
	plan, err := defaultsPlanFor(v.Type())
	if err != nil {
		return err
	}
	for _, f := range plan.fields {
		fv := v.Field(f.index)
		if f.raw != nil && fv.IsZero() {
			if err := json.Unmarshal(f.raw, fv.Addr().Interface()); err != nil {
				return fmt.Errorf("schema: field %s.%s: setting default %s: %w", v.Type(), v.Type().Field(f.index).Name, f.raw, err)
			}
		}
		if f.nested {
			if fv.Kind() == reflect.Pointer {
				if fv.IsNil() {
					continue
				}
				fv = fv.Elem()
			}
			if err := setDefaults(fv); err != nil {
				return err
			}
		}
	}
	return nil
}

// defaultsPlan lists what SetDefaults does with the fields of a struct type.
type defaultsPlan struct {
	fields []defaultsField
}

// defaultsField is a field that has a default or holds a struct.
type defaultsField struct {
	index  int
	raw    json.RawMessage // the default as JSON, or nil
	nested bool            // a struct or pointer to struct to recurse into
}

type planResult struct {
	plan *defaultsPlan
	err  error
}

var defaultsPlans sync.Map // reflect.Type -> planResult

// defaultsPlanFor returns the cached plan for the struct type t.
func defaultsPlanFor(t reflect.Type) (*defaultsPlan, error) {
	if r, ok := defaultsPlans.Load(t); ok {
		return r.(planResult).plan, r.(planResult).err
	}
	plan, err := buildDefaultsPlan(t)
	defaultsPlans.Store(t, planResult{plan, err})
	return plan, err
}

func buildDefaultsPlan(t reflect.Type) (*defaultsPlan, error) {
	plan := &defaultsPlan{}
	for i := range t.NumField() {
		sf := t.Field(i)
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		isStruct := ft.Kind() == reflect.Struct && ft != timeType
		switch {
		case sf.Anonymous && !sf.IsExported():
			// Promoted fields of an unexported embedded struct are settable
			// only when it is embedded by value.
			if sf.Type.Kind() != reflect.Struct {
				continue
			}
		case !sf.IsExported(), sf.Tag.Get("json") == "-":
			continue
		}
		f := defaultsField{index: i, nested: isStruct}
		tags, err := parseTags(sf.Tag.Get("jsonschema"))
		if err != nil {
			return nil, fmt.Errorf("schema: field %s.%s: %w", t, sf.Name, err)
		}
		if tags.defaultValue != nil && sf.IsExported() {
			g := generator{inProgress: map[reflect.Type]bool{}}
			s, err := g.schemaFor(sf.Type)
			if err != nil {
				return nil, fmt.Errorf("schema: field %s.%s: %w", t, sf.Name, err)
			}
			if f.raw, err = defaultJSON(s.Type, sf.Type, *tags.defaultValue); err != nil {
				return nil, fmt.Errorf("schema: field %s.%s: %w", t, sf.Name, err)
			}
		}
		if f.raw != nil || f.nested {
			plan.fields = append(plan.fields, f)
		}
	}
	return plan, nil
}

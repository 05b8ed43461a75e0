package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strings"

	"github.com/checkflow/checkflow/internal/health"
)

// fieldSpec describes one top-level config key of a channel type. It renders the JSON Schema;
// decoding uses the json tags of the type's config struct (a test keeps the two in sync).
type fieldSpec struct {
	name        string
	kind        string // string | integer | object (string → string) | array (of strings)
	required    bool
	secret      bool
	format      string
	def         any
	enum        []string
	min, max    int // integer bounds, or item counts of an array (0 = none)
	description string
}

// renderSchema renders fields as a JSON Schema (draft 2020-12) object.
func renderSchema(typ string, fields []fieldSpec) json.RawMessage {
	props := map[string]any{}
	order := make([]string, 0, len(fields))
	required := []string{}
	for _, f := range fields {
		p := map[string]any{"type": f.kind}
		if f.description != "" {
			p["description"] = f.description
		}
		if f.format != "" {
			p["format"] = f.format
		}
		if f.def != nil {
			p["default"] = f.def
		}
		if len(f.enum) > 0 {
			p["enum"] = f.enum
		}
		switch f.kind {
		case "integer":
			if f.min != 0 || f.max != 0 {
				p["minimum"], p["maximum"] = f.min, f.max
			}
		case "array":
			items := map[string]any{"type": "string"}
			if f.format != "" {
				items["format"] = f.format
				delete(p, "format")
			}
			p["items"] = items
			if f.min > 0 {
				p["minItems"] = f.min
			}
			if f.max > 0 {
				p["maxItems"] = f.max
			}
		case "object":
			p["additionalProperties"] = map[string]any{"type": "string"}
		}
		if f.secret {
			p["x-secret"] = true
		}
		props[f.name] = p
		order = append(order, f.name)
		if f.required {
			required = append(required, f.name)
		}
	}
	schema := map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"title":                typ + " channel config",
		"type":                 "object",
		"properties":           props,
		"required":             required,
		"additionalProperties": false,
		"x-order":              order,
	}
	b, err := json.Marshal(schema)
	if err != nil { // cannot happen: the map holds only JSON-safe values
		panic(fmt.Sprintf("notify: rendering %s schema: %v", typ, err))
	}
	return b
}

// decodeConfig strictly decodes a config object into dst (a pointer to a struct with json
// tags): every key must be a field of dst (exact case) and every value of the field's type.
// Empty input and null are an empty object. It returns one FieldError per bad key.
func decodeConfig(raw json.RawMessage, dst any) []health.FieldError {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return []health.FieldError{{Field: "config", Message: "must be a JSON object"}}
	}
	v := reflect.ValueOf(dst).Elem()
	t := v.Type()
	index := map[string]int{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			index[name] = i
		}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []health.FieldError
	for _, k := range keys {
		i, ok := index[k]
		if !ok {
			errs = append(errs, health.FieldError{Field: "config." + k, Message: "unknown key"})
			continue
		}
		val := bytes.TrimSpace(obj[k])
		if bytes.Equal(val, []byte("null")) {
			continue
		}
		f := v.Field(i)
		if err := json.Unmarshal(val, f.Addr().Interface()); err != nil {
			f.Set(reflect.Zero(f.Type()))
			errs = append(errs, health.FieldError{Field: "config." + k, Message: "must be " + describeKind(f.Type())})
		}
	}
	return errs
}

func describeKind(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Map:
		return "an object whose values are strings"
	case reflect.Slice:
		return "an array of strings"
	}
	return "of a different type"
}

// fieldErrors merges decode and validation errors into a *health.ValidationError (nil when
// both are empty). A validation error about a key that already failed to decode is dropped.
func fieldErrors(decodeErrs, validateErrs []health.FieldError) error {
	bad := map[string]bool{}
	for _, e := range decodeErrs {
		bad[e.Field] = true
	}
	errs := append([]health.FieldError(nil), decodeErrs...)
	for _, e := range validateErrs {
		if !bad[e.Field] {
			errs = append(errs, e)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
	return &health.ValidationError{Errors: errs}
}

// fieldErrs collects validation errors of one config.
type fieldErrs []health.FieldError

func (l *fieldErrs) add(key, format string, args ...any) {
	*l = append(*l, health.FieldError{Field: "config." + key, Message: fmt.Sprintf(format, args...)})
}

// requireString flags an empty required string.
func (l *fieldErrs) requireString(key, v string) bool {
	if strings.TrimSpace(v) == "" {
		l.add(key, "is required")
		return false
	}
	return true
}

// checkHTTPURL flags a value that is not an absolute http(s) URL with a host. The message never
// repeats the value (it may be secret).
func (l *fieldErrs) checkHTTPURL(key, v string) {
	if _, ok := parseHTTPURL(v); !ok {
		l.add(key, "must be an absolute http or https URL with a host")
	}
}

// parseHTTPURL parses an absolute http(s) URL with a host.
func parseHTTPURL(v string) (*url.URL, bool) {
	if strings.TrimSpace(v) != v || v == "" {
		return nil, false
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Opaque != "" {
		return nil, false
	}
	return u, true
}

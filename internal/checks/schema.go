package checks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/checkflow/checkflow/internal/health"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// prop describes one field of a strategy config, a collector config or a collector result.
// A single description renders the JSON Schema served by the API and validates decoded JSON,
// so the two can never disagree.
type prop struct {
	Name        string
	Type        string   // string | integer | number | boolean | array | object | any
	Union       []string // JSON types accepted when Type is "any" (rendered as a type list)
	Title       string
	Description string
	Required    bool
	Default     any
	Min, Max    *float64
	MinLength   int
	MaxLength   int
	Enum        []string
	Pattern     string
	Secret      bool // x-secret: a credential; UIs mask it
	SecretEnv   bool // x-secret-env: a map of ENV -> "${{ secrets.NAME }}" templates
	Ephemeral   bool // x-ephemeral: result field used for assertions, stripped before storage
	Items       *prop
	Props       []prop // object properties
	Values      *prop  // object used as a map: schema of every value
	// Check is an extra semantic check run on a present, well-typed value; it returns
	// an error message or "".
	Check func(v any) string

	re *regexp.Regexp
}

func ptr(f float64) *float64 { return &f }

// objectSchema is the top-level description of a config or result object.
type objectSchema struct {
	Props []prop
	// Check validates the whole (defaulted) object; it returns an error message or "".
	Check func(v any) string
}

func (s objectSchema) root() *prop {
	return &prop{Type: "object", Props: s.Props, Check: s.Check}
}

// jsonSchema renders the schema as a JSON Schema (draft 2020-12) document.
func (s objectSchema) jsonSchema() json.RawMessage {
	m := s.root().schemaMap()
	m["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	b, err := json.Marshal(m)
	if err != nil { // cannot happen: the map holds only JSON-safe values
		panic(fmt.Sprintf("checks: rendering schema: %v", err))
	}
	return b
}

func (p *prop) schemaMap() map[string]any {
	m := map[string]any{}
	if p.Type != "any" && p.Type != "" {
		m["type"] = p.Type
	} else if len(p.Union) > 0 {
		m["type"] = p.Union
	}
	if p.Title != "" {
		m["title"] = p.Title
	}
	if p.Description != "" {
		m["description"] = p.Description
	}
	if p.Default != nil {
		m["default"] = p.Default
	}
	if p.Min != nil {
		m["minimum"] = *p.Min
	}
	if p.Max != nil {
		m["maximum"] = *p.Max
	}
	if p.MinLength > 0 {
		if p.Type == "array" {
			m["minItems"] = p.MinLength
		} else {
			m["minLength"] = p.MinLength
		}
	}
	if p.MaxLength > 0 {
		if p.Type == "array" {
			m["maxItems"] = p.MaxLength
		} else {
			m["maxLength"] = p.MaxLength
		}
	}
	if len(p.Enum) > 0 {
		m["enum"] = p.Enum
	}
	if p.Pattern != "" {
		m["pattern"] = p.Pattern
	}
	if p.Secret {
		m["x-secret"] = true
	}
	if p.SecretEnv {
		m["x-secret-env"] = true
	}
	if p.Ephemeral {
		m["x-ephemeral"] = true
	}
	if p.Items != nil {
		m["items"] = p.Items.schemaMap()
	}
	if p.Type == "object" && p.Values == nil {
		props := map[string]any{}
		var required, order []string
		for i := range p.Props {
			c := &p.Props[i]
			props[c.Name] = c.schemaMap()
			order = append(order, c.Name)
			if c.Required && c.Default == nil {
				required = append(required, c.Name)
			}
		}
		m["properties"] = props
		m["x-order"] = order
		if len(required) > 0 {
			m["required"] = required
		}
	}
	if p.Values != nil {
		m["additionalProperties"] = p.Values.schemaMap()
	}
	return m
}

// compile prepares regular expressions; it panics on a programming error in a built-in schema.
func (p *prop) compile() {
	if p.Pattern != "" && p.re == nil {
		p.re = regexp.MustCompile(p.Pattern)
	}
	if p.Items != nil {
		p.Items.compile()
	}
	if p.Values != nil {
		p.Values.compile()
	}
	for i := range p.Props {
		p.Props[i].compile()
	}
}

// FieldError names one invalid field and says what is wrong with it.
type FieldError = health.FieldError

// ValidationError lists every invalid field of a check configuration.
type ValidationError struct {
	// Errors lists the problems in field order of discovery.
	Errors []FieldError `json:"errors"`
}

// Error joins the field errors as "field: message; field: message".
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.Field + ": " + fe.Message
	}
	return "invalid configuration: " + strings.Join(parts, "; ")
}

// Field returns the first error for the named field, or nil.
func (e *ValidationError) Field(name string) *FieldError {
	for i := range e.Errors {
		if e.Errors[i].Field == name {
			return &e.Errors[i]
		}
	}
	return nil
}

type errList []FieldError

func (l *errList) add(field, format string, args ...any) {
	*l = append(*l, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// decodeObject parses raw JSON into a generic object, keeping numbers exact.
// Empty input and JSON null are an empty object.
func decodeObject(raw json.RawMessage) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("must be a JSON object")
	}
	return m, nil
}

// validateObject validates obj against s, applies defaults and returns the normalised object
// (numbers as int64/float64). Errors are appended with field names under path.
func (s objectSchema) validateObject(path string, obj map[string]any, errs *errList) map[string]any {
	out, _ := s.root().validate(path, obj, errs).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	return out
}

// validate checks v (already present) against p and returns the normalised value.
func (p *prop) validate(path string, v any, errs *errList) any {
	switch p.Type {
	case "any", "":
		out := normaliseNumbers(v)
		if p.Check != nil {
			if msg := p.Check(out); msg != "" {
				errs.add(path, "%s", msg)
			}
		}
		return out
	case "string":
		s, ok := v.(string)
		if !ok {
			errs.add(path, "must be a string")
			return nil
		}
		n := utf8.RuneCountInString(s)
		if p.MinLength > 0 && n < p.MinLength {
			if p.MinLength == 1 {
				errs.add(path, "must not be empty")
			} else {
				errs.add(path, "must be at least %d characters", p.MinLength)
			}
			return s
		}
		if p.MaxLength > 0 && n > p.MaxLength {
			errs.add(path, "must be at most %d characters", p.MaxLength)
			return s
		}
		if len(p.Enum) > 0 && !contains(p.Enum, s) {
			errs.add(path, "must be one of %s (got %q)", strings.Join(p.Enum, ", "), s)
			return s
		}
		if p.re != nil && !p.re.MatchString(s) {
			errs.add(path, "must match %s", p.Pattern)
			return s
		}
		if p.Check != nil {
			if msg := p.Check(s); msg != "" {
				errs.add(path, "%s", msg)
			}
		}
		return s
	case "integer", "number":
		f, isInt, ok := jsonNumber(v)
		if !ok {
			errs.add(path, "must be a number")
			return nil
		}
		if p.Type == "integer" && !isInt {
			errs.add(path, "must be an integer")
			return nil
		}
		if p.Min != nil && f < *p.Min {
			errs.add(path, "must be at least %s", fmtNum(*p.Min))
		} else if p.Max != nil && f > *p.Max {
			errs.add(path, "must be at most %s", fmtNum(*p.Max))
		}
		var out any = f
		if p.Type == "integer" {
			out = int64(f)
		}
		if p.Check != nil {
			if msg := p.Check(out); msg != "" {
				errs.add(path, "%s", msg)
			}
		}
		return out
	case "boolean":
		b, ok := v.(bool)
		if !ok {
			errs.add(path, "must be true or false")
			return nil
		}
		return b
	case "array":
		arr, ok := v.([]any)
		if !ok {
			errs.add(path, "must be an array")
			return nil
		}
		if p.MinLength > 0 && len(arr) < p.MinLength {
			errs.add(path, "must have at least %d item(s)", p.MinLength)
		}
		if p.MaxLength > 0 && len(arr) > p.MaxLength {
			errs.add(path, "must have at most %d items", p.MaxLength)
		}
		out := make([]any, len(arr))
		for i, item := range arr {
			ip := fmt.Sprintf("%s[%d]", path, i)
			if p.Items == nil {
				out[i] = normaliseNumbers(item)
				continue
			}
			if item == nil {
				errs.add(ip, "must not be null")
				continue
			}
			out[i] = p.Items.validate(ip, item, errs)
		}
		if p.Check != nil && len(*errs) == 0 {
			if msg := p.Check(out); msg != "" {
				errs.add(path, "%s", msg)
			}
		}
		return out
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			errs.add(path, "must be an object")
			return nil
		}
		out := make(map[string]any, len(obj)+len(p.Props))
		if p.Values != nil {
			keys := sortedKeys(obj)
			for _, k := range keys {
				kp := path + "." + k
				if obj[k] == nil {
					errs.add(kp, "must not be null")
					continue
				}
				out[k] = p.Values.validate(kp, obj[k], errs)
			}
		} else {
			for k, val := range obj { // unknown keys pass through untouched
				out[k] = normaliseNumbers(val)
			}
		}
		for i := range p.Props {
			c := &p.Props[i]
			cp := joinPath(path, c.Name)
			val, present := obj[c.Name]
			if !present || val == nil {
				delete(out, c.Name)
				if c.Default != nil {
					out[c.Name] = normaliseNumbers(c.Default)
				} else if c.Required {
					errs.add(cp, "is required")
				}
				continue
			}
			out[c.Name] = c.validate(cp, val, errs)
		}
		if p.Check != nil {
			if msg := p.Check(out); msg != "" {
				errs.add(path, "%s", msg)
			}
		}
		return out
	}
	return v
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// jsonNumber accepts the number representations that reach validation.
func jsonNumber(v any) (f float64, isInt bool, ok bool) {
	switch n := v.(type) {
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return float64(i), true, true
		}
		x, err := n.Float64()
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, false, false
		}
		return x, x == math.Trunc(x) && math.Abs(x) < 1<<53, true
	case float64:
		return n, n == math.Trunc(n) && math.Abs(n) < 1<<53, true
	case int:
		return float64(n), true, true
	case int64:
		return float64(n), true, true
	}
	return 0, false, false
}

// normaliseNumbers converts json.Number values into int64 or float64, recursively.
func normaliseNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return f
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = normaliseNumbers(x[i])
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[k] = normaliseNumbers(val)
		}
		return out
	}
	return v
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// decodeInto converts a validated, defaulted object into a typed config struct.
func decodeInto[T any](obj map[string]any) (T, error) {
	var out T
	b, err := json.Marshal(obj)
	if err != nil {
		return out, fmt.Errorf("encoding config: %w", err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return out, fmt.Errorf("decoding config: %w", err)
	}
	return out, nil
}

// Common field builders.

func timeoutProp(def int, minMs, maxMs float64, desc string) prop {
	p := prop{Name: "timeout", Type: "integer", Title: "Timeout (ms)", Description: desc, Default: def, Min: ptr(minMs)}
	if maxMs > 0 {
		p.Max = ptr(maxMs)
	}
	return p
}

func hostProp() prop {
	return prop{Name: "host", Type: "string", Title: "Host", Description: "Hostname or IP address.", Required: true, MinLength: 1, MaxLength: 253, Check: checkHost}
}

func portProp(def int) prop {
	p := prop{Name: "port", Type: "integer", Title: "Port", Min: ptr(1), Max: ptr(65535)}
	if def > 0 {
		p.Default = def
	} else {
		p.Required = true
	}
	return p
}

func checkHost(v any) string {
	s, _ := v.(string)
	if strings.TrimSpace(s) != s || strings.ContainsAny(s, " /\t\r\n?#@") {
		return "must be a bare hostname or IP address (no scheme, path or spaces)"
	}
	return ""
}

package checks

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/theory/jsonpath"
)

// Operators returns every assertion operator. Semantics (reference 1.5.0):
//
//   - exists / notExists: value is (not) null or absent.
//   - isTrue / isFalse: strict booleans.
//   - isEmpty: arrays with no items, objects with no keys, otherwise a falsy value or a string that is
//     blank after trimming (so 0 and false are empty, as in JavaScript); isNotEmpty is its negation.
//   - lessThan, lessThanOrEqual, greaterThan, greaterThanOrEqual: both sides coerced with JavaScript
//     Number(); NaN on either side fails.
//   - equals: two numbers compare numerically, identical values pass, otherwise String() forms compare.
//     notEquals: identical values fail, otherwise String() forms differ.
//   - contains, startsWith, endsWith: on String() forms; matches: regular-expression test (RE2 syntax;
//     an invalid pattern fails).
//   - includes / notIncludes: an array has an item whose String() form equals the value's (a string
//     actual is searched as a substring).
//   - lengthEquals, lengthGreaterThan, lengthLessThan: length of an array or string against Number(value).
//
// Any other operator fails.
func Operators() []string { return append([]string(nil), operatorNames...) }

var operatorNames = []string{
	"equals", "notEquals",
	"lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual",
	"contains", "startsWith", "endsWith", "matches",
	"isEmpty", "isNotEmpty", "exists", "notExists", "isTrue", "isFalse",
	"includes", "notIncludes", "lengthEquals", "lengthGreaterThan", "lengthLessThan",
}

var (
	numericOperators = map[string]bool{"lessThan": true, "lessThanOrEqual": true, "greaterThan": true, "greaterThanOrEqual": true,
		"lengthEquals": true, "lengthGreaterThan": true, "lengthLessThan": true}
	valuelessOperators = map[string]bool{"exists": true, "notExists": true, "isTrue": true, "isFalse": true, "isEmpty": true, "isNotEmpty": true}
)

// EvaluateAssertions evaluates assertions in order against a collector result and returns the
// failure text "<field> <operator> <value>" of the first one that fails, or "" when all pass.
func EvaluateAssertions(values map[string]any, assertions []Assertion) string {
	for _, a := range assertions {
		if !EvaluateOperator(a.Operator, AssertionActual(values, a), a.Value) {
			return assertionLabel(a)
		}
	}
	return ""
}

func assertionLabel(a Assertion) string {
	field := a.Field
	if a.JSONPath != "" {
		field += " " + a.JSONPath
	}
	return field + " " + a.Operator + " " + jsString(a.Value)
}

// AssertionActual returns the value an assertion tests: values[Field], or the result of its JSONPath
// on that field (a string field is parsed as JSON first). A singular query (only name and index
// selectors) yields its one node or nil; any other query yields the array of selected nodes.
// Unparsable JSON or an invalid path yields nil.
func AssertionActual(values map[string]any, a Assertion) any {
	v := values[a.Field]
	if a.JSONPath == "" {
		return v
	}
	p, err := jsonpath.Parse(a.JSONPath)
	if err != nil {
		return nil
	}
	doc := v
	switch x := v.(type) {
	case string:
		if err := json.Unmarshal([]byte(x), &doc); err != nil {
			return nil
		}
	case []byte:
		if err := json.Unmarshal(x, &doc); err != nil {
			return nil
		}
	}
	nodes := p.Select(doc)
	if p.Query().Singular() != nil {
		if len(nodes) == 0 {
			return nil
		}
		return nodes[0]
	}
	out := make([]any, len(nodes))
	copy(out, nodes)
	return out
}

// EvaluateOperator applies one assertion operator to an actual and an expected value using the
// reference's JavaScript coercions (see [Operators]).
func EvaluateOperator(op string, actual, expected any) bool {
	switch op {
	case "exists":
		return actual != nil
	case "notExists":
		return actual == nil
	case "isTrue":
		b, ok := actual.(bool)
		return ok && b
	case "isFalse":
		b, ok := actual.(bool)
		return ok && !b
	case "isEmpty":
		return jsEmpty(actual)
	case "isNotEmpty":
		return !jsEmpty(actual)
	case "lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual":
		a, e := jsToNumber(actual), jsToNumber(expected)
		if math.IsNaN(a) || math.IsNaN(e) {
			return false
		}
		switch op {
		case "lessThan":
			return a < e
		case "lessThanOrEqual":
			return a <= e
		case "greaterThan":
			return a > e
		default:
			return a >= e
		}
	case "lengthEquals", "lengthGreaterThan", "lengthLessThan":
		n, ok := jsLength(actual)
		e := jsToNumber(expected)
		if !ok || math.IsNaN(e) {
			return false
		}
		switch op {
		case "lengthEquals":
			return float64(n) == e
		case "lengthGreaterThan":
			return float64(n) > e
		default:
			return float64(n) < e
		}
	case "includes":
		return jsIncludes(actual, expected)
	case "notIncludes":
		return !jsIncludes(actual, expected)
	case "equals":
		an, aNum := numberValue(actual)
		en, eNum := numberValue(expected)
		if aNum && eNum {
			return an == en
		}
		if strictEqual(actual, expected) {
			return true
		}
		return jsString(actual) == jsString(expected)
	case "notEquals":
		if strictEqual(actual, expected) {
			return false
		}
		return jsString(actual) != jsString(expected)
	case "contains":
		return strings.Contains(jsString(actual), jsString(expected))
	case "startsWith":
		return strings.HasPrefix(jsString(actual), jsString(expected))
	case "endsWith":
		return strings.HasSuffix(jsString(actual), jsString(expected))
	case "matches":
		re, err := regexp.Compile(jsString(expected))
		if err != nil {
			return false
		}
		return re.MatchString(jsString(actual))
	}
	return false
}

// validateAssertion checks an assertion against a collector's result fields.
func validateAssertion(path string, c *collectorDef, a Assertion, errs *errList) {
	if a.Field == "" {
		errs.add(path+".field", "is required")
	} else if !c.fields[a.Field] {
		errs.add(path+".field", "unknown result field %q of collector %q (known: %s)", a.Field, c.id, strings.Join(resultFieldNames(c), ", "))
	}
	if a.Operator == "" {
		errs.add(path+".operator", "is required")
	} else if !contains(operatorNames, a.Operator) {
		errs.add(path+".operator", "unknown operator %q (known: %s)", a.Operator, strings.Join(operatorNames, ", "))
	}
	if a.JSONPath != "" {
		if _, err := jsonpath.Parse(a.JSONPath); err != nil {
			errs.add(path+".jsonPath", "invalid JSONPath: %v", err)
		}
	}
	switch {
	case valuelessOperators[a.Operator]:
	case numericOperators[a.Operator]:
		if math.IsNaN(jsToNumber(a.Value)) {
			errs.add(path+".value", "must be a number for operator %q", a.Operator)
		}
	case a.Operator == "matches":
		if _, err := regexp.Compile(jsString(a.Value)); err != nil {
			errs.add(path+".value", "invalid regular expression: %v", err)
		}
	}
}

func resultFieldNames(c *collectorDef) []string {
	out := make([]string, len(c.result.Props))
	for i, p := range c.result.Props {
		out[i] = p.Name
	}
	return out
}

// --- JavaScript coercions -------------------------------------------------------------

// numberValue reports whether v is a JavaScript number (any Go numeric type) and its value.
func numberValue(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int8:
		return float64(n), true
	case int16:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint8:
		return float64(n), true
	case uint16:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		if err != nil {
			return math.NaN(), true
		}
		return f, true
	}
	return 0, false
}

// strictEqual mirrors JavaScript ===: primitives of the same type and value; containers never.
func strictEqual(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if an, ok := numberValue(a); ok {
		bn, ok := numberValue(b)
		return ok && an == bn
	}
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	}
	return false
}

// asList returns v as a list when it is an array/slice.
func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case []string:
		out := make([]any, len(x))
		for i := range x {
			out[i] = x[i]
		}
		return out, true
	case nil, string, []byte:
		return nil, false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = rv.Index(i).Interface()
		}
		return out, true
	}
	return nil, false
}

func isObject(v any) (int, bool) {
	if m, ok := v.(map[string]any); ok {
		return len(m), true
	}
	if v == nil {
		return 0, false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Map || rv.Kind() == reflect.Struct {
		if rv.Kind() == reflect.Map {
			return rv.Len(), true
		}
		return rv.NumField(), true
	}
	return 0, false
}

func jsEmpty(v any) bool {
	if l, ok := asList(v); ok {
		return len(l) == 0
	}
	if n, ok := isObject(v); ok {
		return n == 0
	}
	if !jsTruthy(v) {
		return true
	}
	return strings.TrimSpace(jsString(v)) == ""
}

func jsTruthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	}
	if n, ok := numberValue(v); ok {
		return n != 0 && !math.IsNaN(n)
	}
	return true
}

func jsLength(v any) (int, bool) {
	if l, ok := asList(v); ok {
		return len(l), true
	}
	if s, ok := v.(string); ok {
		return len(utf16.Encode([]rune(s))), true
	}
	return 0, false
}

func jsIncludes(actual, expected any) bool {
	want := jsString(expected)
	if l, ok := asList(actual); ok {
		for _, item := range l {
			if jsString(item) == want {
				return true
			}
		}
		return false
	}
	if s, ok := actual.(string); ok {
		return strings.Contains(s, want)
	}
	return false
}

// jsString mirrors String(v ?? ""): nil is "", arrays join their items with commas (nil items
// empty), objects are "[object Object]", numbers use JavaScript's shortest formatting.
func jsString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	case []byte:
		return string(x)
	case fmt.Stringer:
		if _, isNum := v.(json.Number); !isNum {
			return x.String()
		}
	}
	if n, ok := numberValue(v); ok {
		return jsNumberString(n)
	}
	if l, ok := asList(v); ok {
		parts := make([]string, len(l))
		for i, item := range l {
			parts[i] = jsString(item)
		}
		return strings.Join(parts, ",")
	}
	if _, ok := isObject(v); ok {
		return "[object Object]"
	}
	return fmt.Sprint(v)
}

// jsNumberString formats f like JavaScript's Number.prototype.toString().
func jsNumberString(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0"
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, expStr, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	exp, _ := strconv.Atoi(expStr)
	k, n := len(digits), exp+1
	switch {
	case k <= n && n <= 21:
		return sign + digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return sign + digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		return sign + "0." + strings.Repeat("0", -n) + digits
	}
	d := n - 1
	es := "+"
	if d < 0 {
		es, d = "-", -d
	}
	if k == 1 {
		return sign + digits + "e" + es + strconv.Itoa(d)
	}
	return sign + digits[:1] + "." + digits[1:] + "e" + es + strconv.Itoa(d)
}

var (
	jsDecimal = regexp.MustCompile(`^[+-]?(Infinity|[0-9]+\.?[0-9]*([eE][+-]?[0-9]+)?|\.[0-9]+([eE][+-]?[0-9]+)?)$`)
	jsRadix   = regexp.MustCompile(`^0([xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)$`)
)

// jsToNumber mirrors JavaScript Number(v); absent values are NaN.
func jsToNumber(v any) float64 {
	if n, ok := numberValue(v); ok {
		return n
	}
	switch x := v.(type) {
	case nil:
		return math.NaN()
	case bool:
		if x {
			return 1
		}
		return 0
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return 0
		}
		if jsRadix.MatchString(s) {
			base := map[byte]int{'x': 16, 'X': 16, 'o': 8, 'O': 8, 'b': 2, 'B': 2}[s[1]]
			u, err := strconv.ParseUint(s[2:], base, 64)
			if err != nil {
				return math.NaN()
			}
			return float64(u)
		}
		if !jsDecimal.MatchString(s) {
			return math.NaN()
		}
		switch strings.TrimLeft(s, "+") {
		case "Infinity":
			return math.Inf(1)
		case "-Infinity":
			return math.Inf(-1)
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && !math.IsInf(f, 0) {
			return math.NaN()
		}
		return f
	}
	if _, ok := asList(v); ok {
		return jsToNumber(jsString(v))
	}
	return math.NaN()
}

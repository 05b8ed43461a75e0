package checks

import (
	"encoding/json"
	"math"
	"testing"
)

func TestEvaluateOperator(t *testing.T) {
	obj := map[string]any{"a": 1.0}
	pointOne, pointTwo := 0.1, 0.2 // runtime floats: 0.1+0.2 != 0.3
	tests := []struct {
		op       string
		actual   any
		expected any
		want     bool
	}{
		// existence
		{"exists", 0.0, nil, true},
		{"exists", "", nil, true},
		{"exists", false, nil, true},
		{"exists", nil, nil, false},
		{"notExists", nil, nil, true},
		{"notExists", 0.0, nil, false},
		// strict booleans
		{"isTrue", true, nil, true},
		{"isTrue", "true", nil, false},
		{"isTrue", 1.0, nil, false},
		{"isFalse", false, nil, true},
		{"isFalse", 0.0, nil, false},
		{"isFalse", nil, nil, false},
		// isEmpty: arrays, objects, falsy, blank strings
		{"isEmpty", []any{}, nil, true},
		{"isEmpty", []any{1.0}, nil, false},
		{"isEmpty", []string{}, nil, true},
		{"isEmpty", map[string]any{}, nil, true},
		{"isEmpty", obj, nil, false},
		{"isEmpty", "", nil, true},
		{"isEmpty", "   \t", nil, true},
		{"isEmpty", " x ", nil, false},
		{"isEmpty", nil, nil, true},
		{"isEmpty", 0.0, nil, true}, // JavaScript: 0 is falsy
		{"isEmpty", false, nil, true},
		{"isEmpty", 3, nil, false},
		{"isNotEmpty", []any{"x"}, nil, true},
		{"isNotEmpty", "", nil, false},
		{"isNotEmpty", map[string]any{}, nil, false},
		// numeric comparisons with Number() coercion
		{"lessThan", 5, 10.0, true},
		{"lessThan", "5", "10", true}, // numeric, not lexicographic
		{"lessThan", " 5 ", 10.0, true},
		{"lessThan", "", 1.0, true}, // Number("") = 0
		{"lessThan", true, 2.0, true},
		{"lessThan", "0x10", 17.0, true},
		{"lessThan", "abc", 10.0, false}, // NaN
		{"lessThan", nil, 10.0, false},   // absent is NaN
		{"lessThan", 5.0, "x", false},
		{"lessThan", 10.0, 10.0, false},
		{"lessThanOrEqual", 10.0, "10", true},
		{"lessThanOrEqual", 10.5, 10.0, false},
		{"greaterThan", "1e3", 999.0, true},
		{"greaterThan", []any{7.0}, 6.0, true}, // Number([7]) = 7
		{"greaterThan", []any{1.0, 2.0}, 0.0, false},
		{"greaterThan", obj, 0.0, false},
		{"greaterThanOrEqual", json.Number("3"), 3, true},
		{"greaterThanOrEqual", "Infinity", 1e308, true},
		{"greaterThanOrEqual", 2.0, 3.0, false},
		// equals / notEquals
		{"equals", 200, 200.0, true},
		{"equals", 200.0, "200", true}, // string compare
		{"equals", "200", 200.0, true},
		{"equals", pointOne + pointTwo, 0.3, false},
		{"equals", true, "true", true},
		{"equals", nil, "", true}, // String(undefined ?? "") === ""
		{"equals", nil, nil, true},
		{"equals", []any{"a", "b"}, "a,b", true},
		{"equals", obj, "[object Object]", true},
		{"equals", 1e21, "1e+21", true},
		{"equals", math.NaN(), math.NaN(), false},
		{"equals", "OK", "ok", false},
		{"notEquals", "a", "b", true},
		{"notEquals", 5.0, 5, false},
		{"notEquals", 5.0, "5", false},
		{"notEquals", nil, "x", true},
		// strings
		{"contains", "hello world", "lo wo", true},
		{"contains", 12345, 234.0, true},
		{"contains", nil, "", true},
		{"contains", "abc", "x", false},
		{"startsWith", "SSH-2.0-OpenSSH", "SSH-", true},
		{"startsWith", "xSSH", "SSH", false},
		{"endsWith", "file.json", ".json", true},
		{"endsWith", 100, "0", true},
		{"matches", "v1.2.3", `^v\d+\.\d+\.\d+$`, true},
		{"matches", "v1.2", `^v\d+\.\d+\.\d+$`, false},
		{"matches", "abc", "(", false}, // invalid pattern fails
		{"matches", 404, "^4", true},
		// arrays
		{"includes", []any{"1.2.3.4", "5.6.7.8"}, "5.6.7.8", true},
		{"includes", []any{1.0, 2.0}, "2", true}, // string compare
		{"includes", []string{"a"}, "b", false},
		{"includes", "substring", "str", true},
		{"includes", nil, "x", false},
		{"notIncludes", []any{"a"}, "b", true},
		{"notIncludes", []any{"a"}, "a", false},
		{"lengthEquals", []any{1.0, 2.0}, 2.0, true},
		{"lengthEquals", []any{1.0, 2.0}, "2", true},
		{"lengthEquals", "héllo", 5.0, true},
		{"lengthEquals", "😀", 2.0, true}, // UTF-16 length, as in JavaScript
		{"lengthEquals", nil, 0.0, false},
		{"lengthGreaterThan", []any{1.0}, 0.0, true},
		{"lengthGreaterThan", []any{}, 0.0, false},
		{"lengthLessThan", []string{"a", "b"}, 3.0, true},
		{"lengthLessThan", []any{1.0}, "x", false},
		// unknown operator
		{"between", 1.0, 2.0, false},
		{"", 1.0, 1.0, false},
	}
	for _, tc := range tests {
		got := EvaluateOperator(tc.op, tc.actual, tc.expected)
		if got != tc.want {
			t.Errorf("EvaluateOperator(%q, %#v, %#v) = %v, want %v", tc.op, tc.actual, tc.expected, got, tc.want)
		}
	}
}

func TestOperatorsAllCovered(t *testing.T) {
	// Every advertised operator must behave differently on at least one input pair, i.e. it is
	// implemented (an unknown operator is always false).
	probes := []struct{ a, e any }{{1.0, 1.0}, {1.0, 2.0}, {2.0, 1.0}, {true, nil}, {false, nil}, {nil, nil},
		{[]any{"x"}, "x"}, {[]any{}, 0.0}, {[]any{"x"}, 0.0}, {[]any{}, 1.0}, {"abc", "a"}, {"abc", "c"}, {"abc", "z"}}
	for _, op := range Operators() {
		seen := map[bool]bool{}
		for _, p := range probes {
			seen[EvaluateOperator(op, p.a, p.e)] = true
		}
		if !seen[true] || !seen[false] {
			t.Errorf("operator %q is constant over all probes: %v", op, seen)
		}
	}
}

func TestJSNumberString(t *testing.T) {
	pointOne, pointTwo := 0.1, 0.2
	tests := map[float64]string{
		0: "0", 1: "1", -1: "-1", 0.1: "0.1", 1.5: "1.5", 100: "100", 1e21: "1e+21", 1e20: "100000000000000000000",
		1.5e-7: "1.5e-7", 0.000001: "0.000001", 123456789.125: "123456789.125", -2.5e-10: "-2.5e-10",
		math.Inf(1): "Infinity", math.Inf(-1): "-Infinity", pointOne + pointTwo: "0.30000000000000004",
	}
	for in, want := range tests {
		if got := jsNumberString(in); got != want {
			t.Errorf("jsNumberString(%v) = %q, want %q", in, got, want)
		}
	}
	if got := jsNumberString(math.NaN()); got != "NaN" {
		t.Errorf("NaN -> %q", got)
	}
}

func TestJSToNumber(t *testing.T) {
	tests := []struct {
		in   any
		want float64 // NaN means NaN
	}{
		{"42", 42}, {" 42 ", 42}, {"", 0}, {"  ", 0}, {"4.5e1", 45}, {".5", 0.5}, {"5.", 5}, {"+3", 3}, {"-3", -3},
		{"0x1F", 31}, {"0b101", 5}, {"0o17", 15}, {"-0x10", math.NaN()}, {"1_000", math.NaN()}, {"inf", math.NaN()},
		{"Infinity", math.Inf(1)}, {"-Infinity", math.Inf(-1)}, {"12px", math.NaN()}, {true, 1}, {false, 0},
		{nil, math.NaN()}, {[]any{}, 0}, {[]any{"7"}, 7}, {map[string]any{}, math.NaN()}, {int64(9), 9},
	}
	for _, tc := range tests {
		got := jsToNumber(tc.in)
		if math.IsNaN(tc.want) != math.IsNaN(got) || (!math.IsNaN(got) && got != tc.want) {
			t.Errorf("jsToNumber(%#v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestEvaluateAssertionsFirstFailureWins(t *testing.T) {
	values := map[string]any{"statusCode": 500, "responseTimeMs": 20, "ok": false}
	tests := []struct {
		name    string
		asserts []Assertion
		want    string
	}{
		{"none", nil, ""},
		{"all pass", []Assertion{{Field: "responseTimeMs", Operator: "lessThan", Value: 100.0}, {Field: "ok", Operator: "isFalse"}}, ""},
		{"first failing reported", []Assertion{
			{Field: "responseTimeMs", Operator: "lessThan", Value: 100.0},
			{Field: "statusCode", Operator: "equals", Value: 200.0},
			{Field: "ok", Operator: "isTrue"},
		}, "statusCode equals 200"},
		{"valueless operator has empty value text", []Assertion{{Field: "ok", Operator: "isTrue"}}, "ok isTrue "},
		{"missing field", []Assertion{{Field: "nope", Operator: "exists"}}, "nope exists "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := EvaluateAssertions(values, tc.asserts); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestJSONPathAssertions(t *testing.T) {
	body := `{"status":"ok","version":"1.4.2","checks":[
		{"name":"db","ok":true,"latency":12,"tags":["primary","eu"]},
		{"name":"cache","ok":false,"latency":40,"tags":[]},
		{"name":"queue","ok":true,"latency":7,"tags":["eu"],"shards":[[1,2],[3,[4,5]]]}
	],"meta":{"count":3,"nested":{"deep":{"value":null}}}}`
	values := map[string]any{"body": body, "parsed": map[string]any{"a": []any{map[string]any{"b": "c"}}}}
	tests := []struct {
		name string
		a    Assertion
		want bool
	}{
		{"root field", Assertion{Field: "body", JSONPath: "$.status", Operator: "equals", Value: "ok"}, true},
		{"root field mismatch", Assertion{Field: "body", JSONPath: "$.status", Operator: "equals", Value: "down"}, false},
		{"array index", Assertion{Field: "body", JSONPath: "$.checks[1].name", Operator: "equals", Value: "cache"}, true},
		{"negative index", Assertion{Field: "body", JSONPath: "$.checks[-1].latency", Operator: "lessThan", Value: 10.0}, true},
		{"nested array in array", Assertion{Field: "body", JSONPath: "$.checks[2].shards[1][1][0]", Operator: "equals", Value: 4.0}, true},
		{"wildcard collects array", Assertion{Field: "body", JSONPath: "$.checks[*].name", Operator: "includes", Value: "queue"}, true},
		{"wildcard length", Assertion{Field: "body", JSONPath: "$.checks[*]", Operator: "lengthEquals", Value: 3.0}, true},
		{"filter on nested arrays", Assertion{Field: "body", JSONPath: "$.checks[?@.ok == false].name", Operator: "equals", Value: "cache"}, true},
		{"filter none failing", Assertion{Field: "body", JSONPath: "$.checks[?@.latency > 100]", Operator: "isEmpty"}, true},
		{"descendant tags", Assertion{Field: "body", JSONPath: "$..tags[*]", Operator: "lengthEquals", Value: 3.0}, true},
		{"nested arrays of arrays flattened by descendant", Assertion{Field: "body", JSONPath: "$.checks[2].shards[*][*]", Operator: "lengthEquals", Value: 4.0}, true},
		{"missing singular path", Assertion{Field: "body", JSONPath: "$.nope.deeper", Operator: "notExists"}, true},
		{"null value not exists", Assertion{Field: "body", JSONPath: "$.meta.nested.deep.value", Operator: "exists"}, false},
		{"numeric coercion", Assertion{Field: "body", JSONPath: "$.meta.count", Operator: "greaterThanOrEqual", Value: "3"}, true},
		{"regex on version", Assertion{Field: "body", JSONPath: "$.version", Operator: "matches", Value: `^1\.4\.`}, true},
		{"object field (already parsed)", Assertion{Field: "parsed", JSONPath: "$.a[0].b", Operator: "equals", Value: "c"}, true},
		{"invalid path fails exists", Assertion{Field: "body", JSONPath: "$[", Operator: "exists"}, false},
		{"non-JSON body", Assertion{Field: "text", JSONPath: "$.x", Operator: "exists"}, false},
	}
	values["text"] = "<html>not json</html>"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := EvaluateOperator(tc.a.Operator, AssertionActual(values, tc.a), tc.a.Value)
			if got != tc.want {
				t.Fatalf("%+v: got %v (actual %#v), want %v", tc.a, got, AssertionActual(values, tc.a), tc.want)
			}
		})
	}
	// The failure text names the path.
	if got := EvaluateAssertions(values, []Assertion{{Field: "body", JSONPath: "$.status", Operator: "equals", Value: "down"}}); got != "body $.status equals down" {
		t.Fatalf("failure text %q", got)
	}
}

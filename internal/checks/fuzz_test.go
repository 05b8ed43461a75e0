package checks

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// decodeFuzzValue turns fuzz text into a JSON value when it parses, else keeps the string.
func decodeFuzzValue(s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return s
	}
	return v
}

// FuzzAssertionEvaluator: no operator, actual or expected value makes the evaluator panic.
func FuzzAssertionEvaluator(f *testing.F) {
	seeds := [][3]string{
		{"equals", `200`, `"200"`}, {"lessThan", `"0x1F"`, `32`}, {"matches", `"abc"`, `"(a|b"`},
		{"lengthEquals", `[[1,[2]],{}]`, `2`}, {"includes", `[null,1,"x"]`, `null`}, {"isEmpty", `{"a":{}}`, ``},
		{"greaterThan", `"1e400"`, `"-Infinity"`}, {"contains", `[1,[2,[3]]]`, `"2,3"`}, {"startsWith", `"😀"`, `"\ud83d"`},
		{"notEquals", `1e21`, `"1e+21"`}, {"unknown", `true`, `false`},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2], "")
	}
	f.Add("exists", `{"a":[1,2]}`, ``, "$.a[*]")
	f.Fuzz(func(t *testing.T, op, actual, expected, path string) {
		a, e := decodeFuzzValue(actual), decodeFuzzValue(expected)
		got := EvaluateOperator(op, a, e)
		if op == "exists" && got != (a != nil) {
			t.Fatalf("exists(%#v) = %v", a, got)
		}
		_ = EvaluateAssertions(map[string]any{"f": a, "s": actual}, []Assertion{
			{Field: "f", Operator: op, Value: e},
			{Field: "s", JSONPath: path, Operator: op, Value: e},
		})
		_ = jsString(a)
		_ = jsToNumber(a)
	})
}

// FuzzHTTPBodyJSONPath drives hostile bodies and JSONPath queries through the HTTP request
// collector's response handling (body cap, UTF-8 repair, status check) and assertion evaluation,
// then stores the result as JSON like the executor does. In-memory, so fuzzing does not exhaust
// ephemeral ports; TestFuzzSeedsOverHTTP sends the seeds through a real server.
func FuzzHTTPBodyJSONPath(f *testing.F) {
	for _, s := range httpFuzzSeeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, body, path string) {
		resp := &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body))}
		result, err := httpResult(resp, time.Now(), []statusSpec{{200, 299}}, 0)
		if err != nil {
			t.Fatalf("httpResult: %v", err)
		}
		_ = EvaluateAssertions(result, httpFuzzAssertions(path))
		delete(result, "body")
		delete(result, "headers")
		if _, err := json.Marshal(result); err != nil {
			t.Fatalf("result not storable: %v", err)
		}
	})
}

var httpFuzzSeeds = [][2]string{
	{`{"status":"ok","items":[{"id":1},{"id":[2,[3]]}]}`, "$.items[*].id"},
	{`[[[[[[[[[[]]]]]]]]]]`, "$..*"},
	{`{"a":}`, "$.a"},
	{`not json at all`, "$"},
	{`{"x":1e999}`, "$.x"},
	{`{"a":{"b":{"c":[1,2,3]}}}`, "$.a.b.c[?@ > 1]"},
	{`{"k":"v"}`, "$[?length(@) > 0]"},
	{`{"k":"v"}`, "$['k'"},
	{"\xff\xfe{}", "$..k"},
}

func httpFuzzAssertions(path string) []Assertion {
	return []Assertion{
		{Field: "body", JSONPath: path, Operator: "exists"},
		{Field: "body", JSONPath: path, Operator: "lengthGreaterThan", Value: 0.0},
		{Field: "body", JSONPath: path, Operator: "equals", Value: "x"},
		{Field: "headers", JSONPath: path, Operator: "notExists"},
	}
}

func TestFuzzSeedsOverHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, r.Body)
	}))
	t.Cleanup(srv.Close)
	r := NewRegistry()
	for _, s := range httpFuzzSeeds {
		res := r.Execute(context.Background(), Request{StrategyID: "http", Config: json.RawMessage(`{"timeout":5000}`), Collectors: []CollectorEntry{{
			ID: "r", CollectorID: "request", Config: mustJSON(t, map[string]any{"url": srv.URL, "method": "POST", "body": s[0]}),
			Assertions: httpFuzzAssertions(s[1]),
		}}})
		c := collector(t, res, "r")
		if c["statusCode"] != 200 || c["_collectorError"] != nil {
			t.Fatalf("seed %q: %v", s[0], c)
		}
	}
}

package health

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func intp(n int) *int { return &n }

func fp(f float64) *float64 { return &f }

func ts(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("bad time %q: %v", s, err)
	}
	return v
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(b)
}

// jsonEqual compares two values by their normalised JSON encoding (decoded
// and re-encoded, so struct field order does not matter).
func jsonEqual(t *testing.T, got, want any) {
	t.Helper()
	norm := func(v any) string {
		var x any
		if err := json.Unmarshal([]byte(mustJSON(t, v)), &x); err != nil {
			t.Fatalf("unmarshal: %v", err)
		}
		return mustJSON(t, x)
	}
	g, w := norm(got), norm(want)
	if g != w {
		t.Fatalf("got  %s\nwant %s", g, w)
	}
}

func deepEqual(t *testing.T, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %#v\nwant %#v", got, want)
	}
}

func ptrEq(a, b *int) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func ptrStr(p *int) string {
	if p == nil {
		return "nil"
	}
	return mustJSONNoT(*p)
}

func mustJSONNoT(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

package automation

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// t0 is the tests' "now".
var t0 = time.Date(2026, 5, 29, 12, 0, 0, 0, time.UTC)

func newCompiler(t testing.TB) *Compiler {
	t.Helper()
	c, err := NewCompiler()
	if err != nil {
		t.Fatalf("NewCompiler: %v", err)
	}
	return c
}

// payload decodes a JSON object the way the outbox reader does (numbers float64).
func payload(t testing.TB, raw string) map[string]any {
	t.Helper()
	p, err := DecodePayload([]byte(raw))
	if err != nil {
		t.Fatalf("payload %s: %v", raw, err)
	}
	return p
}

// validationErrors returns the *ValidationError of err (failing the test when err is another
// error or nil).
func validationErrors(t testing.TB, err error) []FieldError {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T), want a *ValidationError", err, err)
	}
	return ve.Errors
}

// fieldsOf lists the fields of a validation error, comma-separated.
func fieldsOf(t testing.TB, err error) string {
	t.Helper()
	var names []string
	for _, fe := range validationErrors(t, err) {
		names = append(names, fe.Field)
	}
	return strings.Join(names, ",")
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// degradedPayload is the AU-3 payload {sys-1, healthy→degraded, 1/2}.
const degradedPayload = `{"systemId": "sys-1", "previousStatus": "healthy", "newStatus": "degraded",
	"healthyChecks": 1, "totalChecks": 2, "timestamp": "2026-05-29T11:00:00Z"}`

// checkFailedPayload is the AU-2 payload.
const checkFailedPayload = `{"systemId": "sys-1", "configurationId": "cfg-1", "status": "unhealthy",
	"timestamp": "2026-05-29T12:00:00Z"}`

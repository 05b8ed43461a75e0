package automation

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/checkflow/checkflow/internal/health"
)

// TestCompileErrors: syntax errors, unknown payload fields and type errors are compile errors
// on the expression's field with the 1-based line and column (issue 13, acceptance 3).
func TestCompileErrors(t *testing.T) {
	c := newCompiler(t)
	for _, tc := range []struct {
		name       string
		event      string
		src        string
		partition  bool
		line, col  int
		detail     string
		wantField  string
		wantDetail string // second check, optional
	}{
		{name: "syntax", event: EventSystemHealthChanged, src: `trigger.payload.newStatus ==`, line: 1, col: 29, detail: "Syntax error"},
		{name: "unterminated string", event: EventSystemHealthChanged, src: `trigger.payload.newStatus == "healthy`, line: 1, col: 30, detail: "Syntax error"},
		{name: "unknown payload field", event: EventSystemHealthChanged, src: `trigger.payload.severity == "high"`, line: 1, col: 16,
			detail: "undefined field 'severity'", wantDetail: "the payload of healthcheck.system_health_changed has healthyChecks, newStatus"},
		{name: "unknown trigger field", event: EventCheckFailed, src: `trigger.name == "x"`, line: 1, col: 8, detail: "undefined field 'name'"},
		{name: "unknown variable", event: EventCheckFailed, src: `payload.status == "unhealthy"`, line: 1, col: 1, detail: "undeclared reference to 'payload'"},
		// system_healthy has no newStatus in the reference's schema.
		{name: "field of another event", event: EventSystemHealthy, src: `trigger.payload.newStatus == "healthy"`, line: 1, col: 16, detail: "undefined field 'newStatus'"},
		{name: "second line", event: EventCheckFailed, src: "trigger.payload.status == 'unhealthy' &&\n   trigger.payload.latency > 100", line: 2, col: 19, detail: "undefined field 'latency'"},
		{name: "type error", event: EventSystemDegraded, src: `trigger.payload.healthyChecks == "two"`, line: 1, col: 31, detail: "no matching overload"},
		{name: "not a bool", event: EventSystemDegraded, src: `trigger.payload.healthyChecks + 1`, line: 1, col: 31, detail: "must evaluate to a bool, not int"},
		{name: "string is not a bool", event: EventCheckFailed, src: `trigger.payload.systemId`, line: 1, col: 16, detail: "must evaluate to a bool, not string"},
		{name: "partitionBy unknown field", event: EventCheckFailed, src: `trigger.payload.severity`, partition: true, line: 1, col: 16,
			detail: "undefined field 'severity'", wantField: FieldPartitionBy},
		{name: "partitionBy syntax", event: EventCheckFailed, src: `trigger.payload.`, partition: true, line: 1, col: 17, detail: "Syntax error", wantField: FieldPartitionBy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			compile := c.Filter
			if tc.partition {
				compile = c.PartitionBy
			}
			_, err := compile(tc.event, tc.src)
			errs := validationErrors(t, err)
			e := errs[0]
			field := FieldFilter
			if tc.wantField != "" {
				field = tc.wantField
			}
			if e.Field != field || e.Line != tc.line || e.Column != tc.col || !strings.Contains(e.Detail, tc.detail) ||
				!strings.Contains(e.Detail, tc.wantDetail) {
				t.Fatalf("error %+v, want %s at %d:%d containing %q", e, field, tc.line, tc.col, tc.detail)
			}
			if !strings.HasPrefix(e.Message(), fmt.Sprintf("%d:%d: ", tc.line, tc.col)) {
				t.Fatalf("message %q has no position", e.Message())
			}
		})
	}
	if _, err := c.Filter("healthcheck.nope", "true"); fieldsOf(t, err) != "trigger.event" {
		t.Fatalf("unknown event: %v", err)
	}
	if _, err := c.Filter(EventCheckFailed, "  "); fieldsOf(t, err) != FieldFilter {
		t.Fatalf("empty filter: %v", err)
	}
}

// TestFilterEvaluation: compiled filters evaluate over payloads in every number representation;
// runtime errors and non-bool results are *EvalError.
func TestFilterEvaluation(t *testing.T) {
	c := newCompiler(t)
	failed := payload(t, `{"systemId": "sys-1", "configurationId": "cfg-1", "status": "unhealthy", "latencyMs": 1500,
		"result": {"request": {"statusCode": 503, "body": "down"}, "tags": ["a", "b"]}, "timestamp": "2026-05-29T12:00:00Z"}`)
	catastrophic := payload(t, checkFailedPayload)
	changed := payload(t, degradedPayload)
	withNumbers := map[string]any{"systemId": "sys-1", "previousStatus": "healthy", "newStatus": "unhealthy",
		"healthyChecks": json.Number("0"), "totalChecks": 2, "timestamp": "2026-05-29T11:00:00Z"}
	big := map[string]any{"systemId": "s", "configurationId": "c", "status": "degraded", "timestamp": "2026-05-29T12:00:00Z",
		"result": map[string]any{"items": make([]any, 1000)}}
	for _, tc := range []struct {
		name    string
		event   string
		src     string
		payload map[string]any
		want    bool
		errHas  string // "" = no error
	}{
		{"flapping recipe, degraded", EventSystemHealthChanged, health.FlappingFilter, changed, true, ""},
		{"flapping recipe, healthy", EventSystemHealthChanged, health.FlappingFilter,
			payload(t, `{"systemId": "sys-1", "previousStatus": "degraded", "newStatus": "healthy", "healthyChecks": 2, "totalChecks": 2, "timestamp": "2026-05-29T11:00:00Z"}`), false, ""},
		{"event variable", EventCheckFailed, `trigger.event == "healthcheck.check_failed"`, catastrophic, true, ""},
		{"ints from float64", EventSystemHealthChanged, `trigger.payload.healthyChecks * 2 == trigger.payload.totalChecks`, changed, true, ""},
		{"ints from json.Number and int", EventSystemHealthChanged, `trigger.payload.healthyChecks == 0 && trigger.payload.totalChecks == 2`, withNumbers, true, ""},
		{"cross-type comparison", EventCheckFailed, `trigger.payload.latencyMs > 1499.5`, failed, true, ""},
		{"optional present", EventCheckFailed, `has(trigger.payload.latencyMs) && trigger.payload.latencyMs >= 1000`, failed, true, ""},
		{"optional absent, guarded", EventCheckFailed, `has(trigger.payload.latencyMs) && trigger.payload.latencyMs >= 1000`, catastrophic, false, ""},
		{"optional absent, unguarded", EventCheckFailed, `trigger.payload.latencyMs >= 1000`, catastrophic, false, "no such field 'latencyMs'"},
		{"result map", EventCheckFailed, `trigger.payload.result.request.statusCode >= 500 && trigger.payload.result.request.body.contains("down")`, failed, true, ""},
		{"result list", EventCheckFailed, `"b" in trigger.payload.result.tags && size(trigger.payload.result.tags) == 2`, failed, true, ""},
		{"result key missing", EventCheckFailed, `trigger.payload.result.dns.rcode == 0`, failed, false, "no such key"},
		{"dyn not a bool", EventCheckFailed, `trigger.payload.result.request.body`, failed, false, "not a bool"},
		{"timestamp conversion", EventCheckFailed, `timestamp(trigger.payload.timestamp) > timestamp("2026-05-29T11:59:59Z")`, failed, true, ""},
		{"regex", EventCheckFailed, `trigger.payload.configurationId.matches("^cfg-[0-9]+$")`, failed, true, ""},
		{"division by zero", EventSystemHealthChanged, `trigger.payload.totalChecks / (trigger.payload.healthyChecks - 1) > 0`, changed, false, "division by zero"},
		{"cost limit", EventCheckFailed, `trigger.payload.result.items.all(x, trigger.payload.result.items.all(y, true))`, big, false, "cost limit exceeded"},
		{"wrong type at run time", EventCheckFailed, `trigger.payload.status == "unhealthy"`,
			map[string]any{"systemId": "s", "configurationId": "c", "status": 3, "timestamp": "x"}, false, "field 'status' must be healthy, degraded or unhealthy"},
		// The checker accepts a payload literal; building one fails when evaluated.
		{"constructing a payload", EventCheckFailed, `checkflow.CheckFailedPayload{systemId: "x"}.systemId == "x"`, failed, false, "cannot be constructed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expr, err := c.Filter(tc.event, tc.src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := expr.Matches(tc.payload)
			if tc.errHas != "" {
				var ee *EvalError
				if !errors.As(err, &ee) || !strings.Contains(err.Error(), tc.errHas) || ee.Field != FieldFilter || ee.Source != expr.Source() {
					t.Fatalf("error %v, want an *EvalError containing %q", err, tc.errHas)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("= %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestFilterIsReusableAndConcurrent: one compiled filter evaluates many payloads, from several
// goroutines, without changing them.
func TestFilterIsReusableAndConcurrent(t *testing.T) {
	c := newCompiler(t)
	expr, err := c.Filter(EventCheckFailed, `trigger.payload.systemId.endsWith("-1")`)
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := payload(t, checkFailedPayload), payload(t, strings.Replace(checkFailedPayload, "sys-1", "sys-2", 1))
	before := mustJSON(t, p1)
	done := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 200; i++ {
				a, err1 := expr.Matches(p1)
				b, err2 := expr.Matches(p2)
				if err1 != nil || err2 != nil || !a || b {
					done <- fmt.Errorf("iteration %d: %v %v %v %v", i, a, err1, b, err2)
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if mustJSON(t, p1) != before {
		t.Fatal("evaluation modified the payload")
	}
}

// TestPartitionByValues: partitionBy's value becomes the partition key (WG-5): strings
// trimmed, numbers as JavaScript prints them; null, empty or failing → the system's key.
func TestPartitionByValues(t *testing.T) {
	c := newCompiler(t)
	p := payload(t, `{"systemId": "sys-1", "configurationId": "cfg-1", "status": "unhealthy", "latencyMs": 3,
		"result": {"region": "  eu  ", "empty": "", "nothing": null, "ratio": 0.5}, "timestamp": "2026-05-29T12:00:00Z"}`)
	for _, tc := range []struct {
		src, want, fallback string
	}{
		{`trigger.payload.configurationId`, "cfg-1", ""},
		{`trigger.payload.result.region`, "eu", ""},
		{`trigger.payload.latencyMs`, "3", ""},
		{`trigger.payload.result.ratio`, "0.5", ""},
		{`trigger.payload.systemId + "/" + trigger.payload.configurationId`, "sys-1/cfg-1", ""},
		{`trigger.payload.result.empty`, "sys-1", "empty value"},
		{`trigger.payload.result.nothing`, "sys-1", "empty value"},
		{`trigger.payload.result.missing`, "sys-1", "no such key"},
		{`[trigger.payload.configurationId, 2]`, "cfg-1,2", ""},
		{`[]`, "sys-1", "empty value"},
		// A value longer than MaxPartitionKeyLength becomes its hash (sha256 of "cfg-1" + 600 × "x").
		{`trigger.payload.configurationId + "` + strings.Repeat("x", 600) + `"`,
			"sha256:a2fa6c3531f08bc0c2ee4c944659849d2c6cf1f250e794fc3364a7bd54ac6bec", ""},
	} {
		spec := Spec{Name: "n", Trigger: Trigger{Event: EventCheckFailed, Window: &health.WindowConfig{Count: 2, Minutes: 60, PartitionBy: tc.src}},
			Actions: []Action{{Type: ActionRunCheck, Config: json.RawMessage(`{"systemId":"s","configurationId":"c"}`)}}}
		a, err := c.Compile(spec)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		m, err := a.Match(Event{Type: EventCheckFailed, Payload: p})
		if err != nil || !m.Matched || m.PartitionKey != tc.want || !strings.Contains(m.PartitionFallback, tc.fallback) ||
			(tc.fallback == "") != (m.PartitionFallback == "") {
			t.Fatalf("%s: %+v %v; want key %q fallback %q", tc.src, m, err, tc.want, tc.fallback)
		}
	}
}

// BenchmarkFilterMatches measures one evaluation of a compiled filter (compile once, evaluate
// many).
func BenchmarkFilterMatches(b *testing.B) {
	c := newCompiler(b)
	expr, err := c.Filter(EventSystemHealthChanged, health.FlappingFilter+` && trigger.payload.healthyChecks < trigger.payload.totalChecks`)
	if err != nil {
		b.Fatal(err)
	}
	p := payload(b, degradedPayload)
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := expr.Matches(p); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkNewCompiler measures building the CEL environments of all events (once per process).
func BenchmarkNewCompiler(b *testing.B) {
	for b.Loop() {
		if _, err := NewCompiler(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompileFilter measures compiling and type-checking one filter (once per save).
func BenchmarkCompileFilter(b *testing.B) {
	c := newCompiler(b)
	for b.Loop() {
		if _, err := c.Filter(EventSystemHealthChanged, health.FlappingFilter); err != nil {
			b.Fatal(err)
		}
	}
}

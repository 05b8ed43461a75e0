package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/safetext"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/workflows"
)

// Sealed values in a stored configuration are opened for the probe only: the target receives
// the plaintext, the stored (and Temporal-carried) assignment keeps the sealed value, and a
// worker without the key fails the run with a message that says so.
func TestProbeOpensSealedSecrets(t *testing.T) {
	const token = "tok-3f9a1c"
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Token") != token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer target.Close()
	box := testutil.SecretBox(t)
	sealed, err := box.Seal(token)
	if err != nil {
		t.Fatal(err)
	}
	collectors, _ := json.Marshal([]map[string]any{{"id": "req", "collectorId": "request", "config": map[string]any{
		"url": target.URL, "headers": []map[string]any{{"name": "X-Token", "value": sealed}}}}})
	req := workflows.ProbeRequest{SystemID: "sys", Probes: []workflows.ProbeItem{{ResultID: "sys:p1", Assignment: workflows.Assignment{
		ConfigurationID: "00000000-0000-0000-0000-000000000001", Name: "api", StrategyID: "http",
		Config: json.RawMessage(`{"timeout":2000}`), Collectors: collectors, IntervalSeconds: 60}}}}

	cases := []struct {
		name    string
		box     bool
		status  health.Status
		message string
	}{
		{"with the key", true, health.Healthy, "Completed"},
		{"without the key", false, health.Unhealthy, "no secret key is configured"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &Prober{Checks: checks.NewRegistry()}
			if tc.box {
				p.Box = box
			}
			res, err := p.Probe(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 1 || res[0].Status != tc.status || !strings.Contains(res[0].Message, tc.message) {
				t.Fatalf("result = %+v", res)
			}
			if strings.Contains(string(res[0].Result), token) {
				t.Errorf("the run result holds the secret: %s", res[0].Result)
			}
		})
	}
	if !strings.Contains(string(req.Probes[0].Assignment.Collectors), sealed) {
		t.Error("the request's assignment was changed in place")
	}
}

// nulBanner is what a hostile (or broken) TCP service sends (issue 17 #1).
const nulBanner = "\x00\x00BAN\x00NER\n"

// probeItem is a probe request for one check of strategy with the given config and collectors.
func probeItem(t *testing.T, strategy string, config map[string]any, collectors []map[string]any) workflows.ProbeRequest {
	t.Helper()
	cfg, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	cols, err := json.Marshal(collectors)
	if err != nil {
		t.Fatal(err)
	}
	return workflows.ProbeRequest{SystemID: "sys", SystemName: "sys", Probes: []workflows.ProbeItem{{ResultID: "sys:p1",
		Assignment: workflows.Assignment{ConfigurationID: "00000000-0000-0000-0000-000000000001", Name: "hostile",
			StrategyID: strategy, Config: cfg, Collectors: cols, IntervalSeconds: 60}}}}
}

// requireSafeResult fails unless the result can be stored as it is: the document is valid JSON
// and valid UTF-8, and neither it (raw or escaped, at any depth, keys included) nor the message
// holds a NUL.
func requireSafeResult(t *testing.T, r workflows.CheckResult) {
	t.Helper()
	if !json.Valid(r.Result) || !utf8.Valid(r.Result) {
		t.Fatalf("result is not valid UTF-8 JSON: %q", r.Result)
	}
	if bytes.IndexByte(r.Result, 0) >= 0 || bytes.Contains(r.Result, []byte(`\u0000`)) {
		t.Fatalf("result holds a NUL: %q", r.Result)
	}
	var doc any
	if err := json.Unmarshal(r.Result, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch x := v.(type) {
		case string:
			if strings.ContainsRune(x, 0) {
				t.Errorf("%s holds a NUL: %q", at, x)
			}
		case []any:
			for i, e := range x {
				walk(e, fmt.Sprintf("%s[%d]", at, i))
			}
		case map[string]any:
			for k, e := range x {
				walk(k, at+" key")
				walk(e, at+"."+k)
			}
		}
	}
	walk(doc, "result")
	if !utf8.ValidString(r.Message) || strings.ContainsRune(r.Message, 0) {
		t.Errorf("message is not safe: %q", r.Message)
	}
}

// collectorOf returns metadata.collectors[id] of a result document.
func collectorOf(t *testing.T, result json.RawMessage, id string) map[string]any {
	t.Helper()
	var doc struct {
		Metadata struct {
			Collectors map[string]map[string]any `json:"collectors"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(result, &doc); err != nil {
		t.Fatal(err)
	}
	c, ok := doc.Metadata.Collectors[id]
	if !ok {
		t.Fatalf("no collector %q in %s", id, result)
	}
	return c
}

// Bytes a monitored target sends — NUL and invalid UTF-8 in a TCP banner or on a script's
// stderr — leave the prober as safe text, NUL shown as "␀", so the run can be stored
// (issue 17 #1: PostgreSQL refused \u0000 and the run was lost).
func TestProbeHostileOutputIsSafe(t *testing.T) {
	t.Parallel()
	port := testutil.BannerServer(t, nulBanner)
	tests := []struct {
		name   string
		req    workflows.ProbeRequest
		status health.Status
		field  string // collector "c"'s field holding the target's bytes
		want   string
	}{
		{name: "TCP banner with NUL",
			req: probeItem(t, "tcp", map[string]any{"host": "127.0.0.1", "port": port, "timeout": 5000},
				[]map[string]any{{"id": "c", "collectorId": "banner", "config": map[string]any{"timeout": 2000}}}),
			status: health.Healthy, field: "banner", want: "␀␀BAN␀NER"},
		{name: "TCP banner with NUL failing its assertion",
			req: probeItem(t, "tcp", map[string]any{"host": "127.0.0.1", "port": port, "timeout": 5000},
				[]map[string]any{{"id": "c", "collectorId": "banner", "config": map[string]any{"timeout": 2000},
					"assertions": []map[string]any{{"field": "banner", "operator": "equals", "value": "SSH-2.0"}}}}),
			status: health.Unhealthy, field: "banner", want: "␀␀BAN␀NER"},
		{name: "script writing zeros to stderr",
			req: probeItem(t, "script", map[string]any{"timeout": 10000},
				[]map[string]any{{"id": "c", "collectorId": "execute", "config": map[string]any{"script": "head -c 100 /dev/zero >&2; exit 1", "timeout": 5000}}}),
			status: health.Unhealthy, field: "stderr", want: strings.Repeat("␀", 100)},
		{name: "script writing NUL and invalid UTF-8 to stdout",
			req: probeItem(t, "script", map[string]any{"timeout": 10000},
				[]map[string]any{{"id": "c", "collectorId": "execute", "config": map[string]any{"script": `printf 'a\000b\377c'`, "timeout": 5000}}}),
			status: health.Healthy, field: "stdout", want: "a␀b\uFFFDc"},
	}
	p := &Prober{Checks: checks.NewRegistry()}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := p.Probe(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 1 {
				t.Fatalf("%d results", len(res))
			}
			r := res[0]
			requireSafeResult(t, r)
			if r.Status != tc.status {
				t.Errorf("status %s (%s), want %s", r.Status, r.Message, tc.status)
			}
			if got := collectorOf(t, r.Result, "c")[tc.field]; got != tc.want {
				t.Errorf("%s = %q, want %q", tc.field, got, tc.want)
			}
		})
	}
}

// A probe whose output is far beyond the cap (ten scripts each at their output cap on stdout
// and stderr: 1.3 MB of output, ~7.5 MB as escaped JSON before the fix) yields a result of at
// most safetext.MaxResultBytes for Temporal's history, keeping its shape: status, message and
// every collector with its small fields; the long outputs are cut and marked.
func TestProbeCapsLargeResults(t *testing.T) {
	t.Parallel()
	const collectors = 10
	script := fmt.Sprintf("head -c %d /dev/zero; head -c %d /dev/zero >&2", checks.MaxScriptOutputBytes+1, checks.MaxScriptOutputBytes+1)
	var cols []map[string]any
	for i := range collectors {
		cols = append(cols, map[string]any{"id": fmt.Sprintf("s%d", i), "collectorId": "execute",
			"config": map[string]any{"script": script, "timeout": 20000}})
	}
	res, err := (&Prober{Checks: checks.NewRegistry()}).Probe(context.Background(), probeItem(t, "script", map[string]any{"timeout": 30000}, cols))
	if err != nil {
		t.Fatal(err)
	}
	r := res[0]
	requireSafeResult(t, r)
	if len(r.Result) > safetext.MaxResultBytes {
		t.Fatalf("result is %d bytes, cap %d", len(r.Result), safetext.MaxResultBytes)
	}
	if r.Status != health.Healthy {
		t.Errorf("status %s (%s), want healthy", r.Status, r.Message)
	}
	for i := range collectors {
		c := collectorOf(t, r.Result, fmt.Sprintf("s%d", i))
		if c["exitCode"] != 0.0 || c["stdoutTruncated"] != true || c["stderrTruncated"] != true {
			t.Errorf("collector s%d lost its fields: exitCode=%v stdoutTruncated=%v stderrTruncated=%v", i, c["exitCode"], c["stdoutTruncated"], c["stderrTruncated"])
		}
		for _, stream := range []string{"stdout", "stderr"} {
			if s, _ := c[stream].(string); !strings.HasPrefix(s, "␀") || !strings.Contains(s, "…[truncated ") {
				t.Errorf("collector s%d %s = %.30q…, want cut and marked", i, stream, s)
			}
		}
	}
}

// A probe session decodes each check's collectors once: only collectors without sealed values
// are kept decoded (secrets are opened for each run only), and a run with them decoded before is
// the run without.
func TestPreparedCollectors(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Probe") != "yes" {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer target.Close()
	box := testutil.SecretBox(t)
	sealed, err := box.Seal("yes")
	if err != nil {
		t.Fatal(err)
	}
	cols := func(value string) json.RawMessage {
		b, _ := json.Marshal([]map[string]any{{"id": "req", "collectorId": "request", "config": map[string]any{
			"url": target.URL, "headers": []map[string]any{{"name": "X-Probe", "value": value}}},
			"assertions": []map[string]any{{"field": "statusCode", "operator": "equals", "value": 200}}}})
		return b
	}
	tests := []struct {
		name        string
		collectors  json.RawMessage
		prepared    bool
		wantEntries int
		wantStatus  health.Status
	}{
		{"plain collectors are decoded once", cols("yes"), true, 1, health.Healthy},
		{"sealed values are opened for each run", cols(sealed), false, 0, health.Healthy},
		{"no collectors", nil, true, 0, health.Healthy},
		{"null collectors", json.RawMessage(`null`), true, 0, health.Healthy},
		{"a wrong header fails the run", cols("no"), true, 1, health.Unhealthy},
	}
	p := &Prober{Checks: checks.NewRegistry(), Box: box}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := workflows.Assignment{ConfigurationID: "cfg-1", Name: "c", StrategyID: "http", Config: json.RawMessage(`{"timeout":2000}`),
				Collectors: tc.collectors, IntervalSeconds: 10}
			pc := prepareCollectors(a)
			if (pc != nil) != tc.prepared {
				t.Fatalf("prepared %v, want %v", pc != nil, tc.prepared)
			}
			if pc != nil && len(pc.entries) != tc.wantEntries {
				t.Fatalf("%d entries, want %d", len(pc.entries), tc.wantEntries)
			}
			req := workflows.ProbeRequest{SystemID: "sys-1", SystemName: "s", Probes: []workflows.ProbeItem{{ResultID: "sys-1:r1", Assignment: a}}}
			var prepared map[string]*preparedCollectors
			if pc != nil {
				prepared = map[string]*preparedCollectors{"cfg-1": pc}
			}
			// Twice with the same prepared collectors, once without: the same outcome.
			for i, m := range []map[string]*preparedCollectors{prepared, prepared, nil} {
				res, err := p.probe(context.Background(), req, m)
				if err != nil {
					t.Fatal(err)
				}
				if res[0].Status != tc.wantStatus {
					t.Fatalf("run %d: %s (%s), want %s", i, res[0].Status, res[0].Message, tc.wantStatus)
				}
				if len(tc.collectors) > 0 && string(tc.collectors) != "null" && !bytes.Contains(res[0].Result, []byte(`"req"`)) {
					t.Fatalf("run %d: no collector result in %s", i, res[0].Result)
				}
			}
		})
	}
	if prepareCollectors(workflows.Assignment{Collectors: json.RawMessage(`{"not":"a list"}`)}) != nil {
		t.Fatal("collectors that do not decode were prepared (each run must report them)")
	}
}

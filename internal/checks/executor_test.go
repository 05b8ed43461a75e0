package checks

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
)

// fakeRegistry is a registry with an extra "fake" strategy whose collectors are test functions.
func fakeRegistry(t *testing.T, connectErr error, collect collectFunc) *Registry {
	t.Helper()
	r := NewRegistry()
	r.add(&strategyDef{
		id: "fake", plugin: "test", displayName: "Fake", description: "test",
		connect: func(context.Context, map[string]any) (client, error) {
			if connectErr != nil {
				return nil, connectErr
			}
			return noClient{}, nil
		},
		collectors: []*collectorDef{{
			id: "probe", allowMultiple: true,
			config:     objectSchema{Props: []prop{{Name: "name", Type: "string"}, secretEnvProp()}},
			result:     objectSchema{Props: []prop{{Name: "value", Type: "any"}, {Name: "secretEcho", Type: "string"}, {Name: "big", Type: "string", Ephemeral: true}}},
			aggregates: []aggSpec{{Name: "count", Type: "counter", Source: "value"}},
			collect:    collect,
		}},
	})
	return r
}

func TestExecuteSuccessShape(t *testing.T) {
	r := fakeRegistry(t, nil, func(_ context.Context, _ client, cfg map[string]any, _ collectInput) (map[string]any, error) {
		return map[string]any{"value": 42, "big": "ephemeral payload"}, nil
	})
	res := r.Execute(context.Background(), Request{StrategyID: "fake", Config: json.RawMessage(`{"timeout":1000}`),
		Collectors: []CollectorEntry{entry(t, "e1", "probe", nil, Assertion{Field: "big", Operator: "contains", Value: "payload"}, Assertion{Field: "value", Operator: "equals", Value: 42.0})}})
	requireHealthy(t, res)
	if res.Metadata["connected"] != true {
		t.Fatalf("connected = %v", res.Metadata["connected"])
	}
	if _, ok := res.Metadata["connectionTimeMs"].(int); !ok {
		t.Fatalf("connectionTimeMs = %#v", res.Metadata["connectionTimeMs"])
	}
	c := collector(t, res, "e1")
	if c["_collectorId"] != "probe" || c["value"] != 42 {
		t.Fatalf("collector entry %v", c)
	}
	if _, ok := c["big"]; ok {
		t.Fatal("ephemeral field stored (assertions must run on it, storage must not keep it)")
	}
	if _, ok := c["_assertionFailed"]; ok {
		t.Fatal("_assertionFailed set on success")
	}
	// The stored result round-trips through JSON (it goes into a jsonb column).
	b, err := json.Marshal(res)
	if err != nil || !strings.Contains(string(b), `"status":"healthy"`) || !strings.Contains(string(b), `"latencyMs":`) {
		t.Fatalf("json %s %v", b, err)
	}
}

func TestExecuteFailuresAndMessages(t *testing.T) {
	tests := []struct {
		name       string
		connectErr error
		collect    collectFunc
		asserts    []Assertion
		wantMsg    string
		check      func(t *testing.T, res Result)
	}{
		{
			name: "collector error (QE-9)",
			collect: func(context.Context, client, map[string]any, collectInput) (map[string]any, error) {
				return nil, errors.New("boom")
			},
			wantMsg: "Check failed: boom",
			check: func(t *testing.T, res Result) {
				if c := collector(t, res, "e1"); c["_collectorError"] != "boom" {
					t.Fatalf("entry %v", c)
				}
			},
		},
		{
			name: "assertion failure (QE-10)",
			collect: func(context.Context, client, map[string]any, collectInput) (map[string]any, error) {
				return map[string]any{"value": 500}, nil
			},
			asserts: []Assertion{{Field: "value", Operator: "equals", Value: 200.0}},
			wantMsg: "Check failed: Assertion failed: value equals 200",
			check: func(t *testing.T, res Result) {
				if c := collector(t, res, "e1"); c["_assertionFailed"] != "value equals 200" || c["value"] != 500 {
					t.Fatalf("entry %v", c)
				}
			},
		},
		{
			name:       "connect failure (QE-11)",
			connectErr: errors.New("ECONNREFUSED"),
			collect: func(context.Context, client, map[string]any, collectInput) (map[string]any, error) {
				t.Error("collector ran after connect failed")
				return nil, nil
			},
			wantMsg: "ECONNREFUSED",
			check: func(t *testing.T, res Result) {
				if res.Message != "ECONNREFUSED" || res.Metadata["connected"] != false || res.Metadata["error"] != "ECONNREFUSED" || res.LatencyMs == nil {
					t.Fatalf("result %+v", res)
				}
			},
		},
		{
			name: "collector panic is contained",
			collect: func(context.Context, client, map[string]any, collectInput) (map[string]any, error) {
				var m map[string]int
				m["x"]++ // nil map write panics
				return nil, nil
			},
			wantMsg: "Check failed: collector panicked",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := fakeRegistry(t, tc.connectErr, tc.collect)
			res := r.Execute(context.Background(), Request{StrategyID: "fake", Config: json.RawMessage(`{}`),
				Collectors: []CollectorEntry{entry(t, "e1", "probe", nil, tc.asserts...)}})
			requireUnhealthy(t, res, tc.wantMsg)
			if tc.check != nil {
				tc.check(t, res)
			}
		})
	}
}

func TestExecuteFirstErrorFollowsEntryOrder(t *testing.T) {
	// Collectors run in parallel; the run message names the first failing entry in declared
	// order, whatever the completion order.
	var wg sync.WaitGroup
	wg.Add(3)
	r := fakeRegistry(t, nil, func(_ context.Context, _ client, cfg map[string]any, _ collectInput) (map[string]any, error) {
		wg.Done()
		wg.Wait() // all three run concurrently, or this deadlocks and the test times out
		switch cfg["name"] {
		case "ok":
			return map[string]any{"value": 1}, nil
		case "second":
			return nil, errors.New("second failed")
		default:
			return nil, errors.New("third failed")
		}
	})
	res := r.Execute(context.Background(), Request{StrategyID: "fake", Config: json.RawMessage(`{"timeout":5000}`), Collectors: []CollectorEntry{
		entry(t, "a", "probe", map[string]any{"name": "ok"}),
		entry(t, "b", "probe", map[string]any{"name": "second"}),
		entry(t, "c", "probe", map[string]any{"name": "third"}),
	}})
	requireUnhealthy(t, res, "Check failed: second failed")
	if collector(t, res, "c")["_collectorError"] != "third failed" || collector(t, res, "a")["value"] != 1 {
		t.Fatalf("collectors %v", res.Metadata["collectors"])
	}
}

func TestExecuteSkipsUnregisteredCollector(t *testing.T) {
	r := fakeRegistry(t, nil, func(context.Context, client, map[string]any, collectInput) (map[string]any, error) {
		return map[string]any{"value": 1}, nil
	})
	res := r.Execute(context.Background(), Request{StrategyID: "fake", Config: json.RawMessage(`{}`), Collectors: []CollectorEntry{
		entry(t, "a", "probe", nil), entry(t, "b", "healthcheck-ssh.command", nil), entry(t, "c", "request", map[string]any{"url": "http://x"}),
	}})
	requireHealthy(t, res)
	cs := res.Metadata["collectors"].(map[string]any)
	if len(cs) != 1 || cs["a"] == nil {
		t.Fatalf("collectors %v", cs)
	}
}

func TestExecuteSecretsAreInjectedAndMasked(t *testing.T) {
	const secret = "s3cr3t-value-123"
	var gotEnv map[string]string
	r := fakeRegistry(t, nil, func(_ context.Context, _ client, _ map[string]any, in collectInput) (map[string]any, error) {
		gotEnv = in.SecretEnv
		token := in.SecretEnv["TOKEN"]
		return map[string]any{"secretEcho": "token=" + token, "value": map[string]any{token: []any{token}}}, errors.New("failed with " + token)
	})
	cfg := map[string]any{"secretEnv": map[string]any{"TOKEN": "Bearer ${{ secrets.api }}"}}
	res := r.Execute(context.Background(), Request{StrategyID: "fake", Config: json.RawMessage(`{}`),
		Collectors: []CollectorEntry{entry(t, "e1", "probe", cfg, Assertion{Field: "secretEcho", Operator: "equals", Value: "x"})},
		Secrets:    staticResolver{"api": secret}})
	if gotEnv["TOKEN"] != "Bearer "+secret {
		t.Fatalf("collector env %v", gotEnv)
	}
	b, _ := json.Marshal(res)
	if strings.Contains(string(b), secret) {
		t.Fatalf("secret leaked into result: %s", b)
	}
	c := collector(t, res, "e1")
	if c["secretEcho"] != "token=Bearer ****" || c["_collectorError"] != "failed with Bearer ****" || res.Message != "Check failed: failed with Bearer ****" {
		t.Fatalf("masking wrong: %v / %q", c, res.Message)
	}
	if v := c["value"].(map[string]any); v["Bearer ****"] == nil {
		t.Fatalf("object keys not masked: %v", v)
	}
}

func TestExecuteSecretResolution(t *testing.T) {
	tests := []struct {
		name     string
		resolver SecretResolver
		wantEnv  bool
		wantMsg  string
	}{
		{"missing secret fails the collector (QE-13)", staticResolver{}, false, "Check failed: Secret not found: api"},
		{"resolver error fails the collector", failingResolver{}, false, "Check failed: resolving secrets: vault down"},
		{"no resolver: fails naming the secrets it cannot resolve", nil, false, "Check failed: Required secret not available: api (this worker has no secret store: start probe-only workers with --secret-store-url)"},
		{"resolved", staticResolver{"api": "abcd1234"}, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ran bool
			var env map[string]string
			r := fakeRegistry(t, nil, func(_ context.Context, _ client, _ map[string]any, in collectInput) (map[string]any, error) {
				ran, env = true, in.SecretEnv
				return map[string]any{"value": 1}, nil
			})
			res := r.Execute(context.Background(), Request{StrategyID: "fake", Config: json.RawMessage(`{}`),
				Collectors: []CollectorEntry{entry(t, "e1", "probe", map[string]any{"secretEnv": map[string]any{"TOKEN": "${{ secrets.api }}"}})},
				Secrets:    tc.resolver})
			if tc.wantMsg != "" {
				requireUnhealthy(t, res, tc.wantMsg)
				if ran {
					t.Fatal("collector ran although its secrets could not be resolved")
				}
				return
			}
			requireHealthy(t, res)
			if (env != nil) != tc.wantEnv {
				t.Fatalf("env %v, want env=%v", env, tc.wantEnv)
			}
		})
	}
}

type failingResolver struct{}

func (failingResolver) Resolve(context.Context, []string) (map[string]string, error) {
	return nil, errors.New("vault down")
}

func TestExecuteHardTimeoutCancelsProbe(t *testing.T) {
	cancelled := make(chan struct{})
	r := fakeRegistry(t, nil, func(ctx context.Context, _ client, _ map[string]any, _ collectInput) (map[string]any, error) {
		<-ctx.Done() // blocks until the executor's hard timeout cancels the probe
		close(cancelled)
		return nil, ctx.Err()
	})
	res := r.Execute(context.Background(), Request{StrategyID: "fake", Config: json.RawMessage(`{"timeout":100}`),
		Collectors: []CollectorEntry{entry(t, "e1", "probe", nil)}})
	requireTimeout(t, res, 100) // QE-12
	if res.Metadata["connected"] != true {
		t.Fatalf("connected %v", res.Metadata)
	}
	select {
	case <-cancelled:
	default:
		t.Fatal("Execute returned before the probe observed cancellation")
	}
}

func TestExecuteParentCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := fakeRegistry(t, nil, func(c context.Context, _ client, _ map[string]any, _ collectInput) (map[string]any, error) {
		cancel()
		<-c.Done()
		return nil, c.Err()
	})
	res := r.Execute(ctx, Request{StrategyID: "fake", Config: json.RawMessage(`{}`), Collectors: []CollectorEntry{entry(t, "e1", "probe", nil)}})
	requireUnhealthy(t, res, "Execution cancelled")
}

func TestRawTimeoutFallback(t *testing.T) {
	tests := map[string]int{`{}`: 60000, `{"timeout":250}`: 250, `{"timeout":"x"}`: 60000, `null`: 60000, ``: 60000}
	for in, want := range tests {
		if got := rawTimeoutMs(json.RawMessage(in)); got != want {
			t.Errorf("rawTimeoutMs(%q) = %d, want %d", in, got, want)
		}
	}
}

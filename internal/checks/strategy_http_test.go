package checks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

func TestHTTPHealthy(t *testing.T) {
	var got struct {
		method, body, auth, host, ua string
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.method, got.body, got.auth, got.host, got.ua = r.Method, string(b), r.Header.Get("Authorization"), r.Host, r.UserAgent()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Version", "1.2.3")
		_, _ = io.WriteString(w, `{"status":"ok","services":[{"name":"db","up":true},{"name":"cache","up":true,"nodes":[[1,2],[3]]}]}`)
	}))
	t.Cleanup(srv.Close)
	res := run(t, "http", map[string]any{"timeout": 5000}, entry(t, "req", "request", map[string]any{
		"url": srv.URL + "/health", "method": "POST", "body": `{"ping":1}`,
		"headers": []any{map[string]any{"name": "Authorization", "value": "Bearer t"}, map[string]any{"name": "Host", "value": "svc.local"}},
	},
		Assertion{Field: "statusCode", Operator: "equals", Value: 200.0},
		Assertion{Field: "body", JSONPath: "$.status", Operator: "equals", Value: "ok"},
		Assertion{Field: "body", JSONPath: "$.services[*].name", Operator: "includes", Value: "cache"},
		Assertion{Field: "body", JSONPath: "$.services[?@.up == false]", Operator: "isEmpty"},
		Assertion{Field: "body", JSONPath: "$.services[1].nodes[0][1]", Operator: "equals", Value: 2.0},
		Assertion{Field: "headers", JSONPath: "$['x-version']", Operator: "startsWith", Value: "1."},
		Assertion{Field: "responseTimeMs", Operator: "lessThan", Value: 5000.0},
	))
	requireHealthy(t, res)
	if got.method != "POST" || got.body != `{"ping":1}` || got.auth != "Bearer t" || got.host != "svc.local" || !strings.HasPrefix(got.ua, "checkflow") {
		t.Fatalf("request seen by server: %+v", got)
	}
	c := collector(t, res, "req")
	if c["statusCode"] != 200 || c["statusText"] != "OK" || c["success"] != true || c["bodyLength"] != 99 || c["contentType"] != "application/json" {
		t.Fatalf("collector %v", c)
	}
	if _, ok := c["responseTimeMs"].(int); !ok {
		t.Fatalf("responseTimeMs %#v", c["responseTimeMs"])
	}
	for _, k := range []string{"body", "headers"} {
		if _, ok := c[k]; ok {
			t.Fatalf("ephemeral %q stored", k)
		}
	}
}

func TestHTTPFailing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/down":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"status":"down"}`)
		case "/created":
			w.WriteHeader(http.StatusCreated)
		case "/teapot":
			w.WriteHeader(http.StatusTeapot)
		default:
			_, _ = io.WriteString(w, `{"status":"degraded","items":[{"id":1},{"id":2}]}`)
		}
	}))
	t.Cleanup(srv.Close)
	tests := []struct {
		name    string
		cfg     map[string]any
		asserts []Assertion
		wantMsg string
	}{
		{"5xx fails the collector", map[string]any{"url": srv.URL + "/down"}, nil, "Check failed: HTTP 500 Internal Server Error (expected 2xx)"},
		{"status outside expected set", map[string]any{"url": srv.URL + "/created", "expectedStatus": []any{200, 204}}, nil, "HTTP 201 Created (expected 200, 204)"},
		{"assertion on status (QE-10)", map[string]any{"url": srv.URL + "/created"}, []Assertion{{Field: "statusCode", Operator: "equals", Value: 200.0}}, "Check failed: Assertion failed: statusCode equals 200"},
		{"JSONPath assertion", map[string]any{"url": srv.URL + "/"}, []Assertion{{Field: "body", JSONPath: "$.status", Operator: "equals", Value: "ok"}}, "Assertion failed: body $.status equals ok"},
		{"JSONPath on nested array", map[string]any{"url": srv.URL + "/"}, []Assertion{{Field: "body", JSONPath: "$.items[*].id", Operator: "includes", Value: 3.0}}, "Assertion failed: body $.items[*].id includes 3"},
		{"connection refused", map[string]any{"url": fmt.Sprintf("http://127.0.0.1:%d/", closedPort(t))}, nil, "connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, "http", map[string]any{}, entry(t, "req", "request", tc.cfg, tc.asserts...))
			requireUnhealthy(t, res, tc.wantMsg)
		})
	}
	// An accepted non-2xx status is healthy.
	res := run(t, "http", map[string]any{}, entry(t, "req", "request", map[string]any{"url": srv.URL + "/teapot", "expectedStatus": []any{"4xx"}}))
	requireHealthy(t, res)
}

func TestHTTPTimeout(t *testing.T) {
	done := blockUntilEnd(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-body" { // slow loris: headers, a byte, then nothing
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "{")
			w.(http.Flusher).Flush()
		}
		select {
		case <-done:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Run("hard timeout", func(t *testing.T) {
		res := run(t, "http", map[string]any{"timeout": 200}, entry(t, "req", "request", map[string]any{"url": srv.URL}))
		requireTimeout(t, res, 200)
	})
	t.Run("request timeout", func(t *testing.T) {
		res := run(t, "http", map[string]any{"timeout": 10000}, entry(t, "req", "request", map[string]any{"url": srv.URL, "timeout": 150}))
		requireUnhealthy(t, res, "Check failed: request timed out after 150ms")
	})
	t.Run("slow body", func(t *testing.T) {
		res := run(t, "http", map[string]any{"timeout": 10000}, entry(t, "req", "request", map[string]any{"url": srv.URL + "/slow-body", "timeout": 150}))
		requireUnhealthy(t, res, "reading response body timed out after 150ms")
		if c := collector(t, res, "req"); c["statusCode"] != 200 || c["success"] != false {
			t.Fatalf("collector %v", c)
		}
	})
}

func TestHTTPRedirectPolicy(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/final", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "done") })
	mux.HandleFunc("/hop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/final", http.StatusFound) })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	tests := []struct {
		name      string
		cfg       map[string]any
		healthy   bool
		wantMsg   string
		redirects int
	}{
		{"followed by default", map[string]any{"url": srv.URL + "/hop"}, true, "", 1},
		{"not followed fails as 302", map[string]any{"url": srv.URL + "/hop", "followRedirects": false}, false, "HTTP 302 Found", 0},
		{"not followed, 3xx expected", map[string]any{"url": srv.URL + "/hop", "followRedirects": false, "expectedStatus": []any{"300-399"}}, true, "", 0},
		{"loop stops at maxRedirects", map[string]any{"url": srv.URL + "/loop", "maxRedirects": 3}, false, "stopped after 3 redirects", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, "http", map[string]any{}, entry(t, "req", "request", tc.cfg))
			if !tc.healthy {
				requireUnhealthy(t, res, tc.wantMsg)
				return
			}
			requireHealthy(t, res)
			if c := collector(t, res, "req"); c["redirects"] != tc.redirects {
				t.Fatalf("redirects %v", c["redirects"])
			}
		})
	}
}

func TestHTTPTLSVerifyToggle(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the rejected handshake is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	res := run(t, "http", map[string]any{}, entry(t, "req", "request", map[string]any{"url": srv.URL}))
	requireUnhealthy(t, res, "certificate")
	res = run(t, "http", map[string]any{}, entry(t, "req", "request", map[string]any{"url": srv.URL, "rejectUnauthorized": false}))
	requireHealthy(t, res)
}

func TestHTTPHugeBodyIsCapped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for i := 0; i < 64; i++ { // 4 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	res := run(t, "http", map[string]any{}, entry(t, "req", "request", map[string]any{"url": srv.URL},
		Assertion{Field: "body", JSONPath: "$.x", Operator: "notExists"}))
	requireHealthy(t, res)
	c := collector(t, res, "req")
	if c["bodyLength"] != MaxHTTPBodyBytes || c["bodyTruncated"] != true {
		t.Fatalf("collector %v", c)
	}
	if b, _ := json.Marshal(res); len(b) > 4096 {
		t.Fatalf("stored result is %d bytes; body must not be stored", len(b))
	}
}

// Each probe opens its own connection by default; with reuseConnection, probes of the same target
// reuse one (keep-alive, like the reference's fetch). connectionReused says which.
func TestHTTPConnectionReuse(t *testing.T) {
	for _, tc := range []struct {
		name      string
		reuse     any // nil: the default
		wantConns int64
		wantReuse []bool
	}{
		{"default: a connection per probe", nil, 3, []bool{false, false, false}},
		{"reuseConnection", true, 1, []bool{false, true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var conns atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			t.Cleanup(srv.Close)
			r := NewRegistry()
			cfg := map[string]any{"url": srv.URL}
			if tc.reuse != nil {
				cfg["reuseConnection"] = tc.reuse
			}
			var got []bool
			for range 3 {
				res := r.Execute(context.Background(), Request{StrategyID: "http", Config: json.RawMessage(`{}`),
					Collectors: []CollectorEntry{entry(t, "r", "request", cfg)}})
				requireHealthy(t, res)
				got = append(got, collector(t, res, "r")["connectionReused"] == true)
			}
			if n := conns.Load(); n != tc.wantConns || !slices.Equal(got, tc.wantReuse) {
				t.Fatalf("%d connections, reused %v; want %d, %v", n, got, tc.wantConns, tc.wantReuse)
			}
		})
	}
}

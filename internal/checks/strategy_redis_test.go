package checks

import (
	"strconv"
	"testing"
)

func TestRedisHealthy(t *testing.T) {
	host, port := redisAddr(t)
	cfg := map[string]any{"host": host, "port": port}
	res := run(t, "healthcheck-redis.redis", cfg,
		entry(t, "ping", "command", nil, Assertion{Field: "response", Operator: "equals", Value: "PONG"}),
		entry(t, "info", "command", map[string]any{"command": "INFO", "args": []any{"server"}}, Assertion{Field: "response", Operator: "contains", Value: "redis_version:"}),
		entry(t, "get", "command", map[string]any{"command": "GET", "args": []any{"checkflow:test:no-such-key"}}, Assertion{Field: "response", Operator: "notExists"}))
	requireHealthy(t, res)
	if c := collector(t, res, "ping"); c["response"] != "PONG" || c["success"] != true {
		t.Fatalf("collector %v", c)
	}
	if c := collector(t, res, "get"); c["response"] != nil || c["success"] != true {
		t.Fatalf("collector %v", c)
	}
}

func TestRedisFailing(t *testing.T) {
	host, port := redisAddr(t)
	tests := []struct {
		name    string
		cfg     map[string]any
		coll    map[string]any
		asserts []Assertion
		wantMsg string
	}{
		{"unknown ACL user", map[string]any{"host": host, "port": port, "username": "checkflow-nobody", "password": "not-the-password"}, nil, nil, "WRONGPASS"},
		{"nothing listening", map[string]any{"host": host, "port": closedPort(t)}, nil, nil, "connection refused"},
		{"no such database", map[string]any{"host": host, "port": port, "database": 999}, nil, nil, "DB index is out of range"},
		{"assertion", map[string]any{"host": host, "port": port}, map[string]any{"command": "PING", "args": []any{"hello"}}, []Assertion{{Field: "response", Operator: "equals", Value: "PONG"}}, "Assertion failed: response equals PONG"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, "redis", tc.cfg, entry(t, "c", "command", tc.coll, tc.asserts...))
			requireUnhealthy(t, res, tc.wantMsg)
		})
	}
}

func TestRedisTimeout(t *testing.T) {
	host, port := silentListener(t) // accepts, never replies to PING
	res := run(t, "redis", map[string]any{"host": host, "port": port, "timeout": 200}, entry(t, "c", "command", nil))
	requireTimeout(t, res, 200)
}

func TestRedisHelperStartsPrivateServer(t *testing.T) {
	host, port := startRedisServer(t) // the fallback used when nothing listens on 6379
	res := run(t, "redis", map[string]any{"host": host, "port": port}, entry(t, "c", "command", map[string]any{"command": "INFO", "args": []any{"server"}},
		Assertion{Field: "response", Operator: "contains", Value: "tcp_port:" + strconv.Itoa(port)}))
	requireHealthy(t, res)
}

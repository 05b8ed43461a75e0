package checks

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/net/icmp"
)

func TestPingHealthy(t *testing.T) {
	res := run(t, "ping", map[string]any{}, entry(t, "p", "ping", map[string]any{"host": "127.0.0.1", "count": 3, "interval": 10},
		Assertion{Field: "packetLoss", Operator: "equals", Value: 0.0}))
	requireHealthy(t, res)
	c := collector(t, res, "p")
	if c["packetsSent"] != 3 || c["packetsReceived"] != 3 || c["address"] != "127.0.0.1" {
		t.Fatalf("collector %v", c)
	}
	if s := c["socket"]; s != "unprivileged" && s != "raw" {
		t.Fatalf("socket %v", s)
	}
	minL, avgL, maxL := c["minLatency"].(float64), c["avgLatency"].(float64), c["maxLatency"].(float64)
	if !(minL >= 0 && minL <= avgL && avgL <= maxL) {
		t.Fatalf("latencies %v %v %v", minL, avgL, maxL)
	}
}

func TestPingPrefersUnprivilegedThenRaw(t *testing.T) {
	var tried []string
	listen := func(network, addr string) (*icmp.PacketConn, error) {
		tried = append(tried, network)
		if network == "udp4" {
			return nil, syscall.EACCES // as with net.ipv4.ping_group_range = "1 0"
		}
		return icmp.ListenPacket(network, addr)
	}
	res, err := runPing(context.Background(), map[string]any{"host": "127.0.0.1", "count": int64(1), "timeout": int64(2000), "interval": int64(10)}, listen)
	if err != nil {
		t.Skipf("raw ICMP not available here (needs root or CAP_NET_RAW): %v", err)
	}
	if strings.Join(tried, ",") != "udp4,ip4:icmp" || res["socket"] != "raw" || res["packetsReceived"] != 1 {
		t.Fatalf("tried %v, result %v", tried, res)
	}
}

func TestPingNoICMPIsAClearError(t *testing.T) {
	listen := func(network, _ string) (*icmp.PacketConn, error) {
		return nil, &netOpError{network, syscall.EPERM}
	}
	_, err := runPing(context.Background(), map[string]any{"host": "127.0.0.1", "count": int64(1)}, listen)
	if err == nil || !strings.Contains(err.Error(), "ping_group_range") || !strings.Contains(err.Error(), "CAP_NET_RAW") || !errors.Is(err, syscall.EPERM) {
		t.Fatalf("error %v", err)
	}
}

type netOpError struct {
	network string
	err     error
}

func (e *netOpError) Error() string { return "listen " + e.network + ": " + e.err.Error() }
func (e *netOpError) Unwrap() error { return e.err }

func TestPingFailing(t *testing.T) {
	tests := []struct {
		name    string
		cfg     map[string]any
		asserts []Assertion
		wantMsg string
	}{
		{"latency assertion", map[string]any{"host": "127.0.0.1", "count": 1}, []Assertion{{Field: "maxLatency", Operator: "lessThan", Value: 0.0}}, "Assertion failed: maxLatency lessThan 0"},
		{"packet loss assertion", map[string]any{"host": "127.0.0.1", "count": 2, "interval": 10}, []Assertion{{Field: "packetsReceived", Operator: "lessThan", Value: 2.0}}, "Assertion failed: packetsReceived lessThan 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, "ping", map[string]any{}, entry(t, "p", "ping", tc.cfg, tc.asserts...))
			requireUnhealthy(t, res, tc.wantMsg)
		})
	}
}

func TestPingTimeout(t *testing.T) {
	// Ten echo requests one second apart cannot finish within a 200ms hard timeout.
	res := run(t, "ping", map[string]any{"timeout": 200}, entry(t, "p", "ping", map[string]any{"host": "127.0.0.1", "count": 10, "interval": 1000}))
	requireTimeout(t, res, 200)
}

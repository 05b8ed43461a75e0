package checks

import (
	"net"
	"testing"
)

// bannerServer accepts connections and writes banner (if any) to each, keeping them open until
// the test ends.
func bannerServer(t *testing.T, banner string) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := blockUntilEnd(t)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if banner != "" {
				_, _ = c.Write([]byte(banner))
			}
			go func() { <-done; _ = c.Close() }()
		}
	}()
	go func() { <-done; _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func TestTCPHealthy(t *testing.T) {
	port := bannerServer(t, "SSH-2.0-OpenSSH_9.6\r\n")
	res := run(t, "healthcheck-tcp.tcp", map[string]any{"host": "127.0.0.1", "port": port},
		entry(t, "b", "healthcheck-tcp.banner", map[string]any{"timeout": 2000}, Assertion{Field: "banner", Operator: "startsWith", Value: "SSH-2.0"}))
	requireHealthy(t, res)
	c := collector(t, res, "b")
	if c["banner"] != "SSH-2.0-OpenSSH_9.6" || c["hasBanner"] != true || c["_collectorId"] != "banner" {
		t.Fatalf("collector %v", c)
	}
	// Connect-only check (no collectors) is healthy too.
	requireHealthy(t, run(t, "tcp", map[string]any{"host": "127.0.0.1", "port": port}))
}

func TestTCPNoBannerIsNotAnError(t *testing.T) {
	port := bannerServer(t, "")
	res := run(t, "tcp", map[string]any{"host": "127.0.0.1", "port": port, "timeout": 5000}, entry(t, "b", "banner", map[string]any{"timeout": 100}))
	requireHealthy(t, res)
	if c := collector(t, res, "b"); c["hasBanner"] != false || c["banner"] != "" {
		t.Fatalf("collector %v", c)
	}
}

func TestTCPFailing(t *testing.T) {
	res := run(t, "tcp", map[string]any{"host": "127.0.0.1", "port": closedPort(t)}, entry(t, "b", "banner", nil))
	requireUnhealthy(t, res, "connection refused")
	if res.Metadata["connected"] != false {
		t.Fatalf("metadata %v", res.Metadata)
	}
	port := bannerServer(t, "220 mail ESMTP\r\n")
	res = run(t, "tcp", map[string]any{"host": "127.0.0.1", "port": port}, entry(t, "b", "banner", nil, Assertion{Field: "banner", Operator: "startsWith", Value: "SSH-"}))
	requireUnhealthy(t, res, "Assertion failed: banner startsWith SSH-")
}

func TestTCPTimeout(t *testing.T) {
	host, port := silentListener(t)
	res := run(t, "tcp", map[string]any{"host": host, "port": port, "timeout": 200}, entry(t, "b", "banner", map[string]any{"timeout": 10000}))
	requireTimeout(t, res, 200)
	if res.Metadata["connected"] != true {
		t.Fatalf("connected should be true (timeout after connect): %v", res.Metadata)
	}
}

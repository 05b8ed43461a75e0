package checks

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// WithDialer: the http strategy opens its connections with the registry's dialer.
func TestHTTPWithDialer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(srv.Close)
	var dialed atomic.Value
	reg := NewRegistry(WithDialer(func(ctx context.Context, network, address string) (net.Conn, error) {
		dialed.Store(address)
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}))
	req := Request{StrategyID: "http", Config: mustJSON(t, map[string]any{"timeout": 5000}),
		Collectors: []CollectorEntry{entry(t, "req", "request", map[string]any{"url": "http://target.invalid:8080/health", "method": "GET"})}}
	requireHealthy(t, reg.Execute(context.Background(), req))
	if got, _ := dialed.Load().(string); got != "target.invalid:8080" {
		t.Fatalf("dialer saw %q, want target.invalid:8080", got)
	}
	// Without it, the name does not resolve.
	requireUnhealthy(t, NewRegistry().Execute(context.Background(), req), "")
}

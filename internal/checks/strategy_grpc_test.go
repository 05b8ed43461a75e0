package checks

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// grpcServer serves grpc.health.v1 with the given implementation on a random 127.0.0.1 port.
func grpcServer(t *testing.T, impl healthpb.HealthServer) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, impl)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return l.Addr().(*net.TCPAddr).Port
}

// blockingHealth never answers Check until the test ends.
type blockingHealth struct {
	healthpb.UnimplementedHealthServer
	done <-chan struct{}
}

func (b blockingHealth) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	select {
	case <-b.done:
	case <-ctx.Done():
	}
	return nil, ctx.Err()
}

func TestGRPCHealthy(t *testing.T) {
	hs := health.NewServer()
	hs.SetServingStatus("orders", healthpb.HealthCheckResponse_SERVING)
	port := grpcServer(t, hs)
	res := run(t, "healthcheck-grpc.grpc", map[string]any{"host": "127.0.0.1", "port": port},
		entry(t, "server", "health", nil, Assertion{Field: "status", Operator: "equals", Value: "SERVING"}),
		entry(t, "orders", "health", map[string]any{"service": "orders"}, Assertion{Field: "serving", Operator: "isTrue"}))
	requireHealthy(t, res)
	if c := collector(t, res, "orders"); c["status"] != "SERVING" || c["serving"] != true {
		t.Fatalf("collector %v", c)
	}
}

func TestGRPCFailing(t *testing.T) {
	hs := health.NewServer()
	hs.SetServingStatus("billing", healthpb.HealthCheckResponse_NOT_SERVING)
	port := grpcServer(t, hs)
	tests := []struct {
		name    string
		cfg     map[string]any
		coll    map[string]any
		wantMsg string
		conn    bool
	}{
		{"NOT_SERVING fails the collector", map[string]any{"host": "127.0.0.1", "port": port, "service": "billing"}, nil, `Check failed: service "billing" is NOT_SERVING`, true},
		{"unknown service", map[string]any{"host": "127.0.0.1", "port": port}, map[string]any{"service": "nope"}, `health check of service "nope" failed: NotFound`, true},
		{"nothing listening", map[string]any{"host": "127.0.0.1", "port": closedPort(t)}, nil, "connection refused", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, "grpc", tc.cfg, entry(t, "h", "health", tc.coll))
			requireUnhealthy(t, res, tc.wantMsg)
			if res.Metadata["connected"] != tc.conn {
				t.Fatalf("connected %v", res.Metadata)
			}
		})
	}
}

func TestGRPCTimeout(t *testing.T) {
	port := grpcServer(t, blockingHealth{done: blockUntilEnd(t)})
	res := run(t, "grpc", map[string]any{"host": "127.0.0.1", "port": port, "timeout": 200}, entry(t, "h", "health", nil))
	requireTimeout(t, res, 200)
}

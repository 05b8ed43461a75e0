package checks

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func grpcStrategy() *strategyDef {
	return &strategyDef{
		id: "grpc", plugin: "healthcheck-grpc", displayName: "gRPC",
		description: "Calls the standard grpc.health.v1 Health/Check service.",
		config: objectSchema{Props: []prop{
			hostProp(),
			portProp(0),
			{Name: "service", Type: "string", Title: "Service", Description: `Service name to check; "" is the whole server.`, Default: ""},
			{Name: "useTls", Type: "boolean", Title: "Use TLS", Default: false},
			{Name: "rejectUnauthorized", Type: "boolean", Title: "Verify TLS certificate", Default: true},
		}},
		connect: connectGRPC,
		collectors: []*collectorDef{{
			id: "health", displayName: "Health Check", allowMultiple: true,
			description: "Calls Health/Check; any status other than SERVING fails the collector.",
			config: objectSchema{Props: []prop{
				{Name: "service", Type: "string", Title: "Service", Description: "Overrides the strategy's service when set."},
			}},
			result: objectSchema{Props: []prop{
				{Name: "status", Type: "string", Enum: []string{"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"}},
				{Name: "serving", Type: "boolean"},
				{Name: "responseTimeMs", Type: "integer"},
			}},
			aggregates: []aggSpec{
				{Name: "avgResponseTimeMs", Type: "average", Source: "responseTimeMs"},
				{Name: "servingRate", Type: "rate", Source: "serving"},
			},
			collect: collectGRPCHealth,
		}},
	}
}

type grpcConfig struct {
	Host               string `json:"host"`
	Port               int    `json:"port"`
	Service            string `json:"service"`
	UseTLS             bool   `json:"useTls"`
	RejectUnauthorized bool   `json:"rejectUnauthorized"`
}

type grpcClient struct {
	conn    *grpc.ClientConn
	service string
}

func (c *grpcClient) Close() error { return c.conn.Close() }

func connectGRPC(ctx context.Context, raw map[string]any) (client, error) {
	cfg, err := decodeInto[grpcConfig](raw)
	if err != nil {
		return nil, err
	}
	addr := hostPortConfig{Host: cfg.Host, Port: cfg.Port}.addr()
	creds := insecure.NewCredentials()
	if cfg.UseTLS {
		creds = credentials.NewTLS(&tls.Config{ServerName: cfg.Host, InsecureSkipVerify: !cfg.RejectUnauthorized}) //nolint:gosec // user toggle
	}
	var (
		mu      sync.Mutex
		dialErr error
	)
	dial := func(ctx context.Context, a string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", a)
		mu.Lock()
		dialErr = err
		mu.Unlock()
		return c, err
	}
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(dial),
		grpc.WithUserAgent("checkflow-healthcheck/1"),
	)
	if err != nil {
		return nil, fmt.Errorf("gRPC client for %s: %w", addr, err)
	}
	conn.Connect()
	for {
		st := conn.GetState()
		if st == connectivity.Ready {
			break
		}
		if st == connectivity.TransientFailure || st == connectivity.Shutdown {
			_ = conn.Close()
			mu.Lock()
			de := dialErr
			mu.Unlock()
			if de != nil {
				return nil, fmt.Errorf("gRPC connect to %s failed: %w", addr, de)
			}
			return nil, fmt.Errorf("gRPC connect to %s failed (%s)", addr, st)
		}
		if !conn.WaitForStateChange(ctx, st) {
			_ = conn.Close()
			return nil, fmt.Errorf("gRPC connect to %s: %w", addr, context.Cause(ctx))
		}
	}
	return &grpcClient{conn: conn, service: cfg.Service}, nil
}

func collectGRPCHealth(ctx context.Context, cl client, raw map[string]any, _ collectInput) (map[string]any, error) {
	c := cl.(*grpcClient)
	service := c.service
	if s, ok := raw["service"].(string); ok && s != "" {
		service = s
	}
	start := time.Now()
	resp, err := healthpb.NewHealthClient(c.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	elapsed := int(time.Since(start).Milliseconds())
	label := "server"
	if service != "" {
		label = fmt.Sprintf("service %q", service)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("health check cancelled: %w", context.Cause(ctx))
		}
		st := status.Convert(err)
		return map[string]any{"serving": false, "responseTimeMs": elapsed},
			fmt.Errorf("health check of %s failed: %s: %s", label, st.Code(), st.Message())
	}
	s := resp.GetStatus().String()
	res := map[string]any{
		"status":         s,
		"serving":        resp.GetStatus() == healthpb.HealthCheckResponse_SERVING,
		"responseTimeMs": elapsed,
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return res, errors.New(label + " is " + s)
	}
	return res, nil
}

package temporalserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	"github.com/temporalio/ui-server/v2/server/server_options"

	"github.com/checkflow/checkflow/internal/devenv"
)

// UI is a running Temporal Web UI server.
type UI struct {
	srv  *uiserver.Server
	addr string
	done chan struct{}
}

// Addr is the host:port the UI listens on.
func (u *UI) Addr() string { return u.addr }

// StartUI serves the Temporal Web UI on addr (host:port), talking to the frontend at
// temporalHostPort, and returns once it answers HTTP.
func StartUI(ctx context.Context, addr, temporalHostPort, namespace string) (*UI, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("ui address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("ui address %q: bad port", addr)
	}
	// The UI server exits the process when it cannot listen: check first.
	if err := devenv.CheckPortFree(addr); err != nil {
		return nil, err
	}
	cfg := &uiconfig.Config{
		TemporalGRPCAddress: temporalHostPort,
		Host:                host,
		Port:                port,
		EnableUI:            true,
		HideLogs:            true,
		DisableNewsFetch:    true,
		DefaultNamespace:    namespace,
		CORS:                uiconfig.CORS{CookieInsecure: true},
	}
	u := &UI{srv: uiserver.NewServer(server_options.WithConfigProvider(cfg)), addr: addr, done: make(chan struct{})}
	go func() {
		defer close(u.done)
		_ = u.srv.Start()
	}()
	// Start gives no readiness signal: poll the port.
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return u, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			u.Stop()
			return nil, fmt.Errorf("temporal ui on %s did not start: %w", addr, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// Stop closes the UI server.
func (u *UI) Stop() {
	u.srv.Stop()
	<-u.done
}

package checks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxBannerBytes caps the banner read from a TCP service.
const maxBannerBytes = 1024

func tcpStrategy() *strategyDef {
	return &strategyDef{
		id: "tcp", plugin: "healthcheck-tcp", displayName: "TCP",
		description: "Opens a TCP connection and optionally reads the service banner.",
		config:      objectSchema{Props: []prop{hostProp(), portProp(0)}},
		connect:     connectTCP,
		collectors: []*collectorDef{{
			id: "banner", displayName: "Banner", description: "Reads the first line the server sends after connecting.",
			config: objectSchema{Props: []prop{timeoutProp(5000, 100, 0, "How long to wait for a banner; no banner in time is not an error.")}},
			result: objectSchema{Props: []prop{
				{Name: "banner", Type: "string"},
				{Name: "hasBanner", Type: "boolean"},
				{Name: "readTimeMs", Type: "integer"},
			}},
			aggregates: []aggSpec{
				{Name: "bannerRate", Type: "rate", Source: "hasBanner"},
				{Name: "avgReadTimeMs", Type: "average", Source: "readTimeMs"},
			},
			collect: collectBanner,
		}},
	}
}

type tcpClient struct {
	conn net.Conn

	mu     sync.Mutex
	banner map[string]any
}

func (c *tcpClient) Close() error { return c.conn.Close() }

type hostPortConfig struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

func (h hostPortConfig) addr() string { return net.JoinHostPort(h.Host, strconv.Itoa(h.Port)) }

func connectTCP(ctx context.Context, raw map[string]any) (client, error) {
	cfg, err := decodeInto[hostPortConfig](raw)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", cfg.addr())
	if err != nil {
		return nil, fmt.Errorf("TCP connect to %s failed: %w", cfg.addr(), err)
	}
	return &tcpClient{conn: conn}, nil
}

// interruptOnCancel makes blocked reads on conn return when ctx is done.
func interruptOnCancel(ctx context.Context, conn interface{ SetDeadline(time.Time) error }) (stop func() bool) {
	return context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
}

func collectBanner(ctx context.Context, cl client, raw map[string]any, _ collectInput) (map[string]any, error) {
	c := cl.(*tcpClient)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.banner != nil { // the banner is read once per connection
		return copyMap(c.banner), nil
	}
	timeout := time.Duration(intField(raw, "timeout", 5000)) * time.Millisecond
	start := time.Now()
	_ = c.conn.SetReadDeadline(start.Add(timeout))
	stop := interruptOnCancel(ctx, c.conn)
	defer stop()
	buf := make([]byte, maxBannerBytes)
	n, err := c.conn.Read(buf)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("reading banner: %w", context.Cause(ctx))
	}
	banner := strings.ToValidUTF8(strings.TrimRight(string(buf[:n]), "\r\n\x00 \t"), "\uFFFD")
	res := map[string]any{
		"banner":     banner,
		"hasBanner":  banner != "",
		"readTimeMs": int(time.Since(start).Milliseconds()),
	}
	if err != nil && n == 0 && !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded) {
		return res, fmt.Errorf("reading banner: %w", err)
	}
	c.banner = res
	return copyMap(res), nil
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// intField reads an integer from a validated config object.
func intField(m map[string]any, name string, def int) int {
	switch v := m[name].(type) {
	case int64:
		return int(v)
	case int:
		return v
	case float64:
		return int(v)
	}
	return def
}

func stringField(m map[string]any, name string) string {
	s, _ := m[name].(string)
	return s
}

func boolField(m map[string]any, name string, def bool) bool {
	if b, ok := m[name].(bool); ok {
		return b
	}
	return def
}

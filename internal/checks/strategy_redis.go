package checks

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// maxRedisResponse caps the response text stored for a command (INFO can be long).
const maxRedisResponse = 64 << 10

func redisStrategy() *strategyDef {
	return &strategyDef{
		id: "redis", plugin: "healthcheck-redis", displayName: "Redis",
		description: "Connects to Redis and runs read-only commands.",
		config: objectSchema{Props: []prop{
			hostProp(),
			portProp(6379),
			{Name: "username", Type: "string", Title: "Username (ACL)"},
			{Name: "password", Type: "string", Title: "Password", Secret: true},
			{Name: "database", Type: "integer", Title: "Database", Default: 0, Min: ptr(0), Max: ptr(1000)},
			{Name: "tls", Type: "boolean", Title: "Use TLS", Default: false},
		}},
		connect: connectRedis,
		collectors: []*collectorDef{{
			id: "command", displayName: "Command", allowMultiple: true,
			description: "Runs PING, INFO or GET.",
			config: objectSchema{Props: []prop{
				{Name: "command", Type: "string", Title: "Command", Default: "PING", Enum: []string{"PING", "INFO", "GET"}},
				{Name: "args", Type: "array", Title: "Arguments", Items: &prop{Type: "string"}, MaxLength: 8},
			}, Check: func(v any) string {
				m, _ := v.(map[string]any)
				if args, _ := m["args"].([]any); m["command"] == "GET" && len(args) != 1 {
					return "args: GET needs exactly one argument (the key)"
				}
				return ""
			}},
			result: objectSchema{Props: []prop{
				{Name: "response", Type: "string"},
				{Name: "responseTimeMs", Type: "integer"},
				{Name: "success", Type: "boolean"},
			}},
			aggregates: []aggSpec{
				{Name: "avgResponseTimeMs", Type: "average", Source: "responseTimeMs"},
				{Name: "successRate", Type: "rate", Source: "success"},
			},
			collect: collectRedisCommand,
		}},
	}
}

type redisConfig struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Username string `json:"username"`
	Password string `json:"password"`
	Database int    `json:"database"`
	TLS      bool   `json:"tls"`
}

type redisClient struct{ rdb *redis.Client }

func (c *redisClient) Close() error { return c.rdb.Close() }

func connectRedis(ctx context.Context, raw map[string]any) (client, error) {
	cfg, err := decodeInto[redisConfig](raw)
	if err != nil {
		return nil, err
	}
	addr := hostPortConfig{Host: cfg.Host, Port: cfg.Port}.addr()
	opts := &redis.Options{
		Addr:                     addr,
		Username:                 cfg.Username,
		Password:                 cfg.Password,
		DB:                       cfg.Database,
		Protocol:                 2,
		MaxRetries:               -1,
		DialerRetries:            1,
		PoolSize:                 1,
		ContextTimeoutEnabled:    true,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if cfg.TLS {
		opts.TLSConfig = &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("Redis connect to %s failed: %w", addr, err) //nolint:staticcheck // proper noun
	}
	return &redisClient{rdb: rdb}, nil
}

func collectRedisCommand(ctx context.Context, cl client, raw map[string]any, _ collectInput) (map[string]any, error) {
	c := cl.(*redisClient)
	cmd := stringField(raw, "command")
	args := []any{cmd}
	if list, ok := raw["args"].([]any); ok {
		args = append(args, list...)
	}
	if cmd == "GET" && len(args) != 2 {
		return nil, errors.New("GET needs exactly one argument (the key)")
	}
	start := time.Now()
	val, err := c.rdb.Do(ctx, args...).Result()
	elapsed := int(time.Since(start).Milliseconds())
	if errors.Is(err, redis.Nil) {
		return map[string]any{"response": nil, "responseTimeMs": elapsed, "success": true}, nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s cancelled: %w", cmd, context.Cause(ctx))
		}
		return map[string]any{"responseTimeMs": elapsed, "success": false}, fmt.Errorf("%s failed: %w", cmd, err)
	}
	text := jsString(val)
	if len(text) > maxRedisResponse {
		text = text[:maxRedisResponse]
	}
	return map[string]any{"response": text, "responseTimeMs": elapsed, "success": true}, nil
}

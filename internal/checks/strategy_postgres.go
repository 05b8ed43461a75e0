package checks

import (
	"context"
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

func postgresStrategy() *strategyDef {
	return &strategyDef{
		id: "postgres", plugin: "healthcheck-postgres", displayName: "PostgreSQL",
		description: "Connects to PostgreSQL and runs queries.",
		config: objectSchema{Props: []prop{
			hostProp(),
			portProp(5432),
			{Name: "database", Type: "string", Title: "Database", Required: true, MinLength: 1},
			{Name: "user", Type: "string", Title: "User", Required: true, MinLength: 1},
			{Name: "password", Type: "string", Title: "Password", Secret: true},
			{Name: "ssl", Type: "boolean", Title: "Use TLS", Description: "Encrypt the connection (the server certificate is not verified).", Default: false},
		}},
		connect: connectPostgres,
		collectors: []*collectorDef{{
			id: "query", displayName: "Query", allowMultiple: true,
			description: "Runs a query and counts the rows it returns.",
			config: objectSchema{Props: []prop{
				{Name: "query", Type: "string", Title: "Query", Default: "SELECT 1", MinLength: 1},
			}},
			result: objectSchema{Props: []prop{
				{Name: "rowCount", Type: "integer"},
				{Name: "executionTimeMs", Type: "integer"},
				{Name: "success", Type: "boolean"},
			}},
			aggregates: []aggSpec{
				{Name: "avgExecutionTimeMs", Type: "average", Source: "executionTimeMs"},
				{Name: "successRate", Type: "rate", Source: "success"},
			},
			collect: collectPostgresQuery,
		}},
	}
}

type postgresConfig struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Database string `json:"database"`
	User     string `json:"user"`
	Password string `json:"password"`
	SSL      bool   `json:"ssl"`
}

type postgresClient struct {
	mu   sync.Mutex // pgx.Conn is not safe for concurrent use; collectors run in parallel
	conn *pgx.Conn
}

func (c *postgresClient) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.conn.Close(ctx)
}

// pgQuote quotes a libpq keyword/value connection-string value.
func pgQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func connectPostgres(ctx context.Context, raw map[string]any) (client, error) {
	cfg, err := decodeInto[postgresConfig](raw)
	if err != nil {
		return nil, err
	}
	sslmode := "disable"
	if cfg.SSL {
		sslmode = "require"
	}
	dsn := strings.Join([]string{
		"host=" + pgQuote(cfg.Host),
		"port=" + strconv.Itoa(cfg.Port),
		"dbname=" + pgQuote(cfg.Database),
		"user=" + pgQuote(cfg.User),
		"password=" + pgQuote(cfg.Password),
		"sslmode=" + sslmode,
		"application_name=checkflow-healthcheck",
	}, " ")
	pc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL config: %w", err)
	}
	if cfg.SSL && pc.TLSConfig == nil {
		pc.TLSConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // sslmode=require semantics
	}
	pc.Fallbacks = nil
	conn, err := pgx.ConnectConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL connect failed: %w", err)
	}
	return &postgresClient{conn: conn}, nil
}

func collectPostgresQuery(ctx context.Context, cl client, raw map[string]any, _ collectInput) (map[string]any, error) {
	c := cl.(*postgresClient)
	c.mu.Lock()
	defer c.mu.Unlock()
	start := time.Now()
	rows, err := c.conn.Query(ctx, stringField(raw, "query"))
	n := 0
	if err == nil {
		for rows.Next() {
			n++
		}
		rows.Close()
		err = rows.Err()
	}
	res := map[string]any{
		"rowCount":        n,
		"executionTimeMs": int(time.Since(start).Milliseconds()),
		"success":         err == nil,
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("query cancelled: %w", context.Cause(ctx))
		}
		return res, fmt.Errorf("query failed: %w", err)
	}
	return res, nil
}

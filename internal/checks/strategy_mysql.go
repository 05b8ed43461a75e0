package checks

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Limits of what a MySQL query collector keeps from the rows it reads.
const (
	maxMySQLRows      = 100     // rows kept in the ephemeral "rows" field (all rows are counted)
	maxMySQLValueSize = 4 << 10 // bytes kept of one column value
)

func mysqlStrategy() *strategyDef {
	return withConfigSecrets(&strategyDef{
		id: "mysql", plugin: "healthcheck-mysql", displayName: "MySQL / MariaDB",
		description: "Connects to MySQL or MariaDB and runs queries.",
		config: objectSchema{Props: []prop{
			hostProp(),
			portProp(3306),
			{Name: "database", Type: "string", Title: "Database", Required: true, MinLength: 1},
			{Name: "user", Type: "string", Title: "User", Required: true, MinLength: 1},
			{Name: "password", Type: "string", Title: "Password", Secret: true},
		}},
		connect: connectMySQL,
		collectors: []*collectorDef{{
			// "query" is taken by postgres: short collector ids are global (stored _collectorId).
			id: "mysql-query", displayName: "Query", allowMultiple: true,
			description: "Runs a query, counts the rows it returns and exposes the first value (and up to 100 rows for JSONPath assertions).",
			config: objectSchema{Props: []prop{
				{Name: "query", Type: "string", Title: "Query", Default: "SELECT 1", MinLength: 1},
			}},
			result: objectSchema{Props: []prop{
				{Name: "rowCount", Type: "integer"},
				{Name: "executionTimeMs", Type: "integer"},
				{Name: "success", Type: "boolean"},
				{Name: "value", Type: "string", Description: "First column of the first row as text (null when there is no row or it is NULL)."},
				{Name: "rows", Type: "array", Ephemeral: true, Description: "Up to 100 rows as objects column -> text (null for NULL), for JSONPath assertions; not stored."},
			}},
			aggregates: []aggSpec{
				{Name: "avgExecutionTimeMs", Type: "average", Source: "executionTimeMs"},
				{Name: "successRate", Type: "rate", Source: "success"},
			},
			collect: collectMySQLQuery,
		}},
	})
}

type mysqlConfig struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Database string `json:"database"`
	User     string `json:"user"`
	Password string `json:"password"`
}

// mysqlClient holds a small pool: collectors run in parallel, each on its own connection.
type mysqlClient struct{ db *sql.DB }

func (c *mysqlClient) Close() error { return c.db.Close() }

func connectMySQL(ctx context.Context, raw map[string]any) (client, error) {
	cfg, err := decodeInto[mysqlConfig](raw)
	if err != nil {
		return nil, err
	}
	mc := mysql.NewConfig()
	mc.User = cfg.User
	mc.Passwd = cfg.Password
	mc.Net = "tcp"
	mc.Addr = hostPortConfig{Host: cfg.Host, Port: cfg.Port}.addr()
	mc.DBName = cfg.Database
	mc.Logger = &mysql.NopLogger{} // failures are reported through errors, not the driver's log
	mc.ConnectionAttributes = "program_name:checkflow-healthcheck"
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("MySQL config: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("MySQL connect to %s failed: %w", mc.Addr, err) //nolint:staticcheck // proper noun
	}
	return &mysqlClient{db: db}, nil
}

func collectMySQLQuery(ctx context.Context, cl client, raw map[string]any, _ collectInput) (map[string]any, error) {
	c := cl.(*mysqlClient)
	conn, err := c.db.Conn(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("query cancelled: %w", context.Cause(ctx))
		}
		return nil, fmt.Errorf("MySQL connection failed: %w", err)
	}
	defer conn.Close()
	var connID int64
	if err := conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&connID); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("query cancelled: %w", context.Cause(ctx))
		}
		return nil, fmt.Errorf("MySQL connection failed: %w", err)
	}
	// The driver drops the connection when ctx ends, but the server keeps running the statement:
	// kill it, on another connection, so an abandoned probe leaves no work behind.
	killed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { defer close(killed); c.killQuery(connID) })
	defer func() {
		if !stop() {
			<-killed // the pool must outlive the KILL
		}
	}()

	start := time.Now()
	n, value, rows, err := readMySQLRows(ctx, conn, stringField(raw, "query"))
	res := map[string]any{
		"rowCount":        n,
		"executionTimeMs": int(time.Since(start).Milliseconds()),
		"success":         err == nil,
		"value":           value,
		"rows":            rows,
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("query cancelled: %w", context.Cause(ctx))
		}
		return res, fmt.Errorf("query failed: %w", err)
	}
	return res, nil
}

// killQuery asks the server to stop the statement running on connection id (best effort,
// bounded by one second).
func (c *mysqlClient) killQuery(id int64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = c.db.ExecContext(ctx, fmt.Sprintf("KILL QUERY %d", id))
}

// readMySQLRows runs query and returns the row count, the first column of the first row and
// up to maxMySQLRows rows as column -> text maps.
func readMySQLRows(ctx context.Context, conn *sql.Conn, query string) (n int, value any, kept []any, err error) {
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return 0, nil, []any{}, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, nil, []any{}, err
	}
	kept = []any{}
	cells := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range cells {
		ptrs[i] = &cells[i]
	}
	for rows.Next() {
		n++
		if n > maxMySQLRows {
			continue
		}
		if err := rows.Scan(ptrs...); err != nil {
			return n, value, kept, err
		}
		row := make(map[string]any, len(cols))
		for i, col := range cols {
			row[col] = mysqlText(cells[i])
		}
		if n == 1 && len(cols) > 0 {
			value = mysqlText(cells[0])
		}
		kept = append(kept, row)
	}
	return n, value, kept, rows.Err()
}

// mysqlText renders a column value as text (capped); NULL is nil.
func mysqlText(b sql.RawBytes) any {
	if b == nil {
		return nil
	}
	if len(b) > maxMySQLValueSize {
		b = b[:maxMySQLValueSize]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

package checks

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The MySQL tests run against the MariaDB (or MySQL) on 127.0.0.1:3306. They provision their
// own database and user (checkflow_test / checkflow_test) as root: over TCP with
// CHECKFLOW_MYSQL_ROOT_PASSWORD (empty by default), else through the local socket with the
// mysql client (Debian's root uses unix_socket authentication). Without a server they fail
// under CI=true and are skipped otherwise.
const (
	mysqlTestDatabase = "checkflow_test"
	mysqlTestUser     = "checkflow_test"
	mysqlTestPassword = "checkflow-test-pw-7Qx"
)

var mysqlProvisionSQL = []string{
	"CREATE DATABASE IF NOT EXISTS " + mysqlTestDatabase,
	fmt.Sprintf("CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s'", mysqlTestUser, mysqlTestPassword),
	fmt.Sprintf("CREATE USER IF NOT EXISTS '%s'@'localhost' IDENTIFIED BY '%s'", mysqlTestUser, mysqlTestPassword),
	fmt.Sprintf("ALTER USER '%s'@'%%' IDENTIFIED BY '%s'", mysqlTestUser, mysqlTestPassword),
	fmt.Sprintf("ALTER USER '%s'@'localhost' IDENTIFIED BY '%s'", mysqlTestUser, mysqlTestPassword),
	fmt.Sprintf("GRANT ALL PRIVILEGES ON %s.* TO '%s'@'%%'", mysqlTestDatabase, mysqlTestUser),
	fmt.Sprintf("GRANT ALL PRIVILEGES ON %s.* TO '%s'@'localhost'", mysqlTestDatabase, mysqlTestUser),
}

// mysqlTarget provisions the test database and user and returns the strategy config for them.
func mysqlTarget(t *testing.T) map[string]any {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:3306", 2*time.Second)
	if err != nil {
		msg := fmt.Sprintf("no MySQL/MariaDB on 127.0.0.1:3306 (apt-get install mariadb-server; service mariadb start): %v", err)
		if inCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	_ = c.Close()
	if err := provisionMySQL(); err != nil {
		t.Fatalf("provisioning the MySQL test database and user: %v", err)
	}
	return map[string]any{"host": "127.0.0.1", "port": 3306, "database": mysqlTestDatabase, "user": mysqlTestUser, "password": mysqlTestPassword}
}

func provisionMySQL() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = "root", os.Getenv("CHECKFLOW_MYSQL_ROOT_PASSWORD"), "tcp", "127.0.0.1:3306"
	cfg.Logger = &mysql.NopLogger{}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	tcpErr := db.PingContext(ctx)
	if tcpErr == nil {
		for _, stmt := range mysqlProvisionSQL {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		return nil
	}
	cli, err := exec.LookPath("mysql")
	if err != nil {
		return fmt.Errorf("root over TCP: %w; and no mysql client for the socket: %w", tcpErr, err)
	}
	attempts := [][]string{{cli, "-u", "root"}}
	if os.Geteuid() != 0 {
		attempts = append(attempts, []string{"sudo", "-n", cli, "-u", "root"})
	}
	errs := []error{fmt.Errorf("root over TCP: %w", tcpErr)}
	for _, args := range attempts {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Stdin = strings.NewReader(strings.Join(mysqlProvisionSQL, ";\n") + ";\n")
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out)))
	}
	return errors.Join(errs...)
}

func TestMySQLHealthy(t *testing.T) {
	my := mysqlTarget(t)
	res := run(t, "healthcheck-mysql.mysql", my,
		entry(t, "one", "mysql-query", nil),
		entry(t, "three", "healthcheck-mysql.mysql-query", map[string]any{"query": "SELECT 'a' AS name, 1 AS n UNION ALL SELECT 'b', 2 UNION ALL SELECT 'c', NULL"},
			Assertion{Field: "rowCount", Operator: "equals", Value: 3.0},
			Assertion{Field: "value", Operator: "equals", Value: "a"},
			Assertion{Field: "rows", JSONPath: "$[1].n", Operator: "equals", Value: 2.0},
			Assertion{Field: "rows", JSONPath: "$[*].name", Operator: "includes", Value: "c"}),
		entry(t, "none", "mysql-query", map[string]any{"query": "SELECT 1 FROM DUAL WHERE 1 = 0"}, Assertion{Field: "value", Operator: "notExists"}),
		entry(t, "version", "mysql-query", map[string]any{"query": "SELECT VERSION()"}, Assertion{Field: "value", Operator: "matches", Value: `^\d+\.\d+`}))
	requireHealthy(t, res)
	if c := collector(t, res, "one"); c["rowCount"] != 1 || c["success"] != true || c["value"] != "1" {
		t.Fatalf("collector %v", c)
	}
	if c := collector(t, res, "three"); c["rowCount"] != 3 {
		t.Fatalf("collector %v", c)
	} else if _, stored := c["rows"]; stored {
		t.Fatalf("ephemeral rows stored: %v", c)
	}
	if c := collector(t, res, "none"); c["rowCount"] != 0 || c["value"] != nil {
		t.Fatalf("collector %v", c)
	}
}

func TestMySQLFailing(t *testing.T) {
	my := mysqlTarget(t)
	tests := []struct {
		name    string
		cfg     map[string]any
		query   string
		asserts []Assertion
		wantMsg string
		conn    bool
	}{
		{"query error", my, "SELEC 1", nil, "Check failed: query failed: Error 1064", true},
		{"row count assertion", my, "SELECT 1", []Assertion{{Field: "rowCount", Operator: "greaterThan", Value: 1.0}}, "Assertion failed: rowCount greaterThan 1", true},
		{"value assertion", my, "SELECT 'degraded'", []Assertion{{Field: "value", Operator: "equals", Value: "ok"}}, "Assertion failed: value equals ok", true},
		{"wrong password", withCfg(my, "password", "not-the-password"), "SELECT 1", nil, "Access denied", false},
		{"unknown database", withCfg(my, "database", "checkflow_no_such_db"), "SELECT 1", nil, "MySQL connect to 127.0.0.1:3306 failed", false},
		{"nothing listening", withCfg(my, "port", closedPort(t)), "SELECT 1", nil, "connection refused", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, "mysql", tc.cfg, entry(t, "q", "mysql-query", map[string]any{"query": tc.query}, tc.asserts...))
			requireUnhealthy(t, res, tc.wantMsg)
			if res.Metadata["connected"] != tc.conn {
				t.Fatalf("connected %v", res.Metadata)
			}
		})
	}
}

func TestMySQLTimeout(t *testing.T) {
	my := mysqlTarget(t)
	silentHost, silentPort := silentListener(t)
	// A marker unique to this run: other test processes may be sleeping on the same server.
	sleep := fmt.Sprintf("SELECT SLEEP(30) -- %s-%d", t.Name(), time.Now().UnixNano())
	tests := []struct {
		name string
		cfg  map[string]any
	}{
		{"query sleeps", my},
		{"handshake never answered", withCfg(my, "host", silentHost, "port", silentPort)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			res := run(t, "mysql", withCfg(tc.cfg, "timeout", 300), entry(t, "q", "mysql-query", map[string]any{"query": sleep}))
			requireTimeout(t, res, 300)
			if time.Since(start) > 5*time.Second {
				t.Fatalf("Execute took %v; the query was not cancelled", time.Since(start))
			}
		})
	}
	// The statement was killed on the server: a fresh probe sees no thread still running it
	// (the KILL QUERY runs before the collector returns).
	res := run(t, "mysql", my, entry(t, "q", "mysql-query", map[string]any{
		"query": "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO = " + quoteLiteral(sleep)},
		Assertion{Field: "rowCount", Operator: "equals", Value: 0.0}))
	requireHealthy(t, res)
}

// The password never reaches the result: not when a query returns it, not in a login error.
func TestMySQLSecretsNeverInResults(t *testing.T) {
	my := mysqlTarget(t)
	res := run(t, "mysql", my, entry(t, "q", "mysql-query", map[string]any{"query": "SELECT CONCAT('pw=', " + quoteLiteral(mysqlTestPassword) + ") AS " + "leak"},
		Assertion{Field: "rows", JSONPath: "$[0].leak", Operator: "equals", Value: "pw=****"}))
	requireHealthy(t, res)
	if got := collector(t, res, "q")["value"]; got != "pw=****" {
		t.Fatalf("value %q: the password returned by the query is not masked", got)
	}
	requireNoSecret(t, res, mysqlTestPassword)

	planted := plantedSecret(t)
	res = run(t, "mysql", withCfg(my, "password", planted), entry(t, "q", "mysql-query", nil))
	requireUnhealthy(t, res, "Access denied")
	requireNoSecret(t, res, planted)
}

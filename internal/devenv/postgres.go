// Package devenv finds or provisions what checkflow needs on a developer machine or in tests: a
// PostgreSQL server (an existing one, or a private cluster created with initdb/pg_ctl), free
// ports, and quiet loggers for the Temporal SDK. The embedded Temporal server lives in the
// subpackage temporalserver.
package devenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultDatabaseURL is used when neither a flag nor DATABASE_URL names a database.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/checkflow"

// Postgres is a PostgreSQL server checkflow can use: either one that was already running or a
// private cluster this process started (and stops in Stop).
type Postgres struct {
	// URL connects to the checkflow database (created if it did not exist).
	URL string
	// Private is true when the server is a private cluster under the data dir.
	Private bool
	dataDir string
	pgCtl   string
	owner   *user.User
	started bool
}

// PostgresConfig says where to look for PostgreSQL.
type PostgresConfig struct {
	// URL of the checkflow database; empty means DefaultDatabaseURL.
	URL string
	// ClusterDir is where a private cluster lives when no server answers at URL (e.g. <data-dir>/pg).
	// Empty disables provisioning.
	ClusterDir string
	// Logger for progress lines; nil discards.
	Logger *slog.Logger
}

// ErrNoPostgres means no server answered and no private cluster could be made.
var ErrNoPostgres = errors.New("no PostgreSQL server reachable")

// EnsurePostgres returns a reachable PostgreSQL server with the database named in cfg.URL
// created. When nothing listens at a local URL and initdb/pg_ctl are found (on PATH or under
// /usr/lib/postgresql/*/bin), it creates (or reuses) a private cluster in cfg.ClusterDir on a
// free port and returns a URL pointing there.
func EnsurePostgres(ctx context.Context, cfg PostgresConfig) (*Postgres, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	raw := cfg.URL
	if raw == "" {
		raw = DefaultDatabaseURL
	}
	u, err := parseDatabaseURL(raw)
	if err != nil {
		return nil, err
	}
	err = createDatabase(ctx, u)
	if err == nil {
		return &Postgres{URL: u.String()}, nil
	}
	if !isUnreachable(err) || !isLocalHost(u.Hostname()) || cfg.ClusterDir == "" {
		return nil, fmt.Errorf("%w at %s: %v (set --database-url / DATABASE_URL to a reachable server)", ErrNoPostgres, redact(u), err)
	}
	log.Info("no PostgreSQL answers; using a private cluster", "url", redact(u), "dir", cfg.ClusterDir)
	pg, err := startPrivateCluster(ctx, cfg.ClusterDir, u, log)
	if err != nil {
		return nil, fmt.Errorf("%w at %s and a private cluster could not be started: %v (install PostgreSQL or set --database-url / DATABASE_URL)", ErrNoPostgres, redact(u), err)
	}
	return pg, nil
}

// Stop stops a private cluster this process started; it does nothing for an external server or
// for a private cluster that was already running.
func (p *Postgres) Stop(ctx context.Context) error {
	if !p.started {
		return nil
	}
	p.started = false
	cmd := exec.CommandContext(ctx, p.pgCtl, "stop", "-D", p.dataDir, "-m", "fast", "-w", "-t", "20")
	asOwner(cmd, p.owner)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func parseDatabaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return nil, fmt.Errorf("database url %q is not a postgres:// URL with a host", redactRaw(raw))
	}
	if _, err := pgx.ParseConfig(raw); err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path = "/checkflow"
	}
	return u, nil
}

// createDatabase connects to the server's maintenance database and creates the target database
// if it does not exist yet.
func createDatabase(ctx context.Context, u *url.URL) error {
	name := strings.Trim(u.Path, "/")
	admin := *u
	admin.Path = "/postgres"
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // created concurrently
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %q: %w", name, err)
	}
	return nil
}

func isUnreachable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return false // the server answered
	}
	return errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(err.Error(), "connection refused") ||
		errors.Is(err, os.ErrNotExist)
}

func isLocalHost(h string) bool {
	return h == "" || h == "localhost" || net.ParseIP(h).IsLoopback()
}

func redact(u *url.URL) string { return u.Redacted() }

func redactRaw(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparseable)"
}

// FindPostgresBin returns the directory holding initdb and pg_ctl, or "" if none is found.
func FindPostgresBin() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p)
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(dirs) - 1; i >= 0; i-- { // newest version first (lexical order is close enough)
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	return ""
}

// startPrivateCluster creates the cluster on first use, then starts it (or finds it running) and
// creates the database. The port is remembered in <dir>/checkflow.port so a restart reuses it
// when free.
func startPrivateCluster(ctx context.Context, dir string, want *url.URL, log *slog.Logger) (*Postgres, error) {
	bin := FindPostgresBin()
	if bin == "" {
		return nil, errors.New("initdb/pg_ctl not found on PATH or under /usr/lib/postgresql/*/bin")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	owner, err := clusterOwner()
	if err != nil {
		return nil, err
	}
	p := &Postgres{Private: true, dataDir: filepath.Join(dir, "data"), pgCtl: filepath.Join(bin, "pg_ctl"), owner: owner}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	if err := chown(dir, owner); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(p.dataDir, "PG_VERSION")); err != nil {
		log.Info("initialising private PostgreSQL cluster", "dir", p.dataDir)
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", p.dataDir, "-U", "postgres",
			"--auth=trust", "--encoding=UTF8", "--no-instructions")
		asOwner(cmd, owner)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("initdb: %w: %s", err, strings.TrimSpace(string(out)))
		}
	}
	portFile := filepath.Join(dir, "checkflow.port")
	port := 0
	if b, err := os.ReadFile(portFile); err == nil {
		port, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	running := port != 0 && pgStatus(ctx, p) == nil
	if !running {
		if port == 0 || CheckPortFree(net.JoinHostPort("127.0.0.1", strconv.Itoa(port))) != nil {
			if port, err = FreePort("127.0.0.1"); err != nil {
				return nil, err
			}
		}
		if err := os.WriteFile(portFile, []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
			return nil, fmt.Errorf("write %s: %w", portFile, err)
		}
		opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c fsync=off -c max_connections=200", port, dir)
		cmd := exec.CommandContext(ctx, p.pgCtl, "start", "-D", p.dataDir, "-w", "-t", "60", "-l", filepath.Join(dir, "postgres.log"), "-o", opts)
		asOwner(cmd, owner)
		// pg_ctl leaves the postmaster running in its own session: it outlives our context.
		cmd.SysProcAttr.Setsid = true
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("pg_ctl start (log in %s): %w: %s", filepath.Join(dir, "postgres.log"), err, strings.TrimSpace(string(out)))
		}
		p.started = true
	}
	u := *want
	u.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if u.User == nil || u.User.Username() == "" {
		u.User = url.User("postgres")
	}
	if err := createDatabase(ctx, &u); err != nil {
		_ = p.Stop(context.Background())
		return nil, fmt.Errorf("private cluster: %w", err)
	}
	p.URL = u.String()
	return p, nil
}

func pgStatus(ctx context.Context, p *Postgres) error {
	cmd := exec.CommandContext(ctx, p.pgCtl, "status", "-D", p.dataDir)
	asOwner(cmd, p.owner)
	return cmd.Run()
}

// clusterOwner: initdb refuses to run as root, so as root the cluster belongs to the "postgres"
// system user (or "nobody" when there is none).
func clusterOwner() (*user.User, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		if u, err := user.Lookup(name); err == nil {
			return u, nil
		}
	}
	return nil, errors.New("running as root and no unprivileged user (postgres, nobody) to own a private cluster")
}

func asOwner(cmd *exec.Cmd, owner *user.User) {
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if owner == nil {
		return
	}
	uid, _ := strconv.Atoi(owner.Uid)
	gid, _ := strconv.Atoi(owner.Gid)
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	cmd.Env = append(os.Environ(), "HOME="+owner.HomeDir)
}

func chown(dir string, owner *user.User) error {
	if owner == nil {
		return nil
	}
	uid, _ := strconv.Atoi(owner.Uid)
	gid, _ := strconv.Atoi(owner.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("chown %s: %w", dir, err)
	}
	return nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/checkflow/checkflow/internal/devenv"
	"github.com/checkflow/checkflow/internal/secretbox"
	"github.com/checkflow/checkflow/schema"
)

// shutdownTimeout bounds each part's graceful stop; the whole stop stays under 10 s.
const shutdownTimeout = 5 * time.Second

// stack runs cleanups in reverse order of registration.
type stack struct {
	fns []func()
}

func (s *stack) push(fn func()) { s.fns = append(s.fns, fn) }

func (s *stack) run() {
	for i := len(s.fns) - 1; i >= 0; i-- {
		s.fns[i]()
	}
	s.fns = nil
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, badFlag("log-level", "%q is not one of debug, info, warn, error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// migrateAndOpen applies migrations and opens the connection pool.
func migrateAndOpen(ctx context.Context, databaseURL string, log *slog.Logger) (*pgxpool.Pool, error) {
	n, err := schema.MigrateURL(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	if n > 0 {
		log.Info("applied database migrations", "count", n)
	}
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("database pool: %w", err)
	}
	return pool, nil
}

// dialTemporal connects to Temporal, failing within a few seconds when nothing answers.
func dialTemporal(ctx context.Context, opts client.Options, log *slog.Logger) (client.Client, error) {
	opts.Logger = devenv.SDKLogger(log)
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := client.DialContext(dctx, opts)
	if err != nil {
		return nil, badFlag("temporal-address", "cannot reach Temporal at %s: %v", opts.HostPort, err)
	}
	return c, nil
}

// listenHTTP binds the API's address.
func listenHTTP(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, badFlag("http-addr", "%s is already in use", addr)
	}
	return l, nil
}

// serveHTTP serves h on l until the returned stop function shuts it down gracefully. onShutdown
// runs when the shutdown starts: it ends the requests that never go idle (the API's live
// streams), which Shutdown would otherwise wait for.
func serveHTTP(l net.Listener, h http.Handler, log *slog.Logger, onShutdown ...func()) (stop func()) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	for _, f := range onShutdown {
		srv.RegisterOnShutdown(f)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
	}
}

func urlOf(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "http://" + host + ":" + port
}

func secretKeyFlag(f *flags, p *string) {
	f.str(p, "secret-key", "CHECKFLOW_SECRET_KEY", "", "base64 32-byte key that seals credentials in stored check configurations; the same on every server and worker (dev: <data-dir>/secret.key)")
}

// publicURLFlag registers --public-url: where people open checkflow, so notifications link to
// <url>/status/<systemId>.
func publicURLFlag(f *flags, p *string) {
	f.str(p, "public-url", "CHECKFLOW_PUBLIC_URL", "", "base URL people reach checkflow at; notifications link to <url>/status/<systemId> (empty: no link)")
}

// secretBoxFrom builds the secret box of --secret-key (nil without a key: checks that carry a
// credential are then rejected by the API and cannot run on this worker; see warnNoSecretKey).
func secretBoxFrom(key string) (*secretbox.Box, error) {
	if key == "" {
		return nil, nil
	}
	k, err := secretbox.ParseKey(key)
	if err != nil {
		return nil, badFlag("secret-key", "%v", err)
	}
	box, err := secretbox.New(k)
	if err != nil {
		return nil, badFlag("secret-key", "%v", err)
	}
	return box, nil
}

// warnNoSecretKey says once, after start-up, what running without a key means.
func warnNoSecretKey(box *secretbox.Box, log *slog.Logger) {
	if box == nil {
		log.Warn("no --secret-key: checks with credentials (e.g. a database password) cannot be stored or run")
	}
}

// devSecretKey reads the dev key file, creating it (mode 0600) on first use. The key seals every
// credential, so it must stay out of reach of other local users and of script checks (which run
// as an unprivileged user): an existing key file readable by others is narrowed to 0600, and a
// data directory writable by others (who could replace the key) loses that write access; a
// shared sticky directory such as /tmp is refused.
func devSecretKey(path string) (string, error) {
	dir := "."
	if i := strings.LastIndexByte(path, os.PathSeparator); i > 0 {
		dir = path[:i]
	} else if i == 0 {
		dir = string(os.PathSeparator)
	}
	di, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("stat %s: %w", dir, err)
	}
	if perm := di.Mode().Perm(); perm&0o022 != 0 {
		if di.Mode()&os.ModeSticky != 0 {
			return "", fmt.Errorf("%s is shared with other users (sticky and writable by others): keep the secret key in a directory of its own", dir)
		}
		if err := os.Chmod(dir, perm&^0o022); err != nil {
			return "", fmt.Errorf("make %s writable by its owner only: %w", dir, err)
		}
	}
	if fi, err := os.Stat(path); err == nil {
		if !fi.Mode().IsRegular() {
			return "", fmt.Errorf("%s is not a regular file", path)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path, 0o600); err != nil {
				return "", fmt.Errorf("make %s readable by its owner only: %w", path, err)
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", path, err)
		}
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("stat %s: %w", path, err)
	}
	k, err := secretbox.NewKey()
	if err != nil {
		return "", err
	}
	// O_EXCL: never write the key into a file someone else slipped in.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.WriteString(k + "\n"); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return k, nil
}

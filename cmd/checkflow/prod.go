package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkflow/checkflow/activities"
	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/devenv"
	"github.com/checkflow/checkflow/internal/metrics"
	"github.com/checkflow/checkflow/schema"
	"github.com/checkflow/checkflow/server"
	"github.com/checkflow/checkflow/worker"
	"github.com/checkflow/checkflow/worker/searchattrs"
)

func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparseable)"
}

func runServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var httpAddr, databaseURL, logLevel, secretKey string
	var publicStatus bool
	var tf temporalFlags
	var sp statusPageFlags
	f := newFlags("server", stderr)
	secretKeyFlag(f, &secretKey)
	f.str(&httpAddr, "http-addr", "CHECKFLOW_HTTP_ADDR", "127.0.0.1:8080", "address of the HTTP API")
	f.boolean(&publicStatus, "public-status", "CHECKFLOW_PUBLIC_STATUS", true, "serve the status:read endpoints without a token")
	f.str(&databaseURL, "database-url", "DATABASE_URL", devenv.DefaultDatabaseURL, "PostgreSQL URL")
	f.str(&logLevel, "log-level", "CHECKFLOW_LOG_LEVEL", "info", "debug, info, warn or error")
	tf.register(f)
	sp.register(f)
	if err := f.parse(args); err != nil {
		return err
	}
	log, err := newLogger(stderr, logLevel)
	if err != nil {
		return err
	}
	statusPage, err := sp.config()
	if err != nil {
		return err
	}
	if err := validateDatabaseURL(databaseURL); err != nil {
		return err
	}
	if err := validateListenAddr("http-addr", httpAddr); err != nil {
		return err
	}
	box, err := secretBoxFrom(secretKey)
	if err != nil {
		return err
	}
	opts, err := tf.clientOptions()
	if err != nil {
		return err
	}
	reg := metrics.New(metrics.Options{Logger: log, Strategies: metrics.StrategyIDs(checks.NewRegistry()), GoCollectors: true})
	opts.MetricsHandler = reg.TemporalHandler()
	var cleanup stack
	defer cleanup.run()
	tc, err := dialTemporal(ctx, opts, log)
	if err != nil {
		return err
	}
	cleanup.push(tc.Close)
	pool, err := migrateAndOpen(ctx, databaseURL, log)
	if err != nil {
		return &flagError{flag: "database-url", err: err}
	}
	cleanup.push(pool.Close)
	api := server.New(server.Config{Pool: pool, Temporal: tc, Logger: log, Version: currentVersion().String(), SecretBox: box}, server.WithPublicStatus(publicStatus), server.WithStatusPage(statusPage), server.WithMetrics(reg))
	l, err := listenHTTP(httpAddr)
	if err != nil {
		return err
	}
	cleanup.push(serveHTTP(l, api.Handler(), log, api.Close))
	warnNoSecretKey(box, log)
	fmt.Fprintf(stdout, "checkflow server %s listening on %s\n", currentVersion(), urlOf(l.Addr().String()))
	<-ctx.Done()
	return nil
}

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var databaseURL, logLevel, location, taskQueue, secretKey, publicURL, metricsAddr, secretStoreURL string
	var probesOnly bool
	var workflowCache int
	var tf temporalFlags
	var lf lifecycleFlags
	f := newFlags("worker", stderr)
	secretKeyFlag(f, &secretKey)
	workflowCacheFlag(f, &workflowCache)
	publicURLFlag(f, &publicURL)
	f.str(&databaseURL, "database-url", "DATABASE_URL", devenv.DefaultDatabaseURL, "PostgreSQL URL (not used with --probes-only)")
	f.str(&logLevel, "log-level", "CHECKFLOW_LOG_LEVEL", "info", "debug, info, warn or error")
	f.str(&location, "location", "CHECKFLOW_LOCATION", "", "also serve the probe task queue of this location (checkflow-probes-<location>)")
	f.str(&taskQueue, "task-queue", "CHECKFLOW_TASK_QUEUE", "checkflow", "main task queue")
	f.boolean(&probesOnly, "probes-only", "CHECKFLOW_PROBES_ONLY", false, "serve probe task queues only (no database needed)")
	f.str(&secretStoreURL, "secret-store-url", "CHECKFLOW_SECRET_STORE_URL", "", "with --probes-only: PostgreSQL URL to read the secret store from (checks whose secretEnv references secrets fail on a probe-only worker without it)")
	f.str(&metricsAddr, "metrics-addr", "CHECKFLOW_METRICS_ADDR", "", "serve Prometheus metrics at http://<addr>/metrics (empty: off)")
	tf.register(f)
	lf.register(f)
	if err := f.parse(args); err != nil {
		return err
	}
	log, err := newLogger(stderr, logLevel)
	if err != nil {
		return err
	}
	lifecycle, err := lf.config()
	if err != nil {
		return err
	}
	if err := validatePublicURL(publicURL); err != nil {
		return err
	}
	if err := validateDatabaseURL(databaseURL); err != nil {
		return err
	}
	if err := applyWorkflowCache(workflowCache); err != nil {
		return err
	}
	if metricsAddr != "" {
		if err := validateListenAddr("metrics-addr", metricsAddr); err != nil {
			return err
		}
	}
	opts, err := tf.clientOptions()
	if err != nil {
		return err
	}
	// The worker's own metrics (runs, probes, apply lag, jobs, the SDK's); the status gauges
	// come from the API, once per deployment.
	reg := metrics.New(metrics.Options{Logger: log, Strategies: metrics.StrategyIDs(checks.NewRegistry()), GoCollectors: true})
	opts.MetricsHandler = reg.TemporalHandler()
	opts.Interceptors = append(opts.Interceptors, reg.Interceptor())
	var cleanup stack
	defer cleanup.run()
	if metricsAddr != "" {
		ms, err := worker.ServeMetrics(metricsAddr, reg, log)
		if err != nil {
			return &flagError{flag: "metrics-addr", err: err}
		}
		cleanup.push(ms.Close)
	}
	tc, err := dialTemporal(ctx, opts, log)
	if err != nil {
		return err
	}
	cleanup.push(tc.Close)
	box, err := secretBoxFrom(secretKey)
	if err != nil {
		return err
	}
	cfg := worker.Config{Client: tc, Logger: log, Location: location, ProbesOnly: probesOnly, TaskQueue: taskQueue, ManageSchedules: true, SecretBox: box, Namespace: opts.Namespace,
		Notify: worker.NotifyConfig{PublicURL: publicURL}, Lifecycle: lifecycle, Metrics: reg, Hooks: activities.Hooks{Persisted: reg.ObservePersisted}}
	if probesOnly && secretStoreURL != "" {
		if err := validateDatabaseURL(secretStoreURL); err != nil {
			return &flagError{flag: "secret-store-url", err: err}
		}
		pool, err := openSecretStore(ctx, secretStoreURL)
		if err != nil {
			return &flagError{flag: "secret-store-url", err: err}
		}
		cleanup.push(pool.Close)
		cfg.SecretStore = pool
	}
	if !probesOnly {
		pool, err := migrateAndOpen(ctx, databaseURL, log)
		if err != nil {
			return &flagError{flag: "database-url", err: err}
		}
		cleanup.push(pool.Close)
		cfg.Pool = pool
	}
	w, err := worker.Start(cfg)
	var missing *searchattrs.MissingError
	if errors.As(err, &missing) {
		// Bad configuration like an unreachable Temporal: one line saying what to run.
		missing.Address = opts.HostPort
		return &flagError{flag: "temporal-namespace", err: missing}
	}
	if err != nil {
		return err
	}
	cleanup.push(w.Stop)
	warnNoSecretKey(box, log)
	fmt.Fprintf(stdout, "checkflow worker %s polling %v on %s\n", currentVersion(), w.TaskQueues(), opts.HostPort)
	<-ctx.Done()
	return nil
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var databaseURL string
	f := newFlags("migrate", stderr)
	f.str(&databaseURL, "database-url", "DATABASE_URL", devenv.DefaultDatabaseURL, "PostgreSQL URL (the database is created if missing)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := validateDatabaseURL(databaseURL); err != nil {
		return err
	}
	pg, err := devenv.EnsurePostgres(ctx, devenv.PostgresConfig{URL: databaseURL})
	if err != nil {
		return &flagError{flag: "database-url", err: err}
	}
	n, err := schema.MigrateURL(ctx, pg.URL)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migration(s); database is up to date\n", n)
	return nil
}

// openSecretStore opens a small pool on the database a probe-only worker reads secrets from (it
// migrates nothing: the main workers own the schema) and checks that it answers.
func openSecretStore(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("reach the secret store: %w", err)
	}
	return pool, nil
}

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"

	"github.com/checkflow/checkflow/activities"
	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/devenv"
	"github.com/checkflow/checkflow/internal/devenv/temporalserver"
	"github.com/checkflow/checkflow/internal/metrics"
	"github.com/checkflow/checkflow/server"
	"github.com/checkflow/checkflow/worker"
)

type devConfig struct {
	httpAddr, uiAddr, databaseURL, dataDir, logLevel string
	temporalPort, workflowCache                      int
	noUI, publicStatus                               bool
	secretKey, publicURL                             string
	lifecycle                                        lifecycleFlags
	statusPage                                       statusPageFlags
}

// devGCTarget is the garbage collector's target percentage in `dev` when GOGC is not set: the
// embedded Temporal server, PostgreSQL client, API and worker share one heap, and half of Go's
// default 100 keeps 1,000 systems within ≈ 300 MB for a few percent more CPU (BENCHMARKS.md
// "Memory").
const devGCTarget = 50

// stickyDrainSlack is added to the sticky queue's ScheduleToStart timeout while dev's embedded
// Temporal outlives a stopped worker that handed probe sessions over (the timer queue's own delay).
const stickyDrainSlack = 700 * time.Millisecond

// devGCPercent is the GC percentage `dev` sets: devGCTarget unless the environment's GOGC says
// otherwise (ok false: leave the runtime's own setting).
func devGCPercent(getenv func(string) string) (int, bool) {
	if getenv("GOGC") != "" {
		return 0, false
	}
	return devGCTarget, true
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c devConfig
	f := newFlags("dev", stderr)
	f.str(&c.httpAddr, "http-addr", "CHECKFLOW_HTTP_ADDR", "127.0.0.1:8080", "address of the HTTP API")
	f.str(&c.uiAddr, "ui-addr", "CHECKFLOW_UI_ADDR", "127.0.0.1:8233", "address of the Temporal Web UI")
	f.integer(&c.temporalPort, "temporal-port", "CHECKFLOW_TEMPORAL_PORT", 7233, "port of the embedded Temporal frontend on 127.0.0.1 (0 = any free port)")
	f.str(&c.databaseURL, "database-url", "DATABASE_URL", devenv.DefaultDatabaseURL, "PostgreSQL URL; when nothing listens there a private cluster is created under <data-dir>/pg")
	f.str(&c.dataDir, "data-dir", "CHECKFLOW_DATA_DIR", "./.checkflow", "directory for the embedded Temporal database and the private PostgreSQL cluster")
	f.str(&c.logLevel, "log-level", "CHECKFLOW_LOG_LEVEL", "info", "debug, info, warn or error")
	f.boolean(&c.noUI, "no-ui", "CHECKFLOW_NO_UI", false, "do not serve the Temporal Web UI")
	f.boolean(&c.publicStatus, "public-status", "CHECKFLOW_PUBLIC_STATUS", true, "serve the status:read endpoints without a token")
	secretKeyFlag(f, &c.secretKey)
	publicURLFlag(f, &c.publicURL)
	workflowCacheFlag(f, &c.workflowCache)
	c.lifecycle.register(f)
	c.statusPage.register(f)
	if err := f.parse(args); err != nil {
		return err
	}
	log, err := newLogger(stderr, c.logLevel)
	if err != nil {
		return err
	}
	lifecycle, err := c.lifecycle.config()
	if err != nil {
		return err
	}
	statusPage, err := c.statusPage.config()
	if err != nil {
		return err
	}
	// Validate everything before starting anything.
	if err := validatePublicURL(c.publicURL); err != nil {
		return err
	}
	if err := applyWorkflowCache(c.workflowCache); err != nil {
		return err
	}
	if pct, ok := devGCPercent(os.Getenv); ok {
		debug.SetGCPercent(pct)
	}
	if err := validateDatabaseURL(c.databaseURL); err != nil {
		return err
	}
	if err := validateListenAddr("http-addr", c.httpAddr); err != nil {
		return err
	}
	if !c.noUI {
		if err := validateListenAddr("ui-addr", c.uiAddr); err != nil {
			return err
		}
	}
	if c.temporalPort < 0 || c.temporalPort > 65535 {
		return badFlag("temporal-port", "%d is not a port", c.temporalPort)
	}
	if c.temporalPort != 0 {
		if err := validateListenAddr("temporal-port", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.temporalPort))); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(c.dataDir, 0o755); err != nil {
		return badFlag("data-dir", "%v", err)
	}
	if c.secretKey == "" {
		// dev keeps its own key next to its data, created on first start.
		k, err := devSecretKey(filepath.Join(c.dataDir, "secret.key"))
		if err != nil {
			return badFlag("data-dir", "%v", err)
		}
		c.secretKey = k
	}
	box, err := secretBoxFrom(c.secretKey)
	if err != nil {
		return err
	}

	var cleanup stack
	defer cleanup.run()

	pg, err := devenv.EnsurePostgres(ctx, devenv.PostgresConfig{URL: c.databaseURL, ClusterDir: filepath.Join(c.dataDir, "pg"), Logger: log})
	if err != nil {
		return &flagError{flag: "database-url", err: err}
	}
	cleanup.push(func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := pg.Stop(sctx); err != nil {
			log.Error("stop private postgres", "err", err)
		}
	})
	pool, err := migrateAndOpen(ctx, pg.URL, log)
	if err != nil {
		return err
	}
	cleanup.push(pool.Close)

	// Bind the API's and the UI's ports before the embedded Temporal picks free ports for its
	// internal services, so that none of them can take ours.
	httpListener, err := listenHTTP(c.httpAddr)
	if err != nil {
		return err
	}
	cleanup.push(func() { _ = httpListener.Close() })
	if c.temporalPort == 0 {
		if c.temporalPort, err = devenv.FreePort("127.0.0.1"); err != nil {
			return badFlag("temporal-port", "%v", err)
		}
	}
	temporalAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.temporalPort))
	uiURL := ""
	if !c.noUI {
		// The UI reaches Temporal lazily: it can start first.
		ui, err := temporalserver.StartUI(ctx, c.uiAddr, temporalAddr, temporalserver.DefaultNamespace)
		if err != nil {
			return badFlag("ui-addr", "%v", err)
		}
		cleanup.push(ui.Stop)
		uiURL = urlOf(c.uiAddr)
	}

	temporal, err := temporalserver.StartTemporal(ctx, temporalserver.TemporalConfig{
		Port: c.temporalPort, DBFile: filepath.Join(c.dataDir, "temporal.db"), Logger: log,
	})
	if err != nil {
		return badFlag("temporal-port", "%v", err)
	}
	cleanup.push(func() { _ = temporal.Stop() })

	// One metrics registry for the worker and the API, served by the API at /metrics.
	reg := metrics.New(metrics.Options{Logger: log, Strategies: metrics.StrategyIDs(checks.NewRegistry()), GoCollectors: true})
	tc, err := dialTemporal(ctx, client.Options{HostPort: temporal.HostPort(), Namespace: temporal.Namespace(),
		MetricsHandler: reg.TemporalHandler(), Interceptors: []interceptor.ClientInterceptor{reg.Interceptor()}}, log)
	if err != nil {
		return err
	}
	cleanup.push(tc.Close)

	w, err := worker.Start(worker.Config{Client: tc, Pool: pool, Logger: log, ManageSchedules: true, SecretBox: box, Namespace: temporal.Namespace(),
		Notify: worker.NotifyConfig{PublicURL: c.publicURL}, Lifecycle: lifecycle, Metrics: reg, Hooks: activities.Hooks{Persisted: reg.ObservePersisted}})
	if err != nil {
		return err
	}
	cleanup.push(func() {
		// The probe sessions the stop suspended are retried by Temporal after 1 s (and the
		// entities of sessions that ended instead have their next workflow tasks on the
		// stopped worker's sticky queue, moved to the task queue after 1 s). The embedded
		// Temporal runs on until those timers fired: at the next start the tasks are ready at
		// once, instead of waiting for the timer queue to catch up with a backlog of them
		// (3–8 s with 1,000 systems).
		if w.HandedOver() > 0 {
			time.Sleep(worker.StickyScheduleToStart() + stickyDrainSlack)
		}
	})
	cleanup.push(w.Stop)

	adminToken, err := devAdminToken(ctx, pool)
	if err != nil {
		return err
	}
	api := server.New(server.Config{Pool: pool, Temporal: tc, Logger: log, Version: currentVersion().String(), SecretBox: box}, server.WithPublicStatus(c.publicStatus), server.WithStatusPage(statusPage), server.WithMetrics(reg))
	cleanup.push(serveHTTP(httpListener, api.Handler(), log, api.Close))

	fmt.Fprintf(stdout, "checkflow dev is ready (version %s)\n", currentVersion())
	fmt.Fprintf(stdout, "  API:          %s\n", urlOf(httpListener.Addr().String())) // the port chosen for :0
	if uiURL != "" {
		fmt.Fprintf(stdout, "  Temporal UI:  %s\n", uiURL)
	}
	fmt.Fprintf(stdout, "  Temporal:     %s (namespace %s)\n", temporal.HostPort(), temporal.Namespace())
	fmt.Fprintf(stdout, "  PostgreSQL:   %s\n", redactURL(pg.URL))
	fmt.Fprintf(stdout, "  Admin token:  %s (new at every start; the previous one no longer works)\n", adminToken)
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")

	<-ctx.Done()
	log.Info("shutting down")
	return nil
}

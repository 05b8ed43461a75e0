// Package server is checkflow's HTTP API (echo/v4). Handlers are thin: they authenticate,
// decode and validate with the domain validators, call internal/store (reads and configuration
// writes) or the system entities (signal after a write, run-now), and answer JSON; errors are
// RFC 9457 problem+json. One route table drives both the router and the OpenAPI document
// served at /api/v1/openapi.json.
package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.temporal.io/sdk/client"

	"github.com/checkflow/checkflow/internal/automation"
	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/entityclient"
	"github.com/checkflow/checkflow/internal/eventstream"
	"github.com/checkflow/checkflow/internal/notify"
	"github.com/checkflow/checkflow/internal/secretbox"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/workflows"
)

// Entities is what the API needs from the systems' SystemHealth entities;
// *entityclient.Client implements it.
type Entities interface {
	// ConfigChanged signals (with start) the system's entity that its configuration changed.
	ConfigChanged(ctx context.Context, systemID string) error
	// RunCheck runs one check now through the entity (Update-with-Start); updateID makes it
	// idempotent.
	RunCheck(ctx context.Context, systemID, updateID string, req workflows.RunCheckRequest) (workflows.RunCheckResponse, error)
	// MaintenanceChanged signals (with start) the workflow of a maintenance window that the
	// window was created, changed or deleted.
	MaintenanceChanged(ctx context.Context, windowID string) error
	// AutomationChanged signals (with start) the workflow of an automation that the automation
	// was created, changed or deleted.
	AutomationChanged(ctx context.Context, automationID string) error
	// SendResults delivers results (heartbeat pings) to the system's entity in one signal (with
	// start).
	SendResults(ctx context.Context, systemID string, rs []workflows.CheckResult) error
}

// Config is what the API needs.
type Config struct {
	Pool     *pgxpool.Pool
	Temporal client.Client
	Logger   *slog.Logger
	Version  string
	// Entities reaches the entities; default an entityclient.Client on Temporal with the
	// default task queue.
	Entities Entities
	// Checks is the strategy registry (validation, schemas, secret fields); default
	// checks.NewRegistry().
	Checks *checks.Registry
	// SecretBox seals x-secret config fields before they are stored. Without it, a check with a
	// secret value is rejected (nothing is ever stored in plain text).
	SecretBox *secretbox.Box
	// NotifyOptions are given to the notification channels the API builds (POST
	// /channels/{channelId}/test); tests inject an HTTP client or a TLS config with them.
	NotifyOptions notify.Options
}

// Option customises the server.
type Option func(*Server)

// WithPublicStatus makes the status:read endpoints public (true, the default, like the
// reference) or requires a token for them (false).
func WithPublicStatus(public bool) Option {
	return func(s *Server) { s.publicStatus = public }
}

// WithStatusPage configures the HTML status page (title, logo, which systems it shows).
func WithStatusPage(c StatusPageConfig) Option {
	return func(s *Server) { s.statusPage = c }
}

// WithClock sets the clock used for evaluatedAt and token bookkeeping (tests).
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.now = now }
}

// Deadlines of the API's work. A request that runs out of time is answered with a 503
// problem (database-unavailable for the database, entity-unreachable for Temporal) and a
// Retry-After header instead of hanging.
const (
	// DefaultRequestTimeout bounds every request but run-now: PostgreSQL must answer (a pooled
	// connection acquired or a new one opened, the queries run) within it.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultNotifyTimeout bounds the signals a write sends after it committed (all affected
	// systems together; each signal also gets at most notifySignalTimeout).
	DefaultNotifyTimeout = 30 * time.Second
	// notifySignalTimeout bounds one config-changed signal.
	notifySignalTimeout = 10 * time.Second
)

// Timeouts are the deadlines of the API's work; zero values take the defaults.
type Timeouts struct {
	// Request bounds every request but run-now (default DefaultRequestTimeout).
	Request time.Duration
	// Notify bounds the entity signals after a committed write (default DefaultNotifyTimeout).
	Notify time.Duration
	// RunMargin is added to the admission timeout and the check's own timeout to bound a whole
	// run-now (default DefaultRunMargin; see runDeadline).
	RunMargin time.Duration
}

// WithTimeouts overrides the API's deadlines (tests use short ones).
func WithTimeouts(t Timeouts) Option {
	return func(s *Server) {
		if t.Request > 0 {
			s.timeouts.Request = t.Request
		}
		if t.Notify > 0 {
			s.timeouts.Notify = t.Notify
		}
		if t.RunMargin > 0 {
			s.timeouts.RunMargin = t.RunMargin
		}
	}
}

// Server is the HTTP API.
type Server struct {
	cfg          Config
	echo         *echo.Echo
	log          *slog.Logger
	store        *store.Store
	checks       *checks.Registry
	secrets      secretFields
	box          *secretbox.Box
	entities     Entities
	publicStatus bool
	now          func() time.Time
	timeouts     Timeouts
	runGate      *runGate
	limiter      *notify.Limiter
	// compiler compiles automations (CEL filters and partitionBy) against the trigger events'
	// payload schemas; built once, safe for concurrent use.
	compiler *automation.Compiler
	// hub is the process's one outbox poller of the live stream (GET /api/v1/stream).
	hub        *eventstream.Hub
	streamOpts StreamOptions
	metrics    http.Handler
	// statusPage configures the HTML status page (handlers_page.go).
	statusPage StatusPageConfig
	routes     []route
	openapi    []byte
	// pings gathers heartbeat pings per system into one signal (handlers_ping.go).
	pings *pingBatcher
}

// New builds the API's routes.
func New(cfg Config, opts ...Option) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Checks == nil {
		cfg.Checks = checks.NewRegistry(checks.WithLogger(cfg.Logger))
	}
	if cfg.Entities == nil && cfg.Temporal != nil {
		cfg.Entities = &entityclient.Client{Temporal: cfg.Temporal}
	}
	compiler, err := automation.NewCompiler()
	if err != nil { // cannot happen: the environments are built from the package's own schemas
		panic(fmt.Sprintf("server: build the automation compiler: %v", err))
	}
	s := &Server{
		cfg:          cfg,
		log:          cfg.Logger,
		store:        store.New(cfg.Pool, store.WithCollectorMerger(cfg.Checks.MergeCollector)),
		checks:       cfg.Checks,
		secrets:      newSecretFields(cfg.Checks),
		box:          cfg.SecretBox,
		entities:     cfg.Entities,
		publicStatus: true,
		now:          time.Now,
		timeouts:     Timeouts{Request: DefaultRequestTimeout, Notify: DefaultNotifyTimeout, RunMargin: DefaultRunMargin},
		runGate:      newRunGate(),
		limiter:      notify.NewLimiter(),
		compiler:     compiler,
	}
	for _, o := range opts {
		o(s)
	}
	s.pings = newPingBatcher(s.entities)
	s.hub = s.newStreamHub()
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = problemHandler(cfg.Logger)
	e.Use(middleware.Recover())
	e.Use(s.accessLog)
	e.Use(middleware.BodyLimit("1M"))
	s.echo = e
	// gitOpsLock sees the caller through the request context (handlers_gitops.go).
	s.installLockContext()
	s.routes = s.routeTable()
	for _, r := range s.routes {
		h := r.handler
		if r.auth {
			h = s.requireScope(r.scope)(h)
		}
		if !r.ownDeadline {
			h = s.withDeadline(s.timeouts.Request)(h)
		}
		e.Add(r.method, echoPath(r.path), h)
	}
	doc, err := json.Marshal(s.openAPIDocument())
	if err != nil { // cannot happen: the document holds only JSON-safe values
		panic(fmt.Sprintf("server: render OpenAPI document: %v", err))
	}
	s.openapi = doc
	return s
}

// Handler returns the http.Handler serving the API.
func (s *Server) Handler() http.Handler { return s.echo }

// echoPath converts an OpenAPI path template into an echo route: {name} becomes :name and a
// literal colon (POST /health:bulk) is escaped.
func echoPath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '{':
			end := strings.IndexByte(p[i:], '}')
			b.WriteString(":" + p[i+1:i+end])
			i += end
		case ':':
			b.WriteString(`\:`)
		default:
			b.WriteByte(p[i])
		}
	}
	return b.String()
}

// accessLog logs each request at debug level: method, route, status and duration — never
// bodies, query values or headers (they may hold secrets and tokens).
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if s.log.Enabled(c.Request().Context(), slog.LevelDebug) {
			status := c.Response().Status
			if p, ok := toProblem(err); ok {
				status = p.Status
			} else if err != nil {
				status = http.StatusInternalServerError
			}
			s.log.Debug("http request", "method", c.Request().Method, "route", c.Path(), "status", status, "duration", time.Since(start))
		}
		return err
	}
}

// withDeadline bounds a request (authentication included): work still waiting for PostgreSQL
// when it passes fails with context.DeadlineExceeded, answered as database-unavailable.
func (s *Server) withDeadline(d time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ctx, cancel := context.WithTimeout(c.Request().Context(), d)
			defer cancel()
			c.SetRequest(c.Request().WithContext(ctx))
			return next(c)
		}
	}
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

type readiness struct {
	Status   string            `json:"status"`
	Checks   map[string]string `json:"checks"`
	Problems []string          `json:"problems,omitempty"`
}

// readyz answers 200 when PostgreSQL and Temporal both answer, 503 with the reasons otherwise.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	r := readiness{Status: "ready", Checks: map[string]string{"postgres": "ok", "temporal": "ok"}}
	if err := s.cfg.Pool.Ping(ctx); err != nil {
		r.Checks["postgres"] = "unreachable"
		r.Problems = append(r.Problems, "postgres: "+err.Error())
	}
	if s.cfg.Temporal == nil {
		r.Checks["temporal"] = "not configured"
		r.Problems = append(r.Problems, "temporal: no client configured")
	} else if _, err := s.cfg.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		r.Checks["temporal"] = "unreachable"
		r.Problems = append(r.Problems, "temporal: "+err.Error())
	}
	if len(r.Problems) > 0 {
		r.Status = "unavailable"
		return c.JSON(http.StatusServiceUnavailable, r)
	}
	return c.JSON(http.StatusOK, r)
}

func (s *Server) version(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"version": s.cfg.Version})
}

func (s *Server) openAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, s.openapi)
}

// notify signals the entities of the given systems after a committed configuration write
// (a few at a time). Every system is tried within the notify deadline (each signal within
// notifySignalTimeout; Temporal being down makes the client retry until then); a failure is a
// 503 entity-unreachable saying the change was saved (repeating the idempotent request signals
// again).
func (s *Server) notify(ctx context.Context, systemIDs ...string) error {
	if len(systemIDs) == 0 {
		return nil
	}
	if s.entities == nil {
		return unavailable(ProblemEntityUnreachable, "the change was saved, but no Temporal client is configured to notify the systems' health entities", entityRetryAfter)
	}
	// The write is committed: finish telling the entities even if the client went away, but
	// never for longer than the notify deadline.
	ctx, cancelAll := context.WithTimeout(context.WithoutCancel(ctx), s.timeouts.Notify)
	defer cancelAll()
	var mu sync.Mutex
	var failed []string
	sem := make(chan struct{}, notifyParallelism)
	var wg sync.WaitGroup
	for _, id := range systemIDs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			sctx, cancel := context.WithTimeout(ctx, notifySignalTimeout)
			defer cancel()
			if err := s.entities.ConfigChanged(sctx, id); err != nil {
				s.log.Error("notify entity after a configuration change", "systemId", id, "err", err)
				mu.Lock()
				failed = append(failed, id)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		sort.Strings(failed)
		return unavailable(ProblemEntityUnreachable, fmt.Sprintf(
			"the change was saved, but the health entity of %s could not be notified; repeat the request to retry", strings.Join(failed, ", ")), entityRetryAfter)
	}
	return nil
}

// notifyParallelism bounds concurrent entity signals of one request.
const notifyParallelism = 8

// gitOpsLock answers 403 when (kind, id) is managed by GitOps (reference §12.3), unless the
// request sends ForceHeader: true with a token that has the admin scope (forceOverride,
// handlers_gitops.go); a forced request without admin is a 403 too.
func (s *Server) gitOpsLock(ctx context.Context, kind, id string) error {
	managed, err := s.store.IsManaged(ctx, kind, id)
	if err != nil {
		return err
	}
	if !managed {
		return nil
	}
	if ok, err := s.forceOverride(ctx, kind, id); ok || err != nil {
		return err
	}
	return newProblem(http.StatusForbidden, ProblemGitOps, kind+" is managed by GitOps and cannot be modified manually.")
}

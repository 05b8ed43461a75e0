// Package server is checkflow's HTTP API (echo/v4). Handlers are thin: they validate, call
// internal/store or the Temporal client, and answer JSON; errors are RFC 9457 problem+json.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.temporal.io/sdk/client"
)

// Config is what the API needs.
type Config struct {
	Pool     *pgxpool.Pool
	Temporal client.Client
	Logger   *slog.Logger
	Version  string
}

// Server is the HTTP API.
type Server struct {
	cfg  Config
	echo *echo.Echo
}

// New builds the API's routes.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = problemHandler(cfg.Logger)
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimit("1M"))
	s := &Server{cfg: cfg, echo: e}
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/api/v1/version", s.version)
	return s
}

// Handler returns the http.Handler serving the API.
func (s *Server) Handler() http.Handler { return s.echo }

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
	if _, err := s.cfg.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
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

// Package apiclient is a small typed client of checkflow's HTTP API (never the database): the
// systems, checks, assignments, health, runs, run-now, tokens and provenance endpoints the CLI
// and `checkflow apply` use.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/health"
)

// ForceHeader is the request header that lets an admin token write to an entity managed by
// GitOps (server/handlers_gitops.go).
const ForceHeader = "X-Checkflow-Force"

// Client talks to one checkflow server.
type Client struct {
	// BaseURL is the server's root, e.g. http://127.0.0.1:8080.
	BaseURL string
	// Token is the bearer token ("" = anonymous).
	Token string
	// HTTP is the HTTP client (default: one with a 60 s timeout).
	HTTP *http.Client
	// Force sends ForceHeader on every write (apply with an admin token).
	Force bool
}

// Error is an API error answer (RFC 9457 problem+json).
type Error struct {
	Status int          `json:"status"`
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Detail string       `json:"detail"`
	Errors []FieldError `json:"errors"`
	// Method and Path of the request.
	Method string `json:"-"`
	Path   string `json:"-"`
}

// FieldError names one invalid field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d", e.Method, e.Path, e.Status)
	if e.Title != "" {
		b.WriteString(" " + e.Title)
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	for _, f := range e.Errors {
		fmt.Fprintf(&b, "; %s: %s", f.Field, f.Message)
	}
	return b.String()
}

// IsStatus reports whether err is an API error with the status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 60 * time.Second}
}

// do sends a request with a JSON body (nil = none) and decodes a JSON answer into out (nil =
// ignore it).
func (c *Client) do(ctx context.Context, method, path string, body, out any, headers ...string) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("apiclient: encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("apiclient: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.Force && method != http.MethodGet {
		req.Header.Set(ForceHeader, "true")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("apiclient: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("apiclient: %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		e := &Error{}
		_ = json.Unmarshal(data, e)
		e.Status, e.Method, e.Path = resp.StatusCode, method, path
		if e.Title == "" {
			e.Title = http.StatusText(resp.StatusCode)
		}
		return e
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("apiclient: %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// ---- systems ---------------------------------------------------------------------------------

// System is a system.
type System struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Labels      map[string]string `json:"labels"`
	CreatedAt   time.Time         `json:"createdAt"`
	UpdatedAt   time.Time         `json:"updatedAt"`
}

// pageSize is the page size of list reads (the API's maximum).
const pageSize = 500

// ListSystems returns every system (all pages).
func (c *Client) ListSystems(ctx context.Context) ([]System, error) {
	var all []System
	for offset := 0; ; offset += pageSize {
		var page struct {
			Systems []System `json:"systems"`
			Total   int      `json:"total"`
		}
		if err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/systems?limit=%d&offset=%d", pageSize, offset), nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Systems...)
		if len(page.Systems) < pageSize || len(all) >= page.Total {
			return all, nil
		}
	}
}

// SystemInput creates or updates a system.
type SystemInput struct {
	ID          string            `json:"id,omitempty"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Labels      map[string]string `json:"labels"`
}

// CreateSystem creates a system.
func (c *Client) CreateSystem(ctx context.Context, in SystemInput) (System, error) {
	if in.Labels == nil {
		in.Labels = map[string]string{}
	}
	var out System
	return out, c.do(ctx, http.MethodPost, "/api/v1/systems", in, &out)
}

// UpdateSystem replaces a system's name, description and labels.
func (c *Client) UpdateSystem(ctx context.Context, id string, in SystemInput) (System, error) {
	in.ID = ""
	if in.Labels == nil {
		in.Labels = map[string]string{}
	}
	var out System
	return out, c.do(ctx, http.MethodPatch, "/api/v1/systems/"+url.PathEscape(id), in, &out)
}

// DeleteSystem deletes a system.
func (c *Client) DeleteSystem(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/systems/"+url.PathEscape(id), nil, nil)
}

// ---- checks ----------------------------------------------------------------------------------

// Check is a health check configuration; x-secret config values read "****".
type Check struct {
	ID              string          `json:"id"`
	Name            string          `json:"name"`
	StrategyID      string          `json:"strategyId"`
	Config          json.RawMessage `json:"config"`
	Collectors      json.RawMessage `json:"collectors"`
	IntervalSeconds int             `json:"intervalSeconds"`
	Paused          bool            `json:"paused"`
	CreatedAt       time.Time       `json:"createdAt"`
	UpdatedAt       time.Time       `json:"updatedAt"`
}

// CollectorEntries decodes the check's collectors.
func (ch Check) CollectorEntries() ([]checks.CollectorEntry, error) {
	var out []checks.CollectorEntry
	if len(ch.Collectors) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(ch.Collectors, &out); err != nil {
		return nil, fmt.Errorf("apiclient: collectors of check %s: %w", ch.ID, err)
	}
	return out, nil
}

// ListChecks returns every check (all pages).
func (c *Client) ListChecks(ctx context.Context) ([]Check, error) {
	var all []Check
	for offset := 0; ; offset += pageSize {
		var page struct {
			Configurations []Check `json:"configurations"`
			Total          int     `json:"total"`
		}
		if err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/checks?limit=%d&offset=%d", pageSize, offset), nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Configurations...)
		if len(page.Configurations) < pageSize || len(all) >= page.Total {
			return all, nil
		}
	}
}

// CheckInput creates or updates a check.
type CheckInput struct {
	Name            string                  `json:"name"`
	StrategyID      string                  `json:"strategyId"`
	Config          any                     `json:"config"`
	Collectors      []checks.CollectorEntry `json:"collectors"`
	IntervalSeconds int                     `json:"intervalSeconds"`
	// Paused is sent on create only (PATCH refuses it: use Pause/Resume).
	Paused *bool `json:"paused,omitempty"`
}

// CreateCheck creates a check.
func (c *Client) CreateCheck(ctx context.Context, in CheckInput) (Check, error) {
	if in.Collectors == nil {
		in.Collectors = []checks.CollectorEntry{}
	}
	var out Check
	return out, c.do(ctx, http.MethodPost, "/api/v1/checks", in, &out)
}

// UpdateCheck replaces a check's name, strategy, config, collectors and interval.
func (c *Client) UpdateCheck(ctx context.Context, id string, in CheckInput) (Check, error) {
	in.Paused = nil
	if in.Collectors == nil {
		in.Collectors = []checks.CollectorEntry{}
	}
	var out Check
	return out, c.do(ctx, http.MethodPatch, "/api/v1/checks/"+url.PathEscape(id), in, &out)
}

// SetPaused pauses or resumes a check.
func (c *Client) SetPaused(ctx context.Context, id string, paused bool) (Check, error) {
	action := "resume"
	if paused {
		action = "pause"
	}
	var out Check
	return out, c.do(ctx, http.MethodPost, "/api/v1/checks/"+url.PathEscape(id)+"/"+action, nil, &out)
}

// DeleteCheck deletes a check from every system.
func (c *Client) DeleteCheck(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/checks/"+url.PathEscape(id), nil, nil)
}

// ---- assignments -----------------------------------------------------------------------------

// Assignment is a check assigned to a system.
type Assignment struct {
	SystemID           string                     `json:"systemId"`
	ConfigurationID    string                     `json:"configurationId"`
	ConfigurationName  string                     `json:"configurationName"`
	Enabled            bool                       `json:"enabled"`
	StateThresholds    *health.Thresholds         `json:"stateThresholds,omitempty"`
	Locations          []string                   `json:"locations"`
	NotificationPolicy *health.NotificationPolicy `json:"notificationPolicy,omitempty"`
	// Quorum is how many locations must fail for a run to fail; nil: a majority of them.
	Quorum *int `json:"quorum,omitempty"`
}

// ListAssignments returns the checks assigned to a system.
func (c *Client) ListAssignments(ctx context.Context, systemID string) ([]Assignment, error) {
	var out struct {
		Associations []Assignment `json:"associations"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/systems/"+url.PathEscape(systemID)+"/checks", nil, &out)
	return out.Associations, err
}

// AssignmentInput sets every field of an assignment (nil thresholds and policy = defaults,
// nil quorum = a majority of the locations).
type AssignmentInput struct {
	Enabled            bool                       `json:"enabled"`
	StateThresholds    *health.Thresholds         `json:"stateThresholds"`
	NotificationPolicy *health.NotificationPolicy `json:"notificationPolicy"`
	Locations          []string                   `json:"locations"`
	// Quorum is sent as null when nil, which resets a stored quorum to a majority.
	Quorum *int `json:"quorum"`
}

// PutAssignment assigns a check to a system (upsert; every field replaced).
func (c *Client) PutAssignment(ctx context.Context, systemID, checkID string, in AssignmentInput) error {
	if in.Locations == nil {
		in.Locations = []string{}
	}
	return c.do(ctx, http.MethodPut, "/api/v1/systems/"+url.PathEscape(systemID)+"/checks/"+url.PathEscape(checkID), in, nil)
}

// DeleteAssignment removes a check from a system.
func (c *Client) DeleteAssignment(ctx context.Context, systemID, checkID string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/systems/"+url.PathEscape(systemID)+"/checks/"+url.PathEscape(checkID), nil, nil)
}

// ---- health and runs -------------------------------------------------------------------------

// CheckHealth is one check's status in a system's health.
type CheckHealth struct {
	ConfigurationID   string     `json:"configurationId"`
	ConfigurationName string     `json:"configurationName"`
	Status            string     `json:"status"`
	RunsConsidered    int        `json:"runsConsidered"`
	LastRunAt         *time.Time `json:"lastRunAt,omitempty"`
	Paused            bool       `json:"paused"`
	NoDataYet         bool       `json:"noDataYet"`
}

// SystemHealth is a system's health.
type SystemHealth struct {
	Status        string        `json:"status"`
	EvaluatedAt   time.Time     `json:"evaluatedAt"`
	CheckStatuses []CheckHealth `json:"checkStatuses"`
	HealthyChecks int           `json:"healthyChecks"`
	TotalChecks   int           `json:"totalChecks"`
	NoDataYet     bool          `json:"noDataYet"`
}

// Health returns a system's health.
func (c *Client) Health(ctx context.Context, systemID string) (SystemHealth, error) {
	var out SystemHealth
	return out, c.do(ctx, http.MethodGet, "/api/v1/systems/"+url.PathEscape(systemID)+"/health", nil, &out)
}

// Run is one run of a check.
type Run struct {
	ID              string    `json:"id"`
	ConfigurationID string    `json:"configurationId"`
	SystemID        string    `json:"systemId"`
	Status          string    `json:"status"`
	Timestamp       time.Time `json:"timestamp"`
	LatencyMs       *int      `json:"latencyMs,omitempty"`
	SourceID        *string   `json:"sourceId,omitempty"`
}

// Runs returns the newest runs of a check on a system, newest first.
func (c *Client) Runs(ctx context.Context, systemID, checkID string, limit int) ([]Run, error) {
	q := url.Values{"systemId": {systemID}, "checkId": {checkID}, "limit": {strconv.Itoa(limit)}}
	var out struct {
		Runs []Run `json:"runs"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/runs?"+q.Encode(), nil, &out)
	return out.Runs, err
}

// RunResult is the answer of run-now: the run and the system's new view.
type RunResult struct {
	Run struct {
		ID              string          `json:"id"`
		ConfigurationID string          `json:"configurationId"`
		Status          string          `json:"status"`
		LatencyMs       *int            `json:"latencyMs,omitempty"`
		Message         string          `json:"message,omitempty"`
		Result          json.RawMessage `json:"result,omitempty"`
		ExecutedAt      time.Time       `json:"executedAt"`
	} `json:"run"`
	View *struct {
		Status        string `json:"status"`
		HealthyChecks int    `json:"healthyChecks"`
		TotalChecks   int    `json:"totalChecks"`
	} `json:"view"`
	Duplicate bool `json:"duplicate"`
}

// RunNow runs a check of a system now; key is the Idempotency-Key ("" = a fresh one).
func (c *Client) RunNow(ctx context.Context, systemID, checkID, key string) (RunResult, error) {
	if key == "" {
		key = fmt.Sprintf("cli-%d", time.Now().UnixNano())
	}
	var out RunResult
	return out, c.do(ctx, http.MethodPost, "/api/v1/systems/"+url.PathEscape(systemID)+"/checks/"+url.PathEscape(checkID)+"/run",
		map[string]any{}, &out, "Idempotency-Key", key)
}

// ---- tokens ----------------------------------------------------------------------------------

// Token is an API token without its secret.
type Token struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
	RevokedAt  *time.Time `json:"revokedAt,omitempty"`
}

// CreatedToken is a new token with its secret (shown only once).
type CreatedToken struct {
	Token
	Secret string `json:"secret"`
}

// CreateToken creates a token (admin).
func (c *Client) CreateToken(ctx context.Context, name string, scopes []string) (CreatedToken, error) {
	var out CreatedToken
	return out, c.do(ctx, http.MethodPost, "/api/v1/tokens", map[string]any{"name": name, "scopes": scopes}, &out)
}

// ListTokens lists the tokens (admin).
func (c *Client) ListTokens(ctx context.Context) ([]Token, error) {
	var out struct {
		Tokens []Token `json:"tokens"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/tokens", nil, &out)
	return out.Tokens, err
}

// RevokeToken revokes a token (admin).
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/tokens/"+url.PathEscape(id), nil, nil)
}

// ---- provenance ------------------------------------------------------------------------------

// Provenance records that an entity is managed by a GitOps context.
type Provenance struct {
	Kind      string    `json:"kind"`
	EntityID  string    `json:"entityId"`
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// ListProvenance lists the managed entities of a kind ("" = every kind).
func (c *Client) ListProvenance(ctx context.Context, kind string) ([]Provenance, error) {
	path := "/api/v1/provenance"
	if kind != "" {
		path += "?kind=" + url.QueryEscape(kind)
	}
	var out struct {
		Provenance []Provenance `json:"provenance"`
	}
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out.Provenance, err
}

// SetProvenance marks an entity as managed by source (admin).
func (c *Client) SetProvenance(ctx context.Context, kind, id, source string) error {
	return c.do(ctx, http.MethodPut, "/api/v1/provenance/"+url.PathEscape(kind)+"/"+url.PathEscape(id), map[string]string{"source": source}, nil)
}

// DeleteProvenance releases an entity from GitOps management (admin).
func (c *Client) DeleteProvenance(ctx context.Context, kind, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/provenance/"+url.PathEscape(kind)+"/"+url.PathEscape(id), nil, nil)
}

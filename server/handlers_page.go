package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/statuspage"
	"github.com/checkflow/checkflow/internal/store"
)

// The HTML status page (issue 15): GET / (every shown system) and GET /status/{systemId} (one
// system with its checks' latency charts), server-rendered by internal/statuspage, with its
// stylesheet and live-update script under /static/. With public status off, the page and its
// stream need a token: "Authorization: Bearer <token>", or ?token=<token> once (the answer then
// sets an HttpOnly cookie carrying the token, which the page's links and its stream send), or
// that cookie.

// StatusPageConfig configures the HTML status page.
type StatusPageConfig struct {
	// Title is the page's title (default "checkflow status").
	Title string
	// LogoURL, when set, is shown beside the title (an absolute http(s) URL or a path).
	LogoURL string
	// Systems are the ids of the systems shown, in this order; empty: every system, by id.
	// Unknown ids are skipped.
	Systems []string
}

// DefaultStatusPageTitle is the status page's title when none is configured.
const DefaultStatusPageTitle = "checkflow status"

// StatusTokenCookie is the cookie carrying the token of a status page opened with ?token=.
const StatusTokenCookie = "checkflow_status_token"

// statusStreamPath is the page's own stream when status needs a token: /api/v1/stream
// authenticated by the cookie (EventSource cannot send an Authorization header).
const statusStreamPath = "/status-stream"

// Bounds of the page's reads.
const (
	// pageParallelism bounds the systems whose uptime is read at once.
	pageParallelism = 4
	// pageTransitions and detailTransitions bound the transitions read per system.
	pageTransitions   = 20
	detailTransitions = 100
	// maxPageSystems bounds the systems of one page.
	maxPageSystems = 2000
)

// contentSecurityPolicy: no inline script or style; the logo may come from anywhere.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https: http:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// htmlPageSchemas are the component schemas of the HTML page's operations.
func htmlPageSchemas() schema {
	return schema{
		"HTMLPage":    schema{"type": "string", "description": "An HTML document."},
		"StaticAsset": schema{"type": "string", "description": "A stylesheet or script of the status page."},
	}
}

// htmlPageRoutes lists this file's endpoints (appended to routeTable).
func (s *Server) htmlPageRoutes() []route {
	r, err := statuspage.NewRenderer()
	if err != nil { // cannot happen: the templates are embedded and tested
		panic(fmt.Sprintf("server: status page: %v", err))
	}
	const auth = " Public unless the server requires tokens for status (`--public-status=false`): then a token is needed, sent as " +
		"`Authorization: Bearer <token>`, as `?token=<token>` (the answer sets the HttpOnly cookie `" + StatusTokenCookie + "` with it, " +
		"which the page's links and live stream send), or as that cookie; without one the answer is a 401 HTML page."
	pageDoc := func(id, summary, desc string) opDoc {
		return opDoc{id: id, tag: "Status page", summary: summary, desc: desc + auth, media: "text/html", response: "HTMLPage", status: http.StatusOK,
			query: []param{{name: "token", desc: "An API token, when status needs one (it is then kept in a cookie).", schema: str()}}}
	}
	assetDoc := func(id, summary, media string) opDoc {
		return opDoc{id: id, tag: "Status page", summary: summary, media: media, response: "StaticAsset", status: http.StatusOK,
			errors: []int{http.StatusNotModified},
			respHeaders: schema{
				"Cache-Control": schema{"description": "public, max-age=300", "schema": str()},
				"ETag":          schema{"description": "The file's entity tag.", "schema": str()},
			}}
	}
	return []route{
		{method: http.MethodGet, path: "/", handler: s.statusIndex(r), doc: pageDoc("getStatusPage", "The HTML status page",
			"The overall banner, every shown system with its status and since when, its uptime over 24 h, 7 d, 30 d and 90 d on the evaluated status "+
				"(as GET …/uptime) beside the raw success rate, a 90-day bar, the latest transitions as incident history and the active and upcoming maintenance windows. "+
				"A small script follows the live stream and updates the statuses without a reload; the page works without it.")},
		{method: http.MethodGet, path: "/status/{systemId}", handler: s.statusSystem(r), doc: pageDoc("getSystemStatusPage", "The HTML status page of one system",
			"Like the status page, for one shown system, with the latency of each check over the last 24 hours (hourly average and p95 from the hourly aggregates) "+
				"and its transitions. 404 (an HTML page) for a system that is not shown.")},
		{method: http.MethodGet, path: statusStreamPath, handler: s.statusStream, ownDeadline: true, doc: opDoc{id: "streamStatusPageEvents", tag: "Status page",
			summary: "The status page's live stream",
			desc: "GET /api/v1/stream (same parameters, events and resumption) for the status page when status needs a token: it also accepts the token as `?token=` " +
				"or the cookie `" + StatusTokenCookie + "`, which EventSource sends (it cannot send an Authorization header).",
			query: []param{
				{name: "systemId", desc: "Only events of these systems (repeat the parameter or separate with commas).", schema: schema{"type": "array", "items": str(), "maxItems": maxStreamSystems}, explode: true},
				{name: "lastEventId", desc: "Resume after this event id.", schema: schema{"type": "integer", "minimum": 0}},
				{name: "token", desc: "An API token, when status needs one.", schema: str()},
			},
			media: "text/event-stream", response: "EventStream", status: http.StatusOK,
			respHeaders: schema{"Cache-Control": schema{"description": "no-cache", "schema": str()}}}},
		{method: http.MethodGet, path: statuspage.AssetCSS, handler: s.statusAsset(r, statuspage.AssetCSS), doc: assetDoc("getStatusPageStylesheet", "The status page's stylesheet", "text/css")},
		{method: http.MethodGet, path: statuspage.AssetJS, handler: s.statusAsset(r, statuspage.AssetJS), doc: assetDoc("getStatusPageScript", "The status page's live-update script", "text/javascript")},
	}
}

// statusAsset serves an embedded asset with an ETag (304 when If-None-Match has it).
func (s *Server) statusAsset(r *statuspage.Renderer, path string) echo.HandlerFunc {
	return func(c echo.Context) error {
		a, ok := r.Asset(path)
		if !ok {
			return echo.ErrNotFound
		}
		h := c.Response().Header()
		h.Set(echo.HeaderCacheControl, "public, max-age=300")
		h.Set("ETag", a.ETag)
		h.Set(echo.HeaderXContentTypeOptions, "nosniff")
		if etagMatches(c.Request().Header.Get("If-None-Match"), a.ETag) {
			return c.NoContent(http.StatusNotModified)
		}
		return c.Blob(http.StatusOK, a.ContentType, a.Body)
	}
}

// pageToken finds the token of a page request: the Authorization header, else (when status
// needs a token) ?token= or the cookie. fromHeader and fromQuery say where it came from.
func (s *Server) pageToken(c echo.Context) (token string, fromHeader, fromQuery bool, err error) {
	r := c.Request()
	if h := r.Header.Get(echo.HeaderAuthorization); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return "", true, false, errors.New(`the Authorization header must be "Bearer <token>"`)
		}
		return strings.TrimSpace(tok), true, false, nil
	}
	if s.publicStatus {
		// A stale cookie or a token in a shared link never locks anyone out of a public page.
		return "", false, false, nil
	}
	// The URL's own query, not c.QueryParams (which would cache it before statusStream strips
	// the token).
	if tok := strings.TrimSpace(r.URL.Query().Get("token")); tok != "" {
		return tok, false, true, nil
	}
	if ck, err := r.Cookie(StatusTokenCookie); err == nil && ck.Value != "" {
		return ck.Value, false, false, nil
	}
	return "", false, false, nil
}

// errPageUnauthorized: the 401 page of a page request is written.
var errPageUnauthorized = errors.New("status page: unauthorized")

// pageAuth authenticates a page request like a status:read endpoint: a malformed or unknown
// bearer token is a 401 even when status is public; with public status off, a valid token
// (header, ?token= or cookie) is required. A token sent as ?token= is kept in the cookie. The
// 401 is an HTML page for a browser (html and Accept: text/html; errPageUnauthorized is
// returned once it is written), else a problem.
func (s *Server) pageAuth(c echo.Context, html bool) error {
	token, _, fromQuery, err := s.pageToken(c)
	detail := "This status page needs an API token: open it with ?token=<token> (it is then kept in a cookie) or send Authorization: Bearer <token>."
	switch {
	case err != nil:
		detail = err.Error()
	case token == "" && s.publicStatus:
		return nil
	case token != "":
		ctx, cancel := context.WithTimeout(c.Request().Context(), s.timeouts.Request)
		defer cancel()
		_, aerr := s.store.AuthenticateToken(ctx, token, s.now())
		switch {
		case aerr == nil:
			if fromQuery {
				c.SetCookie(&http.Cookie{Name: StatusTokenCookie, Value: token, Path: "/", HttpOnly: true,
					SameSite: http.SameSiteLaxMode, Secure: c.Scheme() == "https"})
			}
			return nil
		case errors.Is(aerr, store.ErrNotFound):
			detail = "The token is unknown or revoked."
		default:
			return fmt.Errorf("status page: authenticate: %w", aerr)
		}
	}
	if !html || !strings.Contains(c.Request().Header.Get(echo.HeaderAccept), "text/html") {
		return unauthorized(c, detail)
	}
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="checkflow"`)
	if werr := s.htmlMessage(c, http.StatusUnauthorized, "Token required", detail); werr != nil {
		return werr
	}
	return errPageUnauthorized
}

// htmlMessage answers a short HTML page (401, 404).
func (s *Server) htmlMessage(c echo.Context, code int, title, detail string) error {
	setPageHeaders(c)
	var b bytes.Buffer
	b.WriteString(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
		`<link rel="icon" href="data:,"><link rel="stylesheet" href="` + statuspage.AssetCSS + `"><title>`)
	b.WriteString(htmlEscape(title))
	b.WriteString(`</title></head><body><main id="main"><h1>`)
	b.WriteString(htmlEscape(title))
	b.WriteString(`</h1><p>`)
	b.WriteString(htmlEscape(detail))
	b.WriteString(`</p><p><a href="/">Status page</a></p></main></body></html>`)
	return c.HTMLBlob(code, b.Bytes())
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

func setPageHeaders(c echo.Context) {
	h := c.Response().Header()
	h.Set(echo.HeaderContentSecurityPolicy, contentSecurityPolicy)
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
	// A token in the URL never leaves in a Referer.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set(echo.HeaderCacheControl, "no-store")
}

// statusIndex serves GET /.
func (s *Server) statusIndex(r *statuspage.Renderer) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := s.pageAuth(c, true); err != nil {
			return ignoreWritten(err)
		}
		systems, err := s.shownSystems(c.Request().Context())
		if err != nil {
			return err
		}
		return s.renderPage(c, r, systems, false)
	}
}

// statusSystem serves GET /status/{systemId}.
func (s *Server) statusSystem(r *statuspage.Renderer) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathParam(c, "systemId")
		if err != nil {
			return err
		}
		if err := s.pageAuth(c, true); err != nil {
			return ignoreWritten(err)
		}
		ctx := c.Request().Context()
		if len(s.statusPage.Systems) > 0 && !slices.Contains(s.statusPage.Systems, id) {
			return s.htmlMessage(c, http.StatusNotFound, "Not found", "No system "+id+" on this status page.")
		}
		sys, err := s.store.GetSystem(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return s.htmlMessage(c, http.StatusNotFound, "Not found", "No system "+id+" on this status page.")
		}
		if err != nil {
			return err
		}
		return s.renderPage(c, r, []store.System{sys}, true)
	}
}

// ignoreWritten turns errPageUnauthorized (the answer is written) into nil.
func ignoreWritten(err error) error {
	if errors.Is(err, errPageUnauthorized) {
		return nil
	}
	return err
}

// statusStream serves the page's stream: GET /api/v1/stream authenticated like the page.
func (s *Server) statusStream(c echo.Context) error {
	if err := s.pageAuth(c, false); err != nil {
		return err
	}
	r := c.Request()
	if q := r.URL.Query(); q.Has("token") {
		q.Del("token")
		r2 := r.Clone(r.Context())
		r2.URL.RawQuery = q.Encode()
		c.SetRequest(r2)
	}
	return s.stream(c)
}

// shownSystems are the configured systems that exist, in the configured order, or every system
// by id.
func (s *Server) shownSystems(ctx context.Context) ([]store.System, error) {
	var out []store.System
	if ids := s.statusPage.Systems; len(ids) > 0 {
		for _, id := range ids {
			sys, err := s.store.GetSystem(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			out = append(out, sys)
		}
		return out, nil
	}
	for offset := 0; offset < maxPageSystems; offset += store.MaxListLimit {
		page, total, err := s.store.ListSystems(ctx, store.Page{Limit: store.MaxListLimit, Offset: offset})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < store.MaxListLimit || offset+len(page) >= total {
			break
		}
	}
	return out, nil
}

// renderPage reads what the page shows of the systems and renders it.
func (s *Server) renderPage(c echo.Context, r *statuspage.Renderer, systems []store.System, detail bool) error {
	ctx := c.Request().Context()
	now := s.now().UTC()
	in, err := s.statusPageInput(ctx, systems, now, detail)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := r.Render(&buf, statuspage.Build(in)); err != nil {
		return err
	}
	setPageHeaders(c)
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}

// statusPageInput reads the systems' health, uptime (store.Uptime, the JSON API's figures),
// transitions, maintenance windows and, for a system's page, the hourly latency.
func (s *Server) statusPageInput(ctx context.Context, systems []store.System, now time.Time, detail bool) (statuspage.Input, error) {
	cfg := s.statusPage
	in := statuspage.Input{Title: cfg.Title, LogoURL: cfg.LogoURL, Now: now, Detail: detail}
	if in.Title == "" {
		in.Title = DefaultStatusPageTitle
	}
	ids := make([]string, len(systems))
	for i, sys := range systems {
		ids[i] = sys.ID
	}
	in.StreamURL = s.pageStreamURL(ids)
	reads, err := s.store.ReadHealthAt(ctx, ids, now)
	if err != nil {
		return in, err
	}
	in.Systems = make([]statuspage.SystemData, len(systems))
	for i, sys := range systems {
		in.Systems[i] = systemData(sys, reads[sys.ID])
	}
	// Uptime, transitions and latency per system, a few systems at a time.
	errs := make([]error, len(systems))
	sem := make(chan struct{}, pageParallelism)
	var wg sync.WaitGroup
	for i := range in.Systems {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = s.readSystemPage(ctx, &in.Systems[i], now, detail)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return in, err
	}
	for _, state := range []string{store.MaintenanceActive, store.MaintenanceScheduled} {
		ws, err := s.store.ListMaintenances(ctx, store.MaintenanceFilter{State: state, At: now, Limit: store.MaxListLimit})
		if err != nil {
			return in, err
		}
		in.Maintenances = append(in.Maintenances, ws...)
	}
	return in, nil
}

// systemData is a system's health as the page shows it: the stored view, else the baseline.
func systemData(sys store.System, hr store.HealthRead) statuspage.SystemData {
	sd := statuspage.SystemData{System: sys, Status: health.Healthy, NoData: true, InMaintenance: hr.InMaintenance, TotalChecks: len(hr.Checks)}
	for _, cr := range hr.Checks {
		sd.Checks = append(sd.Checks, statuspage.CheckData{ID: cr.ConfigurationID, Name: cr.ConfigurationName, Status: cr.Status,
			Paused: cr.Paused, NoData: cr.RunsConsidered == 0})
		if cr.RunsConsidered > 0 {
			sd.NoData = false
		}
	}
	if v := hr.View; v != nil {
		sd.Status, sd.HealthyChecks, sd.TotalChecks = v.Status, v.HealthyChecks, v.TotalChecks
		since := v.InStatusSince
		sd.InStatusSince = &since
	} else if b := health.BaselineView(len(hr.Checks)); b != nil {
		sd.Status, sd.HealthyChecks, sd.TotalChecks = b.Status, b.HealthyChecks, b.TotalChecks
	}
	return sd
}

func (s *Server) readSystemPage(ctx context.Context, sd *statuspage.SystemData, now time.Time, detail bool) error {
	id := sd.System.ID
	sd.Uptime = make(map[health.UptimeWindow]store.Uptime, 4)
	for _, w := range health.UptimeWindows() {
		u, err := s.store.Uptime(ctx, store.UptimeQuery{SystemID: id, Window: w, Now: now})
		if err != nil {
			return err
		}
		sd.Uptime[w] = u
	}
	limit := pageTransitions
	if detail {
		limit = detailTransitions
	}
	trs, err := s.store.ListTransitions(ctx, store.TransitionFilter{SystemID: id, Page: store.Page{Limit: limit}})
	if err != nil {
		return err
	}
	sd.Transitions = trs
	if detail {
		from := now.Truncate(time.Hour).Add(-23 * time.Hour)
		rows, err := s.store.HourlyLatency(ctx, id, from, now.Add(time.Hour))
		if err != nil {
			return err
		}
		sd.Latency = rows
	}
	return nil
}

// pageStreamURL is the stream the page's script follows: /api/v1/stream when status is public,
// else the page's own stream (the cookie authenticates it).
func (s *Server) pageStreamURL(ids []string) string {
	path := v1 + "/stream"
	if !s.publicStatus {
		path = statusStreamPath
	}
	if len(ids) == 0 || len(ids) > maxStreamSystems {
		return path
	}
	return path + "?systemId=" + url.QueryEscape(strings.Join(ids, ","))
}

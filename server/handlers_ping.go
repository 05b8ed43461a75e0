package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/heartbeat"
	"github.com/checkflow/checkflow/internal/safetext"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/workflows"
)

// Heartbeat pings: a job proves it ran by calling /api/v1/ping/{token} (no bearer token: the
// check's unguessable ping token is the credential). The API looks the check up by the token's
// SHA-256, and hands the ping to the entity of every system the check is enabled in. Pings for
// one system that arrive while a signal to its entity is in flight travel together in the next
// (pingBatcher), so that a burst of pings costs Temporal a handful of workflow tasks, not one
// each; a ping is answered once its signal was accepted (nothing is acknowledged that could
// still be lost).

const (
	// maxPingBatch bounds the pings of one signal (each at most heartbeat.MaxBodyBytes of body).
	maxPingBatch = 64
	// pingSignalGap is the least time between the starts of two signals of one system's pings: a
	// burst goes as ≤ 10 signals per second per system, a lone ping at once (measured at 1,000
	// pings/s: 25 ms gave 3.8 pings per signal, 100 ms 10, with less latency and no more CPU).
	pingSignalGap = 100 * time.Millisecond
	// pingTokenBytes is the ping token's entropy; encoded it is 43 characters.
	pingTokenBytes = 32
)

// pingRoutes are the routes of heartbeat pings: GET and POST, with or without an action.
func (s *Server) pingRoutes() []route {
	desc := "No `Authorization`: the check's ping token (`pingToken` in the check, for callers with config:read) is the credential. " +
		"The ping counts for every system the check is enabled in. A POST body (text, at most 10 KiB kept) is stored as the run's output. " +
		"A success restarts the check's deadline (the period or the next cron time, plus the grace time); a check whose deadline passes without a ping fails, and again every period until a ping arrives. " +
		"404 for a token no check has."
	actionDesc := desc + " The action: `start` (the job began: no run; a success that follows records the job's duration as the run's latency, and without one within the grace time the check fails), " +
		"`fail` (a failed run at once), or an exit code 0–255 (0 a success, any other a failure)."
	var out []route
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		out = append(out,
			route{method: m, path: v1 + "/ping/{token}", handler: s.ping, doc: opDoc{id: "ping" + methodSuffix(m), tag: "Heartbeats", summary: "Report that a heartbeat check's job succeeded",
				desc: desc, status: 200, response: "PingAccepted", errors: []int{404, 503}}},
			route{method: m, path: v1 + "/ping/{token}/{action}", handler: s.ping, doc: opDoc{id: "pingAction" + methodSuffix(m), tag: "Heartbeats", summary: "Report a heartbeat check's job started, failed or exited",
				desc: actionDesc, status: 200, response: "PingAccepted", errors: []int{404, 503}}},
		)
	}
	return out
}

func methodSuffix(m string) string {
	if m == http.MethodGet {
		return "Get"
	}
	return ""
}

// pingSchemas are the OpenAPI schemas of heartbeat pings.
func pingSchemas() schema {
	return schema{
		"PingAccepted": object([]string{"kind", "systems"}, schema{
			"kind":    schema{"type": "string", "enum": []string{string(heartbeat.Success), string(heartbeat.Start), string(heartbeat.Fail)}},
			"systems": describe(integer(), "How many systems' entities received the ping (0: the check is enabled in no system, and the ping is dropped)."),
		}),
	}
}

type pingAccepted struct {
	Kind    heartbeat.Kind `json:"kind"`
	Systems int            `json:"systems"`
}

func (s *Server) ping(c echo.Context) error {
	ctx := c.Request().Context()
	token := c.Param("token")
	p, err := heartbeat.ParseAction(c.Param("action"))
	if err != nil {
		return notFoundProblem(err.Error())
	}
	if len(token) != base64.RawURLEncoding.EncodedLen(pingTokenBytes) {
		return notFoundProblem("no check has this ping token")
	}
	sum := sha256.Sum256([]byte(token))
	target, err := s.store.PingTargetByHash(ctx, sum[:])
	var nf *store.NotFoundError
	if errors.As(err, &nf) || (err == nil && !heartbeat.IsStrategy(target.StrategyID)) {
		return notFoundProblem("no check has this ping token")
	}
	if err != nil {
		return err
	}
	var body []byte
	if c.Request().Body != nil {
		body, err = io.ReadAll(io.LimitReader(c.Request().Body, heartbeat.MaxBodyBytes+1))
		if err != nil {
			return malformed("reading the ping body: " + err.Error())
		}
	}
	r := pingResult(target.ConfigurationID, p, body, s.now().UTC())
	if s.entities == nil {
		return newProblem(http.StatusServiceUnavailable, ProblemUnavailable, "no Temporal client is configured to hand the ping to the systems' health entities")
	}
	// Every system's entity gets the ping; the first failure is the answer (the client pings
	// again, and the run ids keep a repeated ping apart from this one).
	errs := make([]error, len(target.SystemIDs))
	var wg sync.WaitGroup
	for i, sys := range target.SystemIDs {
		wg.Go(func() { errs[i] = s.pings.send(ctx, sys, r) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.log.Warn("ping not delivered", "configurationId", target.ConfigurationID, "error", err)
		return unavailable(ProblemEntityUnreachable, "the ping could not be handed to the systems' health entities; ping again", entityRetryAfter)
	}
	return c.JSON(http.StatusOK, pingAccepted{Kind: p.Kind, Systems: len(target.SystemIDs)})
}

// pingResult is the check result of a ping. Its id is random: every ping is a run of its own.
func pingResult(configurationID string, p heartbeat.Ping, body []byte, at time.Time) workflows.CheckResult {
	detail := map[string]any{"ping": p.Kind}
	if p.ExitCode != nil {
		detail["exitCode"] = *p.ExitCode
	}
	if len(body) > 0 {
		text := string(body)
		if len(body) > heartbeat.MaxBodyBytes {
			text = string(body[:heartbeat.MaxBodyBytes])
			detail["bodyTruncated"] = true
		}
		detail["body"] = safetext.String(text)
	}
	raw, _ := json.Marshal(detail)
	r := workflows.CheckResult{
		ID: "ping:" + uuid.NewString(), ConfigurationID: configurationID, Status: health.Healthy,
		Result: raw, ExecutedAt: at, Ping: &heartbeat.Ping{Kind: p.Kind, ExitCode: p.ExitCode},
	}
	switch {
	case p.Kind == heartbeat.Fail && p.ExitCode != nil:
		r.Status, r.Message = health.Unhealthy, fmt.Sprintf("the job exited with code %d", *p.ExitCode)
	case p.Kind == heartbeat.Fail:
		r.Status, r.Message = health.Unhealthy, "the job reported a failure"
	case p.Kind == heartbeat.Start:
		r.Message = "the job started"
	default:
		r.Message = "ping received"
	}
	return r
}

// isHeartbeat tells whether a strategy id names the heartbeat strategy.
func (s *Server) isHeartbeat(strategyID string) bool {
	if st, ok := s.checks.Strategy(strategyID); ok {
		return heartbeat.IsStrategy(st.Info().ID)
	}
	return false
}

// newPingToken makes a ping token: random, stored as its hash and sealed (never in plain text).
func (s *Server) newPingToken() (store.PingToken, error) {
	if s.box == nil {
		return store.PingToken{}, newProblem(http.StatusServiceUnavailable, ProblemUnavailable,
			"a heartbeat check's ping token is stored sealed, which needs a secret key; start the server with --secret-key / CHECKFLOW_SECRET_KEY")
	}
	b := make([]byte, pingTokenBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	tok := base64.RawURLEncoding.EncodeToString(b)
	sealed, err := s.box.Seal(tok)
	if err != nil {
		return store.PingToken{}, fmt.Errorf("seal ping token: %w", err)
	}
	sum := sha256.Sum256([]byte(tok))
	return store.PingToken{Hash: sum[:], Sealed: sealed}, nil
}

// openPingToken is the check's ping token in plain text ("" for other checks, or when the
// server cannot open it).
func (s *Server) openPingToken(c store.Configuration) string {
	if c.PingTokenSealed == "" || s.box == nil {
		return ""
	}
	tok, err := s.box.Open(c.PingTokenSealed)
	if err != nil {
		s.log.Error("ping token does not open with the server's secret key", "configurationId", c.ID, "error", err)
		return ""
	}
	return tok
}

// requestBase is the scheme and host the caller reached the API at.
func requestBase(c echo.Context) string {
	return c.Scheme() + "://" + c.Request().Host
}

// pingBatcher hands each system's pings to its entity like a group commit: a ping for a system
// with no signal in flight goes at once; pings that arrive while one is in flight wait for it and
// then travel together in the next signal (at most maxPingBatch per signal). A lone ping costs no
// waiting, and a burst costs Temporal a few signals instead of one each.
type pingBatcher struct {
	entities Entities

	mu      sync.Mutex
	systems map[string]*pingLane
}

// pingLane is one system's signal in flight and the batch that waits for it.
type pingLane struct {
	inFlight bool
	next     *pingBatch
}

type pingBatch struct {
	results []workflows.CheckResult
	done    chan struct{}
	err     error
}

func newPingBatcher(entities Entities) *pingBatcher {
	return &pingBatcher{entities: entities, systems: map[string]*pingLane{}}
}

// send adds r to the system's next signal and waits until that signal was accepted.
func (b *pingBatcher) send(ctx context.Context, systemID string, r workflows.CheckResult) error {
	b.mu.Lock()
	lane := b.systems[systemID]
	if lane == nil {
		lane = &pingLane{}
		b.systems[systemID] = lane
	}
	bt := lane.next
	if bt == nil || len(bt.results) >= maxPingBatch {
		bt = &pingBatch{done: make(chan struct{})}
		if lane.inFlight && lane.next == nil {
			lane.next = bt // waits for the signal in flight
		} else {
			// Nothing in flight (go now), or the waiting batch is full (a parallel signal).
			bt.results = append(bt.results, r)
			goNow := !lane.inFlight
			lane.inFlight = true
			b.mu.Unlock()
			go b.flush(systemID, bt, goNow)
			return b.wait(ctx, systemID, bt)
		}
	}
	bt.results = append(bt.results, r)
	b.mu.Unlock()
	return b.wait(ctx, systemID, bt)
}

func (b *pingBatcher) wait(ctx context.Context, systemID string, bt *pingBatch) error {
	select {
	case <-bt.done:
		return bt.err
	case <-ctx.Done():
		return fmt.Errorf("ping for %s: %w", systemID, ctx.Err())
	}
}

// flush signals the batch. When it owns the system's lane (owner), it then sends the batch that
// gathered meanwhile — waiting until pingSignalGap after the previous signal began — until none
// gathered.
func (b *pingBatcher) flush(systemID string, bt *pingBatch, owner bool) {
	for bt != nil {
		began := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		bt.err = b.entities.SendResults(ctx, systemID, bt.results)
		cancel()
		close(bt.done)
		if !owner {
			return
		}
		if wait := pingSignalGap - time.Since(began); wait > 0 {
			time.Sleep(wait) // rate control: the next batch gathers meanwhile
		}
		b.mu.Lock()
		lane := b.systems[systemID]
		bt, lane.next = lane.next, nil
		if bt == nil {
			delete(b.systems, systemID)
		}
		b.mu.Unlock()
	}
}

package server

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/checkflow/checkflow/internal/eventstream"
	"github.com/checkflow/checkflow/internal/store"
)

// The live stream: GET /api/v1/stream, Server-Sent Events derived from the outbox.

// Defaults of StreamOptions.
const (
	// DefaultStreamHeartbeat is the time between two keep-alive comments of an idle stream.
	DefaultStreamHeartbeat = 15 * time.Second
	// DefaultStreamWriteTimeout bounds one write to a stream client: a client that takes longer
	// to accept bytes is disconnected.
	DefaultStreamWriteTimeout = 30 * time.Second
	// streamCatchUpPage is the page size of the catch-up after Last-Event-ID.
	streamCatchUpPage = 500
	// streamRetryMs is the reconnection delay the stream asks EventSource clients to use.
	streamRetryMs = 2000
	// maxStreamSystems bounds the systemId filter of one stream.
	maxStreamSystems = 1000
)

// StreamOptions tune GET /api/v1/stream; zero values take the defaults.
type StreamOptions struct {
	// PollInterval is the time between two reads of the outbox (eventstream.DefaultInterval).
	PollInterval time.Duration
	// Buffer is each client's buffer in events (eventstream.DefaultBuffer): a client further
	// behind is disconnected and resumes with Last-Event-ID.
	Buffer int
	// Heartbeat is the time between keep-alive comments (DefaultStreamHeartbeat).
	Heartbeat time.Duration
	// WriteTimeout bounds one write to a client (DefaultStreamWriteTimeout).
	WriteTimeout time.Duration
	// OnPoll is called after every poll of the outbox with the id up to which events were
	// handed out (tests wait on it).
	OnPoll func(delivered int64)
}

// WithStream tunes the live stream.
func WithStream(o StreamOptions) Option {
	return func(s *Server) { s.streamOpts = o }
}

// Close ends the live streams (their clients reconnect elsewhere) and stops the outbox poller.
// The API keeps answering other requests; call it when the HTTP server shuts down
// (http.Server.RegisterOnShutdown), since streams never go idle on their own.
func (s *Server) Close() { s.hub.Close() }

// newStreamHub builds the process's one outbox poller.
func (s *Server) newStreamHub() *eventstream.Hub {
	o := s.streamOpts
	return eventstream.NewHub(s.store, eventstream.Options{Interval: o.PollInterval, Buffer: o.Buffer, Logger: s.log, OnPoll: o.OnPoll})
}

// parseEventID reads a Last-Event-ID value: a non-negative integer.
func parseEventID(v string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return n, err == nil && n >= 0
}

// kicker cuts a blocked write to a stream client when the hub drops it, but never once the
// handler has returned (the connection may serve another request by then).
type kicker struct {
	mu   sync.Mutex
	done bool
	rc   *http.ResponseController
}

func (k *kicker) kick() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.done {
		_ = k.rc.SetWriteDeadline(time.Now())
	}
}

func (k *kicker) finish() {
	k.mu.Lock()
	k.done = true
	k.mu.Unlock()
}

// streamWriter writes SSE frames to one client with a deadline per flush.
type streamWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	buf     bytes.Buffer
}

func (w *streamWriter) add(b []byte) { w.buf.Write(b) }

// flush sends what was added. An error means the client is gone or too slow.
func (w *streamWriter) flush() error {
	if w.buf.Len() == 0 {
		return nil
	}
	// Not every ResponseWriter supports deadlines (httptest's recorder does not).
	if err := w.rc.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := w.w.Write(w.buf.Bytes()); err != nil {
		return err
	}
	w.buf.Reset()
	return w.rc.Flush()
}

// stream serves GET /api/v1/stream: run.completed, system.status_changed, maintenance.started and
// maintenance.ended events, each with the outbox row id as its SSE id. A client sending
// Last-Event-ID (or ?lastEventId=) first gets every event after that id from the outbox, then the
// live ones — no gap, no duplicate.
func (s *Server) stream(c echo.Context) error {
	q := newQuery(c)
	systems := q.strs("systemId")
	if len(systems) > maxStreamSystems {
		q.fail("systemId", "at most 1000 system ids")
	}
	for _, id := range systems {
		if len(id) > 128 {
			q.fail("systemId", "a system id has at most 128 characters")
			break
		}
	}
	var lastID int64 = -1
	if v, ok := q.raw("lastEventId"); ok {
		if lastID, ok = parseEventID(v); !ok {
			q.fail("lastEventId", "must be a non-negative integer")
		}
	}
	// The header wins: EventSource sends it on reconnection, with the URL of the first
	// connection (whose lastEventId may be older).
	if v := c.Request().Header.Get("Last-Event-ID"); strings.TrimSpace(v) != "" {
		var ok bool
		if lastID, ok = parseEventID(v); !ok {
			q.fail("Last-Event-ID", "must be a non-negative integer")
		}
	}
	if err := q.finish(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	res := c.Response()
	rc := http.NewResponseController(res)
	k := &kicker{rc: rc}
	defer k.finish()
	// The hub knows where to start once it read the outbox: bounded like any request (the
	// database may be away).
	subCtx, cancel := context.WithTimeout(ctx, s.timeouts.Request)
	sub, err := s.hub.Subscribe(subCtx, eventstream.Filter{SystemIDs: systems}, k.kick)
	cancel()
	switch {
	case errors.Is(err, eventstream.ErrClosed):
		return unavailable(ProblemUnavailable, "the server is shutting down; reconnect", time.Second)
	case err != nil && ctx.Err() != nil:
		return nil // the client went away
	case errors.Is(err, context.DeadlineExceeded):
		return unavailable(ProblemDatabaseUnavailable, "the event outbox cannot be read now", databaseRetryAfter)
	case err != nil:
		return err
	}
	defer sub.Close()
	start := sub.Start()

	// Where the catch-up begins, and whether to say that events were lost first.
	cursor, skipUpTo := start, int64(-1)
	var reset []byte
	if lastID >= 0 {
		bctx, cancel := context.WithTimeout(ctx, s.timeouts.Request)
		oldest, allocated, err := s.store.OutboxBounds(bctx)
		cancel()
		if err != nil {
			return err
		}
		switch {
		case lastID > allocated:
			// An id this outbox never handed out: another database, or a restore.
			reset = eventstream.ResetFrame(lastID, start, "unknown-id")
		case lastID > start:
			// Ahead of this server (another server has seen more): skip what the client has.
			skipUpTo = lastID
		case (oldest > 0 && lastID+1 < oldest) || (oldest == 0 && lastID < start):
			// Events after lastID were pruned: start from the oldest one kept.
			cursor = max(oldest-1, 0)
			if oldest == 0 {
				cursor = start
			}
			reset = eventstream.ResetFrame(lastID, cursor, "pruned")
		default:
			cursor = lastID
		}
	}

	timeout := s.streamOpts.WriteTimeout
	if timeout <= 0 {
		timeout = DefaultStreamWriteTimeout
	}
	w := &streamWriter{w: res, rc: rc, timeout: timeout}
	h := res.Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set(echo.HeaderCacheControl, "no-cache")
	h.Set("X-Accel-Buffering", "no") // no proxy buffering (nginx)
	res.WriteHeader(http.StatusOK)
	w.add([]byte(": checkflow live stream\nretry: " + strconv.Itoa(streamRetryMs) + "\n\n"))
	if reset != nil {
		w.add(reset)
	}
	if err := w.flush(); err != nil {
		return nil
	}

	// Catch-up from the outbox: (cursor, start], in pages.
	for cursor < start {
		pctx, cancel := context.WithTimeout(ctx, s.timeouts.Request)
		rows, _, err := s.store.StreamEvents(pctx, store.StreamFilter{After: cursor, UpTo: start,
			Types: eventstream.OutboxTypes(), SystemIDs: systems, Limit: streamCatchUpPage})
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("live stream: catch-up from the outbox failed; the client will resume", "err", err)
			}
			return nil
		}
		for _, r := range rows {
			if e, ok := eventstream.FromRow(r); ok {
				w.add(e.Frame())
			}
		}
		if err := w.flush(); err != nil {
			return nil
		}
		if len(rows) < streamCatchUpPage {
			break
		}
		cursor = rows[len(rows)-1].ID
	}

	heartbeat := s.streamOpts.Heartbeat
	if heartbeat <= 0 {
		heartbeat = DefaultStreamHeartbeat
	}
	ticker := time.NewTicker(heartbeat)
	defer ticker.Stop()
	for {
		select {
		case e := <-sub.Events():
			if e.ID > skipUpTo {
				w.add(e.Frame())
			}
			// Send everything already waiting in one write.
		drain:
			for range cap(sub.Events()) {
				select {
				case e := <-sub.Events():
					if e.ID > skipUpTo {
						w.add(e.Frame())
					}
				default:
					break drain
				}
			}
			if err := w.flush(); err != nil {
				return nil
			}
			ticker.Reset(heartbeat)
		case <-ticker.C:
			w.add([]byte(": keep-alive\n\n"))
			if err := w.flush(); err != nil {
				return nil
			}
		case <-sub.Done():
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

package eventstream

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/checkflow/checkflow/internal/store"
)

// Source is where the hub reads the outbox; *store.Store implements it.
type Source interface {
	// OutboxHorizon tells which transactions may still add outbox rows.
	OutboxHorizon(ctx context.Context) (store.OutboxHorizon, error)
	// StreamEvents reads outbox rows by id and the highest id visible.
	StreamEvents(ctx context.Context, f store.StreamFilter) ([]store.StreamRow, int64, error)
}

// Defaults of Options.
const (
	DefaultInterval = 250 * time.Millisecond
	DefaultBuffer   = 256
	// DefaultPageSize bounds the events handed to subscribers in one go; a larger backlog is
	// handed over in pages DefaultPagePause apart, so that subscribers that keep up drain their
	// buffers in between.
	DefaultPageSize  = 128
	DefaultPagePause = 20 * time.Millisecond
	// maxRetryDelay bounds the wait between polls while the database fails.
	maxRetryDelay = 5 * time.Second
)

// Options tune a Hub; zero values take the defaults.
type Options struct {
	// Interval is the time between two polls of the outbox (DefaultInterval).
	Interval time.Duration
	// Buffer is each subscriber's buffer in events (DefaultBuffer): a subscriber that falls
	// further behind is dropped.
	Buffer int
	// PageSize and PagePause pace the hand-over of a backlog (DefaultPageSize, DefaultPagePause).
	PageSize  int
	PagePause time.Duration
	Logger    *slog.Logger
	// OnPoll, when set, is called after every successful poll with the id up to which events
	// have been handed out (-1 before the first final id is known). Tests wait on it.
	OnPoll func(delivered int64)
}

// Errors of a subscription.
var (
	// ErrClosed: the hub was closed (the server is shutting down).
	ErrClosed = errors.New("eventstream: closed")
	// ErrTooSlow: the subscriber fell more than its buffer behind and was dropped; it should
	// reconnect with its last event id.
	ErrTooSlow = errors.New("eventstream: subscriber too slow")
)

// Hub is the one poller of a process and its subscribers. The poller runs while there are
// subscribers: it reads the outbox every Interval and hands each new event, in id order, to
// every subscriber whose filter takes it, without ever waiting for one — a subscriber whose
// buffer is full is dropped instead.
//
// An event is handed out only when every lower id is final. Outbox ids come from a sequence and
// can become visible out of order (a transaction that took id 100 commits after the one that
// took 101); so the poller notes the highest id H visible at each poll and, at the next poll, the
// horizon's Next X of that moment (every transaction that took an id ≤ H has by then a
// transaction id below X: it got one right after the id, an interval earlier). Once no
// transaction of the database older than X is running, every id ≤ H is committed or never will
// be, and the events up to H are read again and handed out. Quiet, this takes one to two
// intervals. (A transaction stalled for a whole interval between taking an outbox id and getting
// its transaction id could be missed; PostgreSQL does both within one INSERT.)
type Hub struct {
	src  Source
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	subs    map[*Subscription]struct{}
	running bool
	closed  bool
	stop    chan struct{} // closed by Close
	// delivered is the id up to which events have been handed out (-1: not known yet). Written
	// by the poller under mu.
	delivered int64
}

// NewHub returns a hub reading src. Nothing runs until the first Subscribe.
func NewHub(src Source, opts Options) *Hub {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	if opts.PagePause <= 0 {
		opts.PagePause = DefaultPagePause
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{src: src, opts: opts, log: log, subs: map[*Subscription]struct{}{}, stop: make(chan struct{}), delivered: -1}
}

// Filter selects a subscriber's events.
type Filter struct {
	// SystemIDs keeps the events of these systems (all when empty).
	SystemIDs []string
}

// Subscription is one subscriber of a Hub.
type Subscription struct {
	hub     *Hub
	systems map[string]bool
	c       chan Event
	ready   chan struct{} // closed once start is set
	done    chan struct{} // closed when dropped or the hub closes
	onDrop  func()
	// Guarded by hub.mu.
	start   int64
	started bool
	err     error
}

// Subscribe registers a subscriber and returns once its starting point is known (at most a
// couple of intervals after the poller starts): it receives every event with an id above
// Start. onDrop, when set, is called (without locks held) when the subscription is dropped or the
// hub closes — e.g. to unblock a write to a stalled connection.
func (h *Hub) Subscribe(ctx context.Context, f Filter, onDrop func()) (*Subscription, error) {
	s := &Subscription{hub: h, c: make(chan Event, h.opts.Buffer), ready: make(chan struct{}), done: make(chan struct{}), onDrop: onDrop}
	if len(f.SystemIDs) > 0 {
		s.systems = make(map[string]bool, len(f.SystemIDs))
		for _, id := range f.SystemIDs {
			s.systems[id] = true
		}
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	h.subs[s] = struct{}{}
	if h.delivered >= 0 {
		s.start, s.started = h.delivered, true
		close(s.ready)
	}
	if !h.running {
		h.running = true
		go h.run()
	}
	h.mu.Unlock()
	select {
	case <-s.ready:
		return s, nil
	case <-s.done:
		return nil, s.Err()
	case <-ctx.Done():
		s.Close()
		return nil, ctx.Err()
	}
}

// Start is the id the subscription starts after: it receives the events with greater ids.
func (s *Subscription) Start() int64 {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.start
}

// Events delivers the subscription's events in id order.
func (s *Subscription) Events() <-chan Event { return s.c }

// Done is closed when the subscription was dropped (ErrTooSlow) or the hub closed (ErrClosed).
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err says why Done was closed (nil while it is open).
func (s *Subscription) Err() error {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.err
}

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	delete(s.hub.subs, s)
	s.hub.mu.Unlock()
}

func (s *Subscription) takes(e Event) bool {
	return s.systems == nil || s.systems[e.SystemID]
}

// endLocked removes s with err; it returns s's onDrop for the caller to run after unlocking.
func (h *Hub) endLocked(s *Subscription, err error) func() {
	if s.err != nil {
		return nil
	}
	delete(h.subs, s)
	s.err = err
	close(s.done)
	return s.onDrop
}

// Close ends every subscription with ErrClosed, stops the poller and refuses new subscribers.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	close(h.stop)
	var drops []func()
	for s := range h.subs {
		if f := h.endLocked(s, ErrClosed); f != nil {
			drops = append(drops, f)
		}
	}
	h.mu.Unlock()
	for _, f := range drops {
		f()
	}
}

// pending is the highest id H visible at one poll and the xmax ("need") of the next poll's
// snapshot (0 until then): every id ≤ H is final once no transaction older than need runs.
type pending struct {
	h    int64
	need uint64
}

// run is the poller. It ends when the last subscriber leaves or the hub closes; the next
// Subscribe starts a new one from scratch.
func (h *Hub) run() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-h.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var state []pending
	failing := false
	retry := h.opts.Interval
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			h.mu.Lock()
			h.running, h.delivered = false, -1
			h.mu.Unlock()
			return
		case <-timer.C:
		}
		h.mu.Lock()
		if len(h.subs) == 0 || h.closed {
			h.running, h.delivered = false, -1
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		more, err := h.poll(ctx, &state)
		switch {
		case err != nil && ctx.Err() != nil:
			continue
		case err != nil:
			if !failing {
				h.log.Warn("live stream: reading the outbox failed; retrying", "err", err)
			} else {
				h.log.Debug("live stream: reading the outbox failed again", "err", err)
			}
			failing = true
			retry = min(retry*2, maxRetryDelay)
			timer.Reset(retry)
			continue
		case failing:
			h.log.Info("live stream: reading the outbox again")
			failing, retry = false, h.opts.Interval
		}
		if h.opts.OnPoll != nil {
			h.mu.Lock()
			d := h.delivered
			h.mu.Unlock()
			h.opts.OnPoll(d)
		}
		if more {
			timer.Reset(h.opts.PagePause)
		} else {
			timer.Reset(h.opts.Interval)
		}
	}
}

// poll reads the horizon, settles which ids are final, reads the outbox after the delivered id
// and hands out the final events (at most one page). more says that a further page is ready.
func (h *Hub) poll(ctx context.Context, state *[]pending) (more bool, err error) {
	hz, err := h.src.OutboxHorizon(ctx)
	if err != nil {
		return false, err
	}
	st := *state
	if n := len(st); n > 0 && st[n-1].need == 0 {
		st[n-1].need = hz.Next
	}
	final := int64(-1)
	for len(st) > 0 && st[0].need != 0 && st[0].need <= hz.OldestRunning {
		final = max(final, st[0].h)
		st = st[1:]
	}
	*state = st

	h.mu.Lock()
	delivered := h.delivered
	h.mu.Unlock()
	if delivered < 0 {
		if final < 0 {
			// Not started yet: only the highest id is needed.
			_, maxID, err := h.src.StreamEvents(ctx, store.StreamFilter{After: 1 << 62, Types: OutboxTypes(), Limit: 1})
			if err != nil {
				return false, err
			}
			*state = append(*state, pending{h: maxID})
			return false, nil
		}
		h.mu.Lock()
		h.delivered = final
		for s := range h.subs {
			if !s.started {
				s.start, s.started = final, true
				close(s.ready)
			}
		}
		h.mu.Unlock()
		delivered = final
	}
	target := max(delivered, final)
	rows, maxID, err := h.src.StreamEvents(ctx, store.StreamFilter{After: delivered, Types: OutboxTypes(), Limit: h.opts.PageSize})
	if err != nil {
		return false, err
	}
	if maxID > delivered && (len(*state) == 0 || maxID > (*state)[len(*state)-1].h) {
		*state = append(*state, pending{h: maxID})
	}
	events := make([]Event, 0, len(rows))
	next := target
	for _, r := range rows {
		if r.ID > target {
			break // not final yet: read again at a later poll
		}
		if e, ok := FromRow(r); ok {
			events = append(events, e)
		}
	}
	if n := len(rows); n == h.opts.PageSize && rows[n-1].ID < target {
		// A full page of final rows: more final rows may follow it.
		next, more = rows[n-1].ID, true
	}
	h.fanOut(events, next)
	return more, nil
}

// fanOut hands events to every subscriber that takes them and moves delivered to next, in one
// critical section (a new subscriber starts either before or after all of them).
func (h *Hub) fanOut(events []Event, next int64) {
	var drops []func()
	h.mu.Lock()
	for s := range h.subs {
		if !s.started {
			continue
		}
		for _, e := range events {
			if e.ID <= s.start || !s.takes(e) {
				continue
			}
			select {
			case s.c <- e:
				continue
			default:
			}
			if f := h.endLocked(s, ErrTooSlow); f != nil {
				drops = append(drops, f)
			}
			break
		}
	}
	if next > h.delivered {
		h.delivered = next
	}
	h.mu.Unlock()
	for _, f := range drops {
		f()
	}
	if len(drops) > 0 {
		h.log.Debug("live stream: dropped slow subscribers", "count", len(drops))
	}
}

// Subscribers counts the current subscribers.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

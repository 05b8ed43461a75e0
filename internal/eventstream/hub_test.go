package eventstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
)

// fakeOutbox models the outbox table and PostgreSQL's transactions closely enough for the
// hub: ids are taken in order when a row is inserted, rows become visible when their
// transaction commits, a transaction gets its transaction id when it first writes (or later,
// fakeTx.assignXid, to model the instant between taking an id and getting an xid).
type fakeOutbox struct {
	mu      sync.Mutex
	nextID  int64
	nextXid uint64
	rows    []store.StreamRow // committed, any order
	open    map[*fakeTx]bool
	// late transactions took an outbox id but have no transaction id yet: they get one at the
	// end of the next StreamEvents (after the poll's horizon was read).
	late []*fakeTx
	fail error
}

type fakeTx struct {
	o    *fakeOutbox
	xid  uint64
	rows []store.StreamRow
}

func newFakeOutbox() *fakeOutbox { return &fakeOutbox{nextXid: 1000, open: map[*fakeTx]bool{}} }

func (o *fakeOutbox) begin() *fakeTx {
	o.mu.Lock()
	defer o.mu.Unlock()
	tx := &fakeTx{o: o}
	o.open[tx] = true
	return tx
}

// insert takes the next id (and an xid when the transaction has none, unless lateXid).
func (tx *fakeTx) insert(systemID, typ string, lateXid bool) int64 {
	tx.o.mu.Lock()
	defer tx.o.mu.Unlock()
	return tx.insertLocked(systemID, typ, lateXid)
}

func (tx *fakeTx) insertLocked(systemID, typ string, lateXid bool) int64 {
	o := tx.o
	o.nextID++
	if tx.xid == 0 {
		if lateXid {
			o.late = append(o.late, tx)
		} else {
			tx.xid = o.nextXid
			o.nextXid++
		}
	}
	payload, _ := json.Marshal(map[string]any{"systemId": systemID, "status": "healthy", "configurationId": "c", "result": map[string]any{"secret": 1}})
	tx.rows = append(tx.rows, store.StreamRow{ID: o.nextID, SystemID: systemID, Type: typ, Payload: payload})
	return o.nextID
}

func (tx *fakeTx) commit() {
	tx.o.mu.Lock()
	defer tx.o.mu.Unlock()
	tx.commitLocked()
}

func (tx *fakeTx) commitLocked() {
	delete(tx.o.open, tx)
	tx.o.rows = append(tx.o.rows, tx.rows...)
}

// racePair: transaction a takes an id (its transaction id comes only after the next poll's
// horizon when lateXid), then transaction b takes the next id and commits — all at once, so no
// poll falls in between. It returns a and both ids.
func (o *fakeOutbox) racePair(typ string, lateXid bool) (*fakeTx, int64, int64) {
	a, b := o.begin(), o.begin()
	o.mu.Lock()
	defer o.mu.Unlock()
	first := a.insertLocked("sys", typ, lateXid)
	second := b.insertLocked("sys", typ, false)
	b.commitLocked()
	return a, first, second
}

func (tx *fakeTx) rollback() {
	tx.o.mu.Lock()
	defer tx.o.mu.Unlock()
	delete(tx.o.open, tx)
}

// add inserts and commits one event per system in its own transaction; it returns the ids.
func (o *fakeOutbox) add(typ string, systems ...string) []int64 {
	var ids []int64
	for _, s := range systems {
		tx := o.begin()
		ids = append(ids, tx.insert(s, typ, false))
		tx.commit()
	}
	return ids
}

func (o *fakeOutbox) OutboxHorizon(context.Context) (store.OutboxHorizon, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return store.OutboxHorizon{}, o.fail
	}
	h := store.OutboxHorizon{Next: o.nextXid, OldestRunning: o.nextXid}
	for tx := range o.open {
		if tx.xid != 0 && tx.xid < h.OldestRunning {
			h.OldestRunning = tx.xid
		}
	}
	return h, nil
}

func (o *fakeOutbox) StreamEvents(_ context.Context, f store.StreamFilter) ([]store.StreamRow, int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return nil, 0, o.fail
	}
	var maxID int64
	var out []store.StreamRow
	for _, r := range o.rows {
		maxID = max(maxID, r.ID)
		if r.ID > f.After && (f.UpTo == 0 || r.ID <= f.UpTo) && slices.Contains(f.Types, r.Type) &&
			(len(f.SystemIDs) == 0 || slices.Contains(f.SystemIDs, r.SystemID)) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b store.StreamRow) int { return int(a.ID - b.ID) })
	if len(out) > f.Limit {
		out = out[:f.Limit]
	}
	for _, tx := range o.late {
		tx.xid = o.nextXid
		o.nextXid++
	}
	o.late = nil
	return out, maxID, nil
}

// polls counts the hub's polls for tests to wait on.
type polls struct{ c chan int64 }

func newPolls() *polls { return &polls{c: make(chan int64, 1<<16)} }

func (p *polls) hook(d int64) {
	select {
	case p.c <- d:
	default:
	}
}

// wait returns after n more polls.
func (p *polls) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-p.c:
		case <-time.After(30 * time.Second):
			t.Fatal("the hub stopped polling")
		}
	}
}

func testHub(t *testing.T, src Source, p *polls, opts Options) *Hub {
	t.Helper()
	opts.Interval = time.Millisecond
	opts.PagePause = time.Millisecond
	opts.OnPoll = p.hook
	h := NewHub(src, opts)
	t.Cleanup(h.Close)
	return h
}

func subscribe(t *testing.T, h *Hub, f Filter) *Subscription {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := h.Subscribe(ctx, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// receive reads n events or fails.
func receive(t *testing.T, s *Subscription, n int) []Event {
	t.Helper()
	var out []Event
	for len(out) < n {
		select {
		case e := <-s.Events():
			out = append(out, e)
		case <-s.Done():
			t.Fatalf("subscription ended after %d events: %v", len(out), s.Err())
		case <-time.After(30 * time.Second):
			t.Fatalf("got %d events, want %d", len(out), n)
		}
	}
	return out
}

func ids(es []Event) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

// assertQuiet fails when the subscription has an event waiting.
func assertQuiet(t *testing.T, s *Subscription, why string) {
	t.Helper()
	select {
	case e := <-s.Events():
		t.Fatalf("%s: got event %d", why, e.ID)
	default:
	}
}

// TestHubWaitsForEarlierIDs: an id committed after a higher one is delivered first, and the
// higher one waits for it — over rollbacks and the instant between taking an id and getting a
// transaction id too.
func TestHubWaitsForEarlierIDs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		lateXid  bool
		rollback bool
	}{
		{"commit later", false, false},
		{"rolled back", false, true},
		{"transaction id after the outbox id", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := newFakeOutbox()
			p := newPolls()
			h := testHub(t, o, p, Options{})
			s := subscribe(t, h, Filter{})
			a, first, second := o.racePair(health.HookCheckCompleted, tc.lateXid)
			p.wait(t, 8)
			assertQuiet(t, s, "while a lower id is in flight")
			if tc.rollback {
				a.rollback()
				if got := ids(receive(t, s, 1)); !slices.Equal(got, []int64{second}) {
					t.Fatalf("got %v, want [%d]", got, second)
				}
				return
			}
			a.commit()
			if got := ids(receive(t, s, 2)); !slices.Equal(got, []int64{first, second}) {
				t.Fatalf("got %v, want [%d %d]", got, first, second)
			}
		})
	}
}

// TestHubDeliversInOrderOncePerSubscriber: every subscriber gets every event after its start,
// in order, once; types the stream does not carry are skipped; payloads lose their result.
func TestHubDeliversInOrderOncePerSubscriber(t *testing.T) {
	t.Parallel()
	o := newFakeOutbox()
	p := newPolls()
	h := testHub(t, o, p, Options{PageSize: 7, Buffer: 1000})
	s1 := subscribe(t, h, Filter{})
	var want []int64
	for i := range 100 {
		want = append(want, o.add(health.HookCheckCompleted, fmt.Sprint("s", i%3))...)
		o.add(health.HookCheckFailed, "s0") // not streamed
		if i == 50 {
			p.wait(t, 2)
		}
	}
	s2 := subscribe(t, h, Filter{})
	got := receive(t, s1, len(want))
	if !slices.Equal(ids(got), want) {
		t.Fatalf("subscriber 1 got %v\nwant %v", ids(got), want)
	}
	if string(got[0].Data) != `{"systemId":"s0","configurationId":"c","status":"healthy"}` || got[0].Name != EventRunCompleted {
		t.Fatalf("event %s %s", got[0].Name, got[0].Data)
	}
	more := o.add(health.EventSystemHealthChanged, "s1", "s2")
	if got := ids(receive(t, s1, 2)); !slices.Equal(got, more) {
		t.Fatalf("subscriber 1 then got %v, want %v", got, more)
	}
	// The second subscriber starts after some id and gets exactly what follows it.
	start := s2.Start()
	var after []int64
	for _, id := range append(want, more...) {
		if id > start {
			after = append(after, id)
		}
	}
	if got := ids(receive(t, s2, len(after))); !slices.Equal(got, after) {
		t.Fatalf("subscriber 2 (start %d) got %v, want %v", start, got, after)
	}
	p.wait(t, 3)
	assertQuiet(t, s1, "no duplicates")
	assertQuiet(t, s2, "no duplicates")
}

// TestHubDropsSlowSubscriber: a subscriber that does not read is dropped when its buffer is
// full (its onDrop runs), and one that reads gets every event.
func TestHubDropsSlowSubscriber(t *testing.T) {
	t.Parallel()
	o := newFakeOutbox()
	p := newPolls()
	h := testHub(t, o, p, Options{Buffer: 4})
	fast := subscribe(t, h, Filter{})
	dropped := make(chan struct{})
	slow, err := h.Subscribe(context.Background(), Filter{}, func() { close(dropped) })
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	var got []int64
	var want []int64
	for range 5 {
		ids3 := o.add(health.HookCheckCompleted, "a", "b", "c")
		want = append(want, ids3...)
		got = append(got, ids(receive(t, fast, 3))...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("fast subscriber got %v, want %v", got, want)
	}
	select {
	case <-slow.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the slow subscriber was not dropped")
	}
	<-dropped
	if !errors.Is(slow.Err(), ErrTooSlow) {
		t.Fatalf("slow subscriber ended with %v", slow.Err())
	}
	if n := h.Subscribers(); n != 1 {
		t.Fatalf("%d subscribers, want 1", n)
	}
}

// TestHubFiltersBySystem: a subscriber of some systems gets only their events.
func TestHubFiltersBySystem(t *testing.T) {
	t.Parallel()
	o := newFakeOutbox()
	p := newPolls()
	h := testHub(t, o, p, Options{})
	s := subscribe(t, h, Filter{SystemIDs: []string{"a", "c"}})
	all := o.add(OutboxMaintenanceStarted, "a", "b", "c", "b", "a")
	got := receive(t, s, 3)
	if want := []int64{all[0], all[2], all[4]}; !slices.Equal(ids(got), want) {
		t.Fatalf("got %v, want %v", ids(got), want)
	}
	for _, e := range got {
		if e.SystemID == "b" || e.Name != EventMaintenanceStarted {
			t.Fatalf("event %+v", e)
		}
	}
	p.wait(t, 3)
	assertQuiet(t, s, "events of other systems")
}

// TestHubCloseAndRestart: closing the hub ends its subscriptions and refuses new ones; a hub
// whose subscribers all left starts again for the next one.
func TestHubCloseAndRestart(t *testing.T) {
	t.Parallel()
	o := newFakeOutbox()
	p := newPolls()
	h := testHub(t, o, p, Options{})
	s := subscribe(t, h, Filter{})
	s.Close()
	s.Close() // twice is fine
	s2 := subscribe(t, h, Filter{})
	id := o.add(health.HookCheckCompleted, "x")
	if got := ids(receive(t, s2, 1)); !slices.Equal(got, id) {
		t.Fatalf("after a restart: %v, want %v", got, id)
	}
	h.Close()
	<-s2.Done()
	if !errors.Is(s2.Err(), ErrClosed) {
		t.Fatalf("after Close: %v", s2.Err())
	}
	if _, err := h.Subscribe(context.Background(), Filter{}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
}

// TestHubKeepsSubscribersThroughOutboxErrors: a failing database delays events, loses none.
func TestHubKeepsSubscribersThroughOutboxErrors(t *testing.T) {
	t.Parallel()
	o := newFakeOutbox()
	p := newPolls()
	h := testHub(t, o, p, Options{})
	s := subscribe(t, h, Filter{})
	o.mu.Lock()
	o.fail = errors.New("connection refused")
	o.mu.Unlock()
	want := o.add(health.HookCheckCompleted, "a", "b")
	o.mu.Lock()
	o.fail = nil
	o.mu.Unlock()
	if got := ids(receive(t, s, 2)); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestSubscribeIsCancellable: a Subscribe waiting for the hub's start returns with its context.
func TestSubscribeIsCancellable(t *testing.T) {
	t.Parallel()
	o := newFakeOutbox()
	o.fail = errors.New("down") // the hub never learns where to start
	h := NewHub(o, Options{Interval: time.Millisecond})
	t.Cleanup(h.Close)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Subscribe(ctx, Filter{}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe = %v", err)
	}
	if n := h.Subscribers(); n != 0 {
		t.Fatalf("%d subscribers left", n)
	}
}

func TestFromRow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		typ, payload string
		name, data   string
		ok           bool
	}{
		{health.HookCheckCompleted, `{"systemId":"s","configurationId":"c","status":"unhealthy","latencyMs":12,"timestamp":"2026-01-01T00:00:00.000Z","result":{"body":"secret"}}`,
			EventRunCompleted, `{"systemId":"s","configurationId":"c","status":"unhealthy","latencyMs":12,"timestamp":"2026-01-01T00:00:00.000Z"}`, true},
		{health.EventSystemHealthChanged, `{"systemId":"s","previousStatus":"healthy","newStatus":"degraded","healthyChecks":0,"totalChecks":1,"timestamp":"t","extra":1}`,
			EventStatusChanged, `{"systemId":"s","previousStatus":"healthy","newStatus":"degraded","healthyChecks":0,"totalChecks":1,"timestamp":"t"}`, true},
		{OutboxMaintenanceEnded, `{"maintenanceId":"m", "timestamp": "t"}`, EventMaintenanceEnded, `{"systemId":"row-sys","maintenanceId":"m","timestamp":"t"}`, true},
		{OutboxMaintenanceStarted, `not json`, EventMaintenanceStarted, `{"systemId":"row-sys"}`, true},
		{health.HookCheckFailed, `{}`, "", "", false},
	} {
		e, ok := FromRow(store.StreamRow{ID: 7, SystemID: "row-sys", Type: tc.typ, Payload: json.RawMessage(tc.payload)})
		if ok != tc.ok || e.Name != tc.name || string(e.Data) != tc.data {
			t.Errorf("%s: %v %q %s, want %v %q %s", tc.typ, ok, e.Name, e.Data, tc.ok, tc.name, tc.data)
			continue
		}
		if ok && string(e.Frame()) != "id: 7\nevent: "+tc.name+"\ndata: "+tc.data+"\n\n" {
			t.Errorf("%s: frame %q", tc.typ, e.Frame())
		}
	}
}

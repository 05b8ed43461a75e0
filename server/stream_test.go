package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fastStream polls the outbox every 5 ms (tests).
func fastStream() StreamOptions { return StreamOptions{PollInterval: 5 * time.Millisecond} }

// flushCancel is a recorder that cancels the request once the handler flushes: a streaming
// request served in-process ends after its first bytes.
type flushCancel struct {
	*httptest.ResponseRecorder
	cancel context.CancelFunc
}

func (f flushCancel) Flush() {
	f.ResponseRecorder.Flush()
	f.cancel()
}

// doStream serves a streaming GET in-process and returns what was written until the first flush.
func (e *env) doStream(path, token string, headers ...string) response {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := httptest.NewRequest("GET", path, nil).WithContext(ctx)
	if token != "" {
		secret, ok := e.tokens[token]
		if !ok {
			secret = token
		}
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := flushCancel{ResponseRecorder: httptest.NewRecorder(), cancel: cancel}
	e.srv.Handler().ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// sseItem is one parsed SSE block: an event (id, event, data) or a comment.
type sseItem struct {
	id            int64
	hasID         bool
	event, data   string
	comment       string
	retry         string
	isCommentOnly bool
}

// sseClient reads a stream over real HTTP.
type sseClient struct {
	t      *testing.T
	items  chan sseItem
	status int
	cancel context.CancelFunc
	done   chan struct{}
}

// openStream connects to url; headers are name, value pairs.
func openStream(t *testing.T, url string, headers ...string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &sseClient{t: t, items: make(chan sseItem, 10000), status: res.StatusCode, cancel: cancel, done: make(chan struct{})}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" || res.Header.Get("Cache-Control") != "no-cache" {
		cancel()
		t.Fatalf("GET %s: %d %v", url, res.StatusCode, res.Header)
	}
	go func() {
		defer close(c.done)
		defer res.Body.Close()
		r := bufio.NewReader(res.Body)
		var it sseItem
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "":
				if it.hasID || it.event != "" || it.data != "" || it.comment != "" || it.retry != "" {
					it.isCommentOnly = !it.hasID && it.event == "" && it.data == ""
					c.items <- it
				}
				it = sseItem{}
			case strings.HasPrefix(line, ":"):
				it.comment += strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "id: "):
				it.id, _ = strconv.ParseInt(line[4:], 10, 64)
				it.hasID = true
			case strings.HasPrefix(line, "event: "):
				it.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				it.data = line[6:]
			case strings.HasPrefix(line, "retry: "):
				it.retry = line[7:]
			}
		}
	}()
	t.Cleanup(c.close)
	// The first block is the greeting; once it is read, the subscription is in place.
	if first := c.next(); !first.isCommentOnly || first.retry != "2000" {
		t.Fatalf("first block %+v", first)
	}
	return c
}

func (c *sseClient) close() {
	c.cancel()
	<-c.done
}

// next returns the next block (event or comment) within 30 s.
func (c *sseClient) next() sseItem {
	c.t.Helper()
	return c.nextBefore(time.Now().Add(30 * time.Second))
}

func (c *sseClient) nextBefore(deadline time.Time) sseItem {
	c.t.Helper()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case it := <-c.items:
		return it
	case <-c.done:
		select {
		case it := <-c.items:
			return it
		default:
		}
		c.t.Fatal("the stream ended")
	case <-timer.C:
		c.t.Fatal("nothing within 30 s")
	}
	return sseItem{}
}

// events returns the next n events within 30 s, skipping comments (keep-alives).
func (c *sseClient) events(n int) []sseItem {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var out []sseItem
	for len(out) < n {
		if it := c.nextBefore(deadline); !it.isCommentOnly {
			out = append(out, it)
		}
	}
	return out
}

func itemIDs(its []sseItem) []int64 {
	out := make([]int64, len(its))
	for i, it := range its {
		out[i] = it.id
	}
	return out
}

// addEvent inserts an outbox event and returns its id.
func (e *env) addEvent(systemID, typ string, payload map[string]any) int64 {
	e.t.Helper()
	raw, _ := json.Marshal(payload)
	var id int64
	if err := e.pool.QueryRow(context.Background(), `INSERT INTO health_events (system_id, seq, type, payload, idempotency_key)
		VALUES ($1, 0, $2, $3::jsonb, gen_random_uuid()::text) RETURNING id`, systemID, typ, raw).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// polls collects the stream's polls for tests to wait on.
type pollWaiter struct{ c chan int64 }

func newPollWaiter() *pollWaiter { return &pollWaiter{c: make(chan int64, 1<<16)} }

func (p *pollWaiter) hook(d int64) {
	select {
	case p.c <- d:
	default:
	}
}

func (p *pollWaiter) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-p.c:
		case <-time.After(30 * time.Second):
			t.Fatal("the stream stopped polling")
		}
	}
}

// TestStreamDeliversInOrderAndResumes is issue 15's acceptance 5 (correctness): events arrive
// in outbox order with their ids; a client that reconnects with Last-Event-ID (header, or
// ?lastEventId=, the header winning) gets exactly the events after it — those written while it
// was away, then the live ones — with no gap and no duplicate.
func TestStreamDeliversInOrderAndResumes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustSystem("a")
	check := e.mustCheck("c")
	e.mustAssign("a", check)
	hs := e.serve()
	url := hs.URL + "/api/v1/stream"

	c := openStream(t, url)
	var want []int64
	want = append(want, e.addEvent("a", "healthcheck.check.completed", map[string]any{"systemId": "a", "configurationId": check, "status": "healthy", "latencyMs": 12, "result": map[string]any{"body": "secret"}}))
	e.addEvent("a", "healthcheck.check.failed", map[string]any{"systemId": "a"}) // not streamed
	want = append(want, e.addEvent("a", "healthcheck.system_health_changed", map[string]any{"systemId": "a", "previousStatus": "healthy", "newStatus": "degraded", "healthyChecks": 0, "totalChecks": 1}))
	want = append(want, e.addEvent("a", "maintenance.started", map[string]any{"systemId": "a", "maintenanceId": "m1"}))
	e.mustRun("a", check, 1, "healthy") // a check.completed hook through Persist
	var hookID int64
	if err := e.pool.QueryRow(context.Background(), `SELECT max(id) FROM health_events WHERE type = 'healthcheck.check.completed'`).Scan(&hookID); err != nil {
		t.Fatal(err)
	}
	want = append(want, hookID)
	want = append(want, e.addEvent("a", "maintenance.ended", map[string]any{"systemId": "a", "maintenanceId": "m1"}))

	got := c.events(len(want))
	if !slices.Equal(itemIDs(got), want) {
		t.Fatalf("ids %v, want %v", itemIDs(got), want)
	}
	names := []string{"run.completed", "system.status_changed", "maintenance.started", "run.completed", "maintenance.ended"}
	for i, it := range got {
		if it.event != names[i] {
			t.Errorf("event %d: %q, want %q", i, it.event, names[i])
		}
	}
	if want := `{"systemId":"a","configurationId":"` + check + `","status":"healthy","latencyMs":12}`; got[0].data != want {
		t.Errorf("run.completed data %s, want %s", got[0].data, want)
	}
	c.close()

	// Away: three more events. Then resume after the second event seen.
	var away []int64
	for i := range 3 {
		away = append(away, e.addEvent("a", "maintenance.started", map[string]any{"systemId": "a", "n": i}))
	}
	rest := append(append([]int64{}, want[2:]...), away...)
	for _, tc := range []struct {
		name    string
		query   string
		headers []string
	}{
		{"header", "", []string{"Last-Event-ID", strconv.FormatInt(want[1], 10)}},
		{"query", "?lastEventId=" + strconv.FormatInt(want[1], 10), nil},
		{"the header wins", "?lastEventId=1", []string{"Last-Event-ID", strconv.FormatInt(want[1], 10)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := openStream(t, url+tc.query, tc.headers...)
			if got := itemIDs(r.events(len(rest))); !slices.Equal(got, rest) {
				t.Fatalf("resumed with %v, want %v", got, rest)
			}
			live := e.addEvent("a", "maintenance.ended", map[string]any{"systemId": "a"})
			rest = append(rest, live)
			if got := r.events(1)[0].id; got != live {
				t.Fatalf("then %d, want %d (no duplicate, no gap)", got, live)
			}
		})
	}
}

// TestStreamWaitsForEarlierIDs: an outbox row whose transaction commits after a later row's is
// streamed before it, not skipped.
func TestStreamWaitsForEarlierIDs(t *testing.T) {
	t.Parallel()
	polls := newPollWaiter()
	e := newEnv(t, WithStream(StreamOptions{PollInterval: 5 * time.Millisecond, OnPoll: polls.hook}))
	e.mustSystem("a")
	c := openStream(t, e.serve().URL+"/api/v1/stream")
	ctx := context.Background()
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var first int64
	if err := tx.QueryRow(ctx, `INSERT INTO health_events (system_id, seq, type, payload, idempotency_key)
		VALUES ('a', 0, 'maintenance.started', '{}', 'first') RETURNING id`).Scan(&first); err != nil {
		t.Fatal(err)
	}
	second := e.addEvent("a", "maintenance.ended", map[string]any{})
	polls.wait(t, 10) // the later row is visible all along
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := itemIDs(c.events(2)); !slices.Equal(got, []int64{first, second}) {
		t.Fatalf("got %v, want [%d %d]", got, first, second)
	}
}

// TestStreamFiltersBySystem: ?systemId= (repeatable, or comma-separated) keeps those systems'
// events, live and in the catch-up.
func TestStreamFiltersBySystem(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, id := range []string{"a", "b", "c"} {
		e.mustSystem(id)
	}
	url := e.serve().URL + "/api/v1/stream"
	c1 := openStream(t, url+"?systemId=a&systemId=c")
	c2 := openStream(t, url+"?systemId=b")
	ids := map[string][]int64{}
	for _, sys := range []string{"a", "b", "c", "b", "a", "c"} {
		ids[sys] = append(ids[sys], e.addEvent(sys, "maintenance.started", map[string]any{"systemId": sys}))
	}
	wantAC := []int64{ids["a"][0], ids["c"][0], ids["a"][1], ids["c"][1]}
	if got := itemIDs(c1.events(4)); !slices.Equal(got, wantAC) {
		t.Fatalf("a,c: %v, want %v", got, wantAC)
	}
	if got := itemIDs(c2.events(2)); !slices.Equal(got, ids["b"]) {
		t.Fatalf("b: %v, want %v", got, ids["b"])
	}
	// Catch-up honours the filter too.
	r := openStream(t, url+"?systemId=a,c", "Last-Event-ID", strconv.FormatInt(ids["a"][0], 10))
	if got := itemIDs(r.events(3)); !slices.Equal(got, wantAC[1:]) {
		t.Fatalf("catch-up: %v, want %v", got, wantAC[1:])
	}
}

// TestStreamResets: a Last-Event-ID whose next events were pruned from the outbox gets an
// "event: reset" first and then every event from the oldest one kept; an id the outbox never
// handed out gets a reset and the live events.
func TestStreamResets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustSystem("a")
	var ids []int64
	for range 6 {
		ids = append(ids, e.addEvent("a", "maintenance.started", map[string]any{"systemId": "a"}))
	}
	if _, err := e.pool.Exec(context.Background(), `DELETE FROM health_events WHERE id <= $1`, ids[2]); err != nil {
		t.Fatal(err)
	}
	url := e.serve().URL + "/api/v1/stream"
	c := openStream(t, url, "Last-Event-ID", strconv.FormatInt(ids[0], 10))
	reset := c.next()
	var data struct {
		LastEventID int64  `json:"lastEventId"`
		ResumeAfter int64  `json:"resumeAfter"`
		Reason      string `json:"reason"`
	}
	if reset.event != "reset" || reset.hasID || json.Unmarshal([]byte(reset.data), &data) != nil || data.Reason != "pruned" || data.LastEventID != ids[0] || data.ResumeAfter != ids[3]-1 {
		t.Fatalf("first block %+v", reset)
	}
	if got := itemIDs(c.events(3)); !slices.Equal(got, ids[3:]) {
		t.Fatalf("after the reset: %v, want %v", got, ids[3:])
	}
	// Resuming right after the newest pruned id misses nothing: no reset.
	r := openStream(t, url, "Last-Event-ID", strconv.FormatInt(ids[2], 10))
	if got := r.events(3); !slices.Equal(itemIDs(got), ids[3:]) || got[0].event == "reset" {
		t.Fatalf("resume after %d: %+v", ids[2], got)
	}

	u := openStream(t, url, "Last-Event-ID", "999999999")
	if first := u.next(); first.event != "reset" || !strings.Contains(first.data, `"unknown-id"`) {
		t.Fatalf("unknown id: %+v", first)
	}
	live := e.addEvent("a", "maintenance.ended", map[string]any{})
	if got := u.events(1)[0].id; got != live {
		t.Fatalf("after the unknown-id reset: %d, want %d", got, live)
	}
}

// blockedWriter is a client connection that accepts the greeting, then stops reading: its
// writes block until the server sets a write deadline in the past.
type blockedWriter struct {
	header  http.Header
	mu      sync.Mutex
	writes  int
	code    int
	greeted chan struct{} // closed by the first write
	expired chan struct{}
	once    sync.Once
}

func (w *blockedWriter) Header() http.Header  { return w.header }
func (w *blockedWriter) WriteHeader(code int) { w.code = code }
func (w *blockedWriter) Flush()               {}
func (w *blockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes++
	n := w.writes
	w.mu.Unlock()
	if n == 1 {
		close(w.greeted)
		return len(p), nil
	}
	<-w.expired
	return 0, errors.New("write deadline exceeded")
}

// SetWriteDeadline is what http.ResponseController calls.
func (w *blockedWriter) SetWriteDeadline(d time.Time) error {
	if !d.After(time.Now()) {
		w.once.Do(func() { close(w.expired) })
	}
	return nil
}

// TestStreamDropsSlowClient: a client that stops reading is disconnected once it is more than
// its buffer behind (its blocked write is cut), while another client gets every event.
func TestStreamDropsSlowClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, WithStream(StreamOptions{PollInterval: 5 * time.Millisecond, Buffer: 4}))
	e.mustSystem("a")
	fast := openStream(t, e.serve().URL+"/api/v1/stream")

	slow := &blockedWriter{header: http.Header{}, greeted: make(chan struct{}), expired: make(chan struct{})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		e.srv.Handler().ServeHTTP(slow, httptest.NewRequest("GET", "/api/v1/stream", nil))
	}()
	// The greeting is written once the slow client is subscribed.
	select {
	case <-slow.greeted:
	case <-time.After(30 * time.Second):
		t.Fatal("the slow client got no greeting")
	}

	var want []int64
	for range 20 {
		want = append(want, e.addEvent("a", "maintenance.started", map[string]any{}))
		if len(want)%4 == 0 {
			if got := itemIDs(fast.events(4)); !slices.Equal(got, want[len(want)-4:]) {
				t.Fatalf("fast client: %v, want %v", got, want[len(want)-4:])
			}
		}
	}
	select {
	case <-served:
	case <-time.After(30 * time.Second):
		t.Fatal("the slow client was not disconnected")
	}
	if slow.code != http.StatusOK {
		t.Fatalf("slow client: %d", slow.code)
	}
	if n := e.srv.hub.Subscribers(); n != 1 {
		t.Fatalf("%d subscribers, want the fast one", n)
	}
}

// TestStreamHeartbeatAndErrors: an idle stream sends keep-alive comments; a bad Last-Event-ID
// or parameter is a 422 problem, not a stream.
func TestStreamHeartbeatAndErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, WithStream(StreamOptions{PollInterval: 5 * time.Millisecond, Heartbeat: 10 * time.Millisecond}))
	url := e.serve().URL + "/api/v1/stream"
	c := openStream(t, url)
	if it := c.next(); !it.isCommentOnly || it.comment != "keep-alive" {
		t.Fatalf("idle stream: %+v", it)
	}
	for _, tc := range []struct {
		query, header, field string
	}{
		{"", "abc", "Last-Event-ID"},
		{"?lastEventId=-1", "", "lastEventId"},
		{"?since=1", "", "since"},
		{"?systemId=" + strings.Repeat("x", 129), "", "systemId"},
	} {
		var headers []string
		if tc.header != "" {
			headers = []string{"Last-Event-ID", tc.header}
		}
		res := e.doStream("/api/v1/stream"+tc.query, "", headers...)
		if res.status != http.StatusUnprocessableEntity || res.problem(t).Errors[0].Field != tc.field {
			t.Errorf("%q %q: %s", tc.query, tc.header, res)
		}
	}
	// A closed server ends its streams and refuses new ones.
	e.srv.Close()
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the stream outlived Close")
	}
	if res := e.doStream("/api/v1/stream", ""); res.status != http.StatusServiceUnavailable {
		t.Fatalf("after Close: %s", res)
	}
}

package tests

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/notify"
	"github.com/checkflow/checkflow/workflows"
)

// post is one request a receiver got.
type post struct {
	at         time.Time
	deliveryID string
	signature  string
	header     http.Header
	body       []byte
	msg        notify.Message
}

// receiver is a local webhook endpoint that records every post and answers with the status
// code answer gives for the n-th request (1-based; default 200).
type receiver struct {
	srv    *httptest.Server
	secret string
	answer func(n int) int
	mu     sync.Mutex
	posts  []post
	// arrived is signalled (without blocking) after each post.
	arrived chan struct{}
}

func newReceiver(t testing.TB, secret string, answer func(n int) int) *receiver {
	r := &receiver{secret: secret, answer: answer, arrived: make(chan struct{}, 1)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	p := post{at: time.Now(), deliveryID: req.Header.Get("X-Checkflow-Delivery"), signature: req.Header.Get("X-Checkflow-Signature"), header: req.Header.Clone(), body: body}
	_ = json.Unmarshal(body, &p.msg)
	r.mu.Lock()
	r.posts = append(r.posts, p)
	n := len(r.posts)
	r.mu.Unlock()
	select {
	case r.arrived <- struct{}{}:
	default:
	}
	code := http.StatusOK
	if r.answer != nil {
		code = r.answer(n)
	}
	w.WriteHeader(code)
}

func (r *receiver) all() []post {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.posts)
}

// signed reports whether p carries the HMAC-SHA256 of its body with the receiver's secret.
func (r *receiver) signed(p post) bool {
	m := hmac.New(sha256.New, []byte(r.secret))
	m.Write(p.body)
	return hmac.Equal([]byte(p.signature), []byte("sha256="+hex.EncodeToString(m.Sum(nil))))
}

// waitPosts waits until the receiver got at least n posts.
func (r *receiver) waitPosts(t testing.TB, n int, timeout time.Duration) []post {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if ps := r.all(); len(ps) >= n {
			return ps
		}
		select {
		case <-r.arrived:
		case <-deadline:
			t.Fatalf("receiver got %d posts, want %d within %v: %+v", len(r.all()), n, timeout, events(r.all()))
		}
	}
}

// events lists "<event> <previousStatus>→<status>" of posts.
func events(ps []post) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.msg.Event + " " + p.msg.PreviousStatus + "→" + p.msg.Status
	}
	return out
}

// consecutiveThresholds: degraded after `degraded` failures in a row, unhealthy after
// `unhealthy`, healthy again after one success.
func consecutiveThresholds(degraded, unhealthy int) *health.Thresholds {
	return &health.Thresholds{Mode: health.ModeConsecutive, Healthy: health.SuccessThreshold{MinSuccessCount: 1},
		Degraded: health.FailureThreshold{MinFailureCount: degraded}, Unhealthy: health.FailureThreshold{MinFailureCount: unhealthy}}
}

// createChannel creates a channel over the API and returns its id.
func (a *apiStack) createChannel(t *testing.T, body map[string]any) string {
	t.Helper()
	res := expectStatus(t, a.admin.Do("POST", "/api/v1/channels", body), http.StatusCreated)
	var ch struct {
		ID string `json:"id"`
	}
	res.Decode(t, &ch)
	return ch.ID
}

// webhookChannel subscribes a webhook channel on the receiver to systems.
func (a *apiStack) webhookChannel(t *testing.T, r *receiver, systems []string, extra map[string]any) string {
	t.Helper()
	cfg := map[string]any{"url": r.srv.URL}
	if r.secret != "" {
		cfg["secret"] = r.secret
	}
	body := map[string]any{"name": "hook " + t.Name(), "type": "webhook", "config": cfg, "systems": systems}
	for k, v := range extra {
		body[k] = v
	}
	return a.createChannel(t, body)
}

// deliveryRow is a notification_deliveries row.
type deliveryRow struct {
	ID, Status, Event string
	Attempts          int
	LastError         *string
}

func (s *stack) deliveries(t testing.TB, channelID string) []deliveryRow {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT id, status, event, attempts, last_error FROM notification_deliveries
		WHERE channel_id = $1 ORDER BY created_at, id`, channelID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []deliveryRow
	for rows.Next() {
		var d deliveryRow
		if err := rows.Scan(&d.ID, &d.Status, &d.Event, &d.Attempts, &d.LastError); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// notifierDone waits until the system's notifier ended (idle): nothing it could still send.
func notifierDone(t testing.TB, systemID string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := shared.temporal.Client.GetWorkflow(ctx, workflows.NotifierWorkflowID(systemID), "").Get(ctx, nil); err != nil {
		t.Fatalf("notifier of %s did not end: %v", systemID, err)
	}
}

// terminateNotifier ends a system's notifier when the test ends (the shared Temporal server
// outlives tests).
func terminateNotifier(t testing.TB, systemID string) {
	t.Cleanup(func() {
		_ = shared.temporal.Client.TerminateWorkflow(context.Background(), workflows.NotifierWorkflowID(systemID), "", "test ended")
	})
}

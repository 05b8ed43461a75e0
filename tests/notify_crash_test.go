package tests

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/store"
)

// Issue 10, acceptance 2 (third part): the worker is killed hard while the receiver holds a
// delivery's request; a new worker retries it: one sent row, and the receiver sees at most one
// extra post, with the same delivery id.
func TestDeliveryAcrossWorkerKill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newChildStack(t)
	dbURL, queue, probes := s.dbURL, s.queue, s.probes

	var mu sync.Mutex
	var ids []string
	first, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids = append(ids, r.Header.Get("X-Checkflow-Delivery"))
		n := len(ids)
		mu.Unlock()
		if n == 1 {
			once.Do(func() { close(first) })
			<-release // hold the first attempt until its worker is dead
		}
	}))
	t.Cleanup(rcv.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	cfg, _ := json.Marshal(map[string]any{"url": rcv.URL})
	ch, err := s.store.CreateChannel(ctx, store.ChannelInput{Name: "hook", Type: "webhook", Config: cfg, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	sys := s.system(t, "killed")
	terminateNotifier(t, sys)
	tg := newTarget(t)
	tg.code.Store(http.StatusInternalServerError)
	s.httpCheck(t, sys, "down", tg.srv.URL, 1, consecutiveThresholds(1, 1000))

	w1 := startWorkerProcess(t, dbURL, queue, probes)
	if err := s.entities.ConfigChanged(ctx, sys); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first:
	case <-time.After(60 * time.Second):
		t.Fatal("the delivery never reached the receiver")
	}
	if err := w1.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = w1.Wait()
	startWorkerProcess(t, dbURL, queue, probes)
	close(release)

	waitFor(t, 90*time.Second, "the delivery to be sent by the new worker", func() (bool, error) {
		ds := s.deliveries(t, ch.ID)
		return len(ds) == 1 && ds[0].Status == "sent", nil
	})
	ds := s.deliveries(t, ch.ID)
	mu.Lock()
	defer mu.Unlock()
	if len(ids) < 1 || len(ids) > 2 {
		t.Fatalf("receiver got %d posts, want 1 or 2", len(ids))
	}
	for _, id := range ids {
		if id != ds[0].ID {
			t.Fatalf("posts carry ids %v, want all %s", ids, ds[0].ID)
		}
	}
	if n := s.count(t, `SELECT count(*) FROM notification_deliveries WHERE status = 'sent'`); n != 1 {
		t.Fatalf("%d sent rows, want 1", n)
	}
}

package notify

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// sampleMessage is an escalation of "Payments API" to unhealthy.
func sampleMessage() Message {
	return Message{
		ID:             "evt-42:chan-7",
		Event:          EventEscalation,
		System:         SystemRef{ID: "sys-payments", Name: "Payments API"},
		PreviousStatus: "degraded",
		Status:         "unhealthy",
		OccurredAt:     time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
		Title:          "System health critical: Payments API",
		Body:           "Health checks indicate **Payments API** is unhealthy & may be down.",
		Importance:     "critical",
		Checks: []CheckRef{
			{ID: "c1", Name: "HTTP /health", Status: "unhealthy"},
			{ID: "c2", Name: "DB ping", Status: "healthy"},
		},
		URL: "https://checkflow.example/systems/sys-payments?filter=failing",
	}
}

// request is one request received by a fake server.
type request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// fakeServer is an httptest server that records requests and answers with the queued
// responses (the last one repeats).
type fakeServer struct {
	*httptest.Server
	mu        sync.Mutex
	requests  []request
	responses []fakeResponse
}

type fakeResponse struct {
	status int
	header map[string]string
	body   string
}

func newFakeServer(t *testing.T, responses ...fakeResponse) *fakeServer {
	t.Helper()
	if len(responses) == 0 {
		responses = []fakeResponse{{status: http.StatusOK, body: "ok"}}
	}
	f := &fakeServer{responses: responses}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.requests = append(f.requests, request{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body})
		resp := f.responses[0]
		if len(f.responses) > 1 {
			f.responses = f.responses[1:]
		}
		f.mu.Unlock()
		for k, v := range resp.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(resp.status)
		_, _ = io.WriteString(w, resp.body)
	}))
	t.Cleanup(f.Close)
	return f
}

// received returns the recorded requests.
func (f *fakeServer) received() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

// only returns the single recorded request, failing otherwise.
func (f *fakeServer) only(t *testing.T) request {
	t.Helper()
	reqs := f.received()
	if len(reqs) != 1 {
		t.Fatalf("server received %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

// mustNew builds a channel or fails the test.
func mustNew(t *testing.T, typ string, config any, opts Options) Channel {
	t.Helper()
	raw, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := New(typ, raw, opts)
	if err != nil {
		t.Fatalf("New(%s): %v", typ, err)
	}
	return ch
}

// asSendError asserts err is a *SendError.
func asSendError(t *testing.T, err error) *SendError {
	t.Helper()
	var se *SendError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *SendError", err, err)
	}
	return se
}

// refusedURL returns an http URL on a local port nothing listens on.
func refusedURL(t *testing.T, path string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr + path
}

// assertNoSecret fails when text contains any of the secrets.
func assertNoSecret(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("text %q contains secret %q", text, s)
		}
	}
}

// decodeJSON decodes a request body into a generic map.
func decodeJSON(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body %s is not a JSON object: %v", body, err)
	}
	return m
}

// path walks a decoded JSON value: string keys index objects, ints index arrays.
func path(t *testing.T, v any, keys ...any) any {
	t.Helper()
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %q: %T is not an object", k, v)
			}
			v, ok = m[k]
			if !ok {
				t.Fatalf("key %q missing in %v", k, m)
			}
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("at [%d]: %v is not an array that long", k, v)
			}
			v = a[k]
		}
	}
	return v
}

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/notify"
	"github.com/checkflow/checkflow/internal/secretbox"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/server/apitest"
)

// channelOutT is a channel as the tests read it.
type channelOutT struct {
	ID                  string          `json:"id"`
	Name                string          `json:"name"`
	Type                string          `json:"type"`
	Config              json.RawMessage `json:"config"`
	Systems             []string        `json:"systems"`
	Events              []string        `json:"events"`
	RemindEvery         *string         `json:"remindEvery"`
	Enabled             bool            `json:"enabled"`
	Failing             bool            `json:"failing"`
	FailingSince        *time.Time      `json:"failingSince"`
	ConsecutiveFailures int             `json:"consecutiveFailures"`
}

// rawChannelRow is the whole stored row of a channel as PostgreSQL prints it.
func (e *env) rawChannelRow(t *testing.T, id string) string {
	t.Helper()
	var row string
	if err := e.pool.QueryRow(context.Background(), `SELECT t::text FROM notification_channels t WHERE id = $1`, id).Scan(&row); err != nil {
		t.Fatal(err)
	}
	return row
}

// storedChannelConfig is the config column of a channel, decoded.
func (e *env) storedChannelConfig(t *testing.T, id string) map[string]json.RawMessage {
	t.Helper()
	var raw []byte
	if err := e.pool.QueryRow(context.Background(), `SELECT config FROM notification_channels WHERE id = $1`, id).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// openStored opens one sealed value of a stored config with the server's box.
func (e *env) openStored(t *testing.T, cfg map[string]json.RawMessage, key string) string {
	t.Helper()
	var sealed string
	if err := json.Unmarshal(cfg[key], &sealed); err != nil || !secretbox.IsSealed(sealed) {
		t.Fatalf("stored %s is not a sealed string: %s", key, cfg[key])
	}
	plain, err := e.box.Open(sealed)
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

// CRUD of channels: defaults on create, partial updates, list paging, delete; every answer
// matches the OpenAPI document.
func TestChannelCRUD(t *testing.T) {
	t.Parallel()
	e, api := apiEnv(t)
	api = api.WithToken(e.tokens[tokManage])
	e.mustSystem("shop")

	res := api.Do("POST", "/api/v1/channels", map[string]any{"name": "ops hook", "type": "webhook", "config": map[string]any{"url": "https://hooks.example.com/in"}})
	var ch channelOutT
	res.Decode(t, &ch)
	if res.Status != 201 || ch.ID == "" || ch.Type != "webhook" || !slices.Equal(ch.Systems, []string{"*"}) ||
		!slices.Equal(ch.Events, []string{"escalation", "de-escalation", "recovery"}) || ch.RemindEvery != nil || !ch.Enabled || ch.Failing {
		t.Fatalf("create = %d %s", res.Status, res.Body)
	}
	res = api.Do("POST", "/api/v1/channels", map[string]any{"name": "shop only", "type": "webhook", "config": map[string]any{"url": "https://hooks.example.com/shop"},
		"systems": []string{"shop"}, "events": []string{"check_failed"}, "remindEvery": "1h", "enabled": false})
	var second channelOutT
	res.Decode(t, &second)
	if res.Status != 201 || !slices.Equal(second.Systems, []string{"shop"}) || !slices.Equal(second.Events, []string{"check_failed"}) ||
		second.RemindEvery == nil || *second.RemindEvery != "1h0m0s" || second.Enabled {
		t.Fatalf("create with every field = %d %s", res.Status, res.Body)
	}

	res = api.Do("GET", "/api/v1/channels/"+ch.ID, nil)
	var got channelOutT
	res.Decode(t, &got)
	if res.Status != 200 || got.Name != "ops hook" || !bytes.Contains(got.Config, []byte("hooks.example.com/in")) {
		t.Fatalf("get = %d %s", res.Status, res.Body)
	}
	var list struct {
		Items []channelOutT `json:"items"`
	}
	res = api.Do("GET", "/api/v1/channels?limit=1&offset=1", nil)
	res.Decode(t, &list)
	if res.Status != 200 || len(list.Items) != 1 || list.Items[0].ID != second.ID {
		t.Fatalf("list page 2 = %d %s", res.Status, res.Body)
	}

	for _, step := range []struct {
		name  string
		patch map[string]any
		check func(c channelOutT) bool
	}{
		{"rename", map[string]any{"name": "ops"}, func(c channelOutT) bool { return c.Name == "ops" && c.Enabled }},
		{"reminders on", map[string]any{"remindEvery": "30m"}, func(c channelOutT) bool { return c.RemindEvery != nil && *c.RemindEvery == "30m0s" }},
		{"reminders off", map[string]any{"remindEvery": nil}, func(c channelOutT) bool { return c.RemindEvery == nil && c.Name == "ops" }},
		{"systems and events", map[string]any{"systems": []string{"shop"}, "events": []string{"recovery", "check_failed"}},
			func(c channelOutT) bool {
				return slices.Equal(c.Systems, []string{"shop"}) && slices.Equal(c.Events, []string{"recovery", "check_failed"})
			}},
		{"same type", map[string]any{"type": "webhook", "enabled": false}, func(c channelOutT) bool { return !c.Enabled && c.Type == "webhook" }},
		{"new config", map[string]any{"config": map[string]any{"url": "https://hooks.example.com/v2"}},
			func(c channelOutT) bool { return bytes.Contains(c.Config, []byte("/v2")) && !c.Enabled }},
	} {
		res := api.Do("PATCH", "/api/v1/channels/"+ch.ID, step.patch)
		var c channelOutT
		res.Decode(t, &c)
		if res.Status != 200 || !step.check(c) {
			t.Fatalf("%s: %d %s", step.name, res.Status, res.Body)
		}
	}

	if res := api.Do("DELETE", "/api/v1/channels/"+ch.ID, nil); res.Status != 204 {
		t.Fatalf("delete = %d %s", res.Status, res.Body)
	}
	for _, r := range []*apitest.Response{
		api.Do("GET", "/api/v1/channels/"+ch.ID, nil),
		api.Do("DELETE", "/api/v1/channels/"+ch.ID, nil),
		api.Do("PATCH", "/api/v1/channels/"+ch.ID, map[string]any{"name": "x"}),
		api.Do("GET", "/api/v1/channels/not-a-uuid", nil),
	} {
		if r.Status != 404 || r.Header.Get("Content-Type") != problemContentType {
			t.Errorf("gone channel = %d %s", r.Status, r.Body)
		}
	}
	if api.Validated() < 15 {
		t.Fatalf("only %d responses validated against the document", api.Validated())
	}
}

// Planted secrets (a webhook's HMAC secret and headers, a Slack webhook URL) never appear in a
// response nor in the stored row; "****" sent back keeps the stored sealed value, which opens
// to the planted secret; a new value replaces it.
func TestChannelSecretsAreSealedMaskedAndKept(t *testing.T) {
	t.Parallel()
	e, api := apiEnv(t)
	api = api.WithToken(e.tokens[tokManage])
	const (
		hookSecret  = "whsec-PLANTED-0001"
		hookHeader  = "Bearer hdr-PLANTED-0002"
		slackURL    = "https://hooks.slack.com/services/T000/B000/slack-PLANTED-0003"
		rotated     = "whsec-ROTATED-0004"
		slackMarker = "slack-PLANTED-0003"
	)
	planted := []string{hookSecret, "hdr-PLANTED-0002", slackMarker, rotated}
	var bodies [][]byte
	do := func(method, path string, body any, want int) []byte {
		t.Helper()
		res := api.Do(method, path, body)
		if res.Status != want {
			t.Fatalf("%s %s = %d %s", method, path, res.Status, res.Body)
		}
		bodies = append(bodies, res.Body)
		return res.Body
	}
	hookCfg := map[string]any{"url": "https://hooks.example.com/in", "secret": hookSecret, "headers": map[string]string{"Authorization": hookHeader}}
	var hook, slack channelOutT
	if err := json.Unmarshal(do("POST", "/api/v1/channels", map[string]any{"name": "hook", "type": "webhook", "config": hookCfg}, 201), &hook); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(do("POST", "/api/v1/channels", map[string]any{"name": "slack", "type": "slack", "config": map[string]any{"webhookUrl": slackURL}}, 201), &slack); err != nil {
		t.Fatal(err)
	}
	var masked map[string]any
	if err := json.Unmarshal(hook.Config, &masked); err != nil || masked["secret"] != "****" || masked["headers"] != "****" || masked["url"] != "https://hooks.example.com/in" {
		t.Fatalf("webhook config as shown = %s", hook.Config)
	}
	if !bytes.Contains(slack.Config, []byte(`"webhookUrl":"****"`)) {
		t.Fatalf("slack config as shown = %s", slack.Config)
	}
	do("GET", "/api/v1/channels/"+hook.ID, nil, 200)
	do("GET", "/api/v1/channels/"+slack.ID, nil, 200)
	do("GET", "/api/v1/channels", nil, 200)

	// Stored sealed: the raw rows hold no planted value; the box opens them.
	for _, id := range []string{hook.ID, slack.ID} {
		row := e.rawChannelRow(t, id)
		for _, p := range planted {
			if strings.Contains(row, p) {
				t.Fatalf("the stored row holds %q: %s", p, row)
			}
		}
		if !strings.Contains(row, secretbox.Prefix) {
			t.Fatalf("the stored row has no sealed value: %s", row)
		}
	}
	stored := e.storedChannelConfig(t, hook.ID)
	if got := e.openStored(t, stored, "secret"); got != hookSecret {
		t.Fatalf("stored secret opens to %q", got)
	}
	var headers map[string]string
	if err := json.Unmarshal([]byte(e.openStored(t, stored, "headers")), &headers); err != nil || headers["Authorization"] != hookHeader {
		t.Fatalf("stored headers open to %v (%v)", headers, err)
	}
	if got := e.openStored(t, e.storedChannelConfig(t, slack.ID), "webhookUrl"); got != slackURL {
		t.Fatalf("stored slack URL opens to %q", got)
	}

	// The config as shown, sent back with a new URL: the secrets are kept as they were stored.
	do("PATCH", "/api/v1/channels/"+hook.ID, map[string]any{"config": map[string]any{"url": "https://hooks.example.com/v2", "secret": "****", "headers": "****"}}, 200)
	after := e.storedChannelConfig(t, hook.ID)
	if !bytes.Equal(after["secret"], stored["secret"]) || !bytes.Equal(after["headers"], stored["headers"]) || !bytes.Contains(after["url"], []byte("/v2")) {
		t.Fatalf("after a patch with ****: %v, before %v", after, stored)
	}
	if got := e.openStored(t, after, "secret"); got != hookSecret {
		t.Fatalf("kept secret opens to %q", got)
	}
	do("PATCH", "/api/v1/channels/"+slack.ID, map[string]any{"config": map[string]any{"webhookUrl": "****"}, "name": "slack 2"}, 200)
	if got := e.openStored(t, e.storedChannelConfig(t, slack.ID), "webhookUrl"); got != slackURL {
		t.Fatalf("kept slack URL opens to %q", got)
	}
	// A new secret replaces it; leaving headers out drops them.
	do("PATCH", "/api/v1/channels/"+hook.ID, map[string]any{"config": map[string]any{"url": "https://hooks.example.com/v2", "secret": rotated}}, 200)
	after = e.storedChannelConfig(t, hook.ID)
	if got := e.openStored(t, after, "secret"); got != rotated {
		t.Fatalf("rotated secret opens to %q", got)
	}
	if _, ok := after["headers"]; ok {
		t.Fatalf("headers left out of the config were kept: %v", after)
	}
	for _, id := range []string{hook.ID, slack.ID} {
		row := e.rawChannelRow(t, id)
		for _, p := range planted {
			if strings.Contains(row, p) {
				t.Fatalf("the stored row holds %q after the patches: %s", p, row)
			}
		}
	}
	do("GET", "/api/v1/channels", nil, 200)
	for _, b := range bodies {
		for _, p := range planted {
			if bytes.Contains(b, []byte(p)) {
				t.Fatalf("a response holds %q: %s", p, b)
			}
		}
	}
	// "****" with nothing stored is an error, on create and for a key the channel never had.
	res := api.Do("POST", "/api/v1/channels", map[string]any{"name": "x", "type": "webhook", "config": map[string]any{"url": "https://h.example.com/", "secret": "****"}})
	if res.Status != 422 || res.Problem(t).Errors[0].Field != "config.secret" {
		t.Fatalf("create with **** = %d %s", res.Status, res.Body)
	}
	res = api.Do("PATCH", "/api/v1/channels/"+hook.ID, map[string]any{"config": map[string]any{"url": "https://h.example.com/", "headers": "****"}})
	if res.Status != 422 || res.Problem(t).Errors[0].Field != "config.headers" {
		t.Fatalf("patch with **** and no stored headers = %d %s", res.Status, res.Body)
	}
}

// Without a secret key a channel carrying a secret is rejected naming the field, and nothing
// is stored; one without a secret is accepted.
func TestChannelSecretsNeedAKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.srv = New(Config{Pool: e.pool, Entities: e.entities})
	res := e.do("POST", "/api/v1/channels", tokManage, map[string]any{"name": "s", "type": "slack", "config": map[string]any{"webhookUrl": "https://hooks.slack.com/services/nokey-PLANTED"}})
	if res.status != 422 || res.problem(t).Errors[0].Field != "config.webhookUrl" || !strings.Contains(res.problem(t).Errors[0].Message, "secret key") {
		t.Fatalf("create with a secret and no key = %s", res)
	}
	if res := e.do("POST", "/api/v1/channels", tokManage, map[string]any{"name": "w", "type": "webhook", "config": map[string]any{"url": "https://h.example.com/"}}); res.status != 201 {
		t.Fatalf("create without a secret = %s", res)
	}
	var n int
	if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM notification_channels WHERE config::text LIKE '%nokey-PLANTED%'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d channels hold the secret (%v)", n, err)
	}
}

// Invalid channels are 422 problems naming the field; nothing is stored.
func TestChannelValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustSystem("shop")
	res := e.do("POST", "/api/v1/channels", tokManage, map[string]any{"name": "ok", "type": "webhook", "config": map[string]any{"url": "https://h.example.com/"}})
	if res.status != 201 {
		t.Fatalf("create = %s", res)
	}
	var ch channelOutT
	res.decode(t, &ch)
	hook := func(extra map[string]any) map[string]any {
		b := map[string]any{"name": "n", "type": "webhook", "config": map[string]any{"url": "https://h.example.com/"}}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	for _, c := range []struct {
		name, method string
		body         any
		field        string
	}{
		{"missing name", "POST", map[string]any{"type": "webhook", "config": map[string]any{"url": "https://h.example.com/"}}, "name"},
		{"blank name", "POST", hook(map[string]any{"name": "  "}), "name"},
		{"missing type", "POST", map[string]any{"name": "n", "config": map[string]any{}}, "type"},
		{"unknown type", "POST", hook(map[string]any{"type": "carrier-pigeon"}), "type"},
		{"bad URL", "POST", hook(map[string]any{"config": map[string]any{"url": "ftp://h.example.com/"}}), "config.url"},
		{"missing URL", "POST", hook(map[string]any{"config": map[string]any{}}), "config.url"},
		{"unknown config key", "POST", hook(map[string]any{"config": map[string]any{"url": "https://h.example.com/", "colour": "red"}}), "config.colour"},
		{"config not an object", "POST", hook(map[string]any{"config": []string{"x"}}), "config"},
		{"unknown system", "POST", hook(map[string]any{"systems": []string{"shop", "nope"}}), "systems[1]"},
		{"star with ids", "POST", hook(map[string]any{"systems": []string{"*", "shop"}}), "systems[0]"},
		{"no systems", "POST", hook(map[string]any{"systems": []string{}}), "systems"},
		{"bad event", "POST", hook(map[string]any{"events": []string{"recovery", "reminder"}}), "events[1]"},
		{"repeated event", "POST", hook(map[string]any{"events": []string{"recovery", "recovery"}}), "events[1]"},
		{"no events", "POST", hook(map[string]any{"events": []string{}}), "events"},
		{"remindEvery not a duration", "POST", hook(map[string]any{"remindEvery": "soon"}), "remindEvery"},
		{"remindEvery zero", "POST", hook(map[string]any{"remindEvery": "0s"}), "remindEvery"},
		{"remindEvery above 7 days", "POST", hook(map[string]any{"remindEvery": "169h"}), "remindEvery"},
		{"remindEvery fraction", "POST", hook(map[string]any{"remindEvery": "1.5s"}), "remindEvery"},
		{"remindEvery a number", "POST", hook(map[string]any{"remindEvery": 60}), "remindEvery"},
		{"unknown body field", "POST", hook(map[string]any{"colour": "red"}), "colour"},
		{"type change", "PATCH", map[string]any{"type": "slack"}, "type"},
		{"null name", "PATCH", map[string]any{"name": nil}, "name"},
		{"null systems", "PATCH", map[string]any{"systems": nil}, "systems"},
		{"patch bad URL", "PATCH", map[string]any{"config": map[string]any{"url": "not a url"}}, "config.url"},
		{"patch unknown system", "PATCH", map[string]any{"systems": []string{"nope"}}, "systems[0]"},
		{"patch bad event", "PATCH", map[string]any{"events": []string{"paged"}}, "events[0]"},
		{"patch bad remindEvery", "PATCH", map[string]any{"remindEvery": "8d"}, "remindEvery"},
	} {
		path := "/api/v1/channels"
		if c.method == "PATCH" {
			path += "/" + ch.ID
		}
		res := e.do(c.method, path, tokManage, c.body)
		if res.status != 422 || res.header.Get("Content-Type") != problemContentType {
			t.Errorf("%s: %s, want a 422 problem", c.name, res)
			continue
		}
		if p := res.problem(t); p.Type != ProblemValidation || !slices.ContainsFunc(p.Errors, func(f FieldError) bool { return f.Field == c.field }) {
			t.Errorf("%s: errors %+v do not name %s", c.name, p.Errors, c.field)
		}
	}
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM notification_channels`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d channels stored (%v), want 1", n, err)
	}
	if got, err := e.store.GetChannel(context.Background(), ch.ID); err != nil || got.Name != "ok" || got.Type != "webhook" || !slices.Equal(got.Systems, []string{"*"}) {
		t.Fatalf("the rejected patches changed the channel: %+v (%v)", got, err)
	}
}

// webhookReceiver is a local webhook endpoint answering status; it records what it got.
type webhookReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   [][]byte
	requests []http.Header
}

func newReceiver(t *testing.T, status int) *webhookReceiver {
	t.Helper()
	r := &webhookReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, body)
		r.requests = append(r.requests, req.Header.Clone())
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *webhookReceiver) got() ([][]byte, []http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bodies), slices.Clone(r.requests)
}

type channelTestOut struct {
	DeliveryID string `json:"deliveryId"`
	Status     string `json:"status"`
	Error      string `json:"error"`
	Retryable  *bool  `json:"retryable"`
	DurationMs *int64 `json:"durationMs"`
}

// POST /channels/{id}/test sends one signed test message to a local receiver and records a
// sent delivery; against a receiver answering 500 it answers 200 "failed" with the error and
// records a failed delivery; neither changes the channel's failure state.
func TestChannelTestEndpoint(t *testing.T) {
	t.Parallel()
	const secret = "whsec-TEST-PLANTED"
	for _, c := range []struct {
		name       string
		status     int
		wantStatus string
	}{
		{"receiver accepts", http.StatusNoContent, store.DeliverySent},
		{"receiver fails", http.StatusInternalServerError, store.DeliveryFailed},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			recv := newReceiver(t, c.status)
			e.srv = New(Config{Pool: e.pool, Entities: e.entities, SecretBox: e.box, NotifyOptions: notify.Options{HTTPClient: recv.Client()}},
				WithClock(func() time.Time { return t0 }))
			hs := e.serve()
			api := apitest.New(t, hs.URL, hs.Client()).WithToken(e.tokens[tokManage])
			res := api.Do("POST", "/api/v1/channels", map[string]any{"name": "local hook", "type": "webhook",
				"config": map[string]any{"url": recv.URL + "/hook", "secret": secret, "headers": map[string]string{"X-Team": "ops-PLANTED"}}})
			var ch channelOutT
			res.Decode(t, &ch)
			if res.Status != 201 {
				t.Fatalf("create = %d %s", res.Status, res.Body)
			}

			res = api.Do("POST", "/api/v1/channels/"+ch.ID+"/test", nil)
			var out channelTestOut
			res.Decode(t, &out)
			if res.Status != 200 || out.Status != c.wantStatus || !strings.HasPrefix(out.DeliveryID, "test:") || !strings.HasSuffix(out.DeliveryID, ":"+ch.ID) || out.DurationMs == nil {
				t.Fatalf("test = %d %s", res.Status, res.Body)
			}
			if bytes.Contains(res.Body, []byte("PLANTED")) {
				t.Fatalf("the answer holds a secret: %s", res.Body)
			}
			if c.wantStatus == store.DeliveryFailed {
				if out.Error == "" || !strings.Contains(out.Error, "500") || out.Retryable == nil || !*out.Retryable {
					t.Fatalf("failed test = %s", res.Body)
				}
			} else if out.Error != "" || out.Retryable != nil {
				t.Fatalf("sent test = %s", res.Body)
			}

			// The receiver got the message once, signed with the opened secret and with the
			// opened headers.
			bodies, headers := recv.got()
			if len(bodies) != 1 {
				t.Fatalf("receiver got %d requests", len(bodies))
			}
			var msg notify.Message
			if err := json.Unmarshal(bodies[0], &msg); err != nil || msg.Event != notify.EventTest || msg.ID != out.DeliveryID || msg.System.ID != "checkflow-test" || !strings.Contains(msg.Body, "local hook") {
				t.Fatalf("receiver got %s (%v)", bodies[0], err)
			}
			if got, want := headers[0].Get(notify.HeaderSignature), notify.Sign(secret, bodies[0]); got != want {
				t.Fatalf("signature %q, want %q", got, want)
			}
			if headers[0].Get("X-Team") != "ops-PLANTED" {
				t.Fatalf("receiver headers %v", headers[0])
			}

			// One delivery row, in its final state.
			d, err := e.store.GetDelivery(context.Background(), out.DeliveryID)
			if err != nil {
				t.Fatal(err)
			}
			if d.Status != c.wantStatus || d.Event != "test" || d.SystemID != nil || d.ChannelID != ch.ID || d.Attempts != 1 {
				t.Fatalf("delivery = %+v", d)
			}
			if c.wantStatus == store.DeliverySent && (d.SentAt == nil || d.LastError != nil) {
				t.Fatalf("sent delivery = %+v", d)
			}
			if c.wantStatus == store.DeliveryFailed && (d.SentAt != nil || d.LastError == nil || *d.LastError != out.Error) {
				t.Fatalf("failed delivery = %+v (answer %q)", d, out.Error)
			}
			var list struct {
				Items []map[string]any `json:"items"`
			}
			res = api.Do("GET", "/api/v1/deliveries?channelId="+ch.ID, nil)
			res.Decode(t, &list)
			if res.Status != 200 || len(list.Items) != 1 || list.Items[0]["id"] != out.DeliveryID || list.Items[0]["systemId"] != nil || list.Items[0]["status"] != c.wantStatus {
				t.Fatalf("deliveries = %d %s", res.Status, res.Body)
			}

			// The channel's failure state is untouched.
			res = api.Do("GET", "/api/v1/channels/"+ch.ID, nil)
			var after channelOutT
			res.Decode(t, &after)
			if after.Failing || after.ConsecutiveFailures != 0 || after.FailingSince != nil {
				t.Fatalf("channel after a test = %s", res.Body)
			}
		})
	}
}

// The delivery log filters by channel, system and status and pages with an opaque cursor.
func TestDeliveriesFilterAndPage(t *testing.T) {
	t.Parallel()
	e, api := apiEnv(t)
	api = api.WithToken(e.tokens[tokRead])
	ctx := context.Background()
	e.mustSystem("a")
	e.mustSystem("b")
	mk := func(name string) string {
		ch, err := e.store.CreateChannel(ctx, store.ChannelInput{Name: name, Type: "webhook", Config: json.RawMessage(`{"url":"https://h.example.com/"}`), Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		return ch.ID
	}
	c1, c2 := mk("one"), mk("two")
	var in []store.DeliveryInput
	for i := range 5 {
		in = append(in, store.DeliveryInput{ID: fmt.Sprintf("a:%d:escalation:%s", i, c1), ChannelID: c1, SystemID: "a", Event: "escalation", Payload: json.RawMessage(`{}`)})
	}
	for i := range 2 {
		in = append(in, store.DeliveryInput{ID: fmt.Sprintf("b:%d:recovery:%s", i, c2), ChannelID: c2, SystemID: "b", Event: "recovery", Payload: json.RawMessage(`{}`)})
	}
	if n, err := e.store.CreateDeliveries(ctx, in); err != nil || n != 7 {
		t.Fatalf("created %d deliveries (%v)", n, err)
	}
	for _, id := range []string{in[0].ID, in[5].ID} {
		if _, err := e.store.MarkDeliverySent(ctx, id, t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.store.RecordDeliveryError(ctx, in[1].ID, "HTTP 500", t0, true); err != nil {
		t.Fatal(err)
	}
	type page struct {
		Items []struct {
			ID        string  `json:"id"`
			ChannelID string  `json:"channelId"`
			SystemID  *string `json:"systemId"`
			Status    string  `json:"status"`
			LastError *string `json:"lastError"`
		} `json:"items"`
		NextCursor *string `json:"nextCursor"`
	}
	list := func(query string) page {
		t.Helper()
		res := api.Do("GET", "/api/v1/deliveries?"+query, nil)
		if res.Status != 200 {
			t.Fatalf("deliveries?%s = %d %s", query, res.Status, res.Body)
		}
		var p page
		res.Decode(t, &p)
		return p
	}
	for _, c := range []struct {
		query string
		want  int
		check func(p page) bool
	}{
		{"", 7, nil},
		{"channelId=" + c1, 5, func(p page) bool { return p.Items[0].ChannelID == c1 }},
		{"systemId=b", 2, func(p page) bool { return *p.Items[0].SystemID == "b" && *p.Items[1].SystemID == "b" }},
		{"status=sent", 2, func(p page) bool { return p.Items[0].Status == "sent" }},
		{"status=failed", 1, func(p page) bool { return p.Items[0].ID == in[1].ID && *p.Items[0].LastError == "HTTP 500" }},
		{"status=pending&channelId=" + c1, 3, nil},
		{"systemId=nope", 0, nil},
	} {
		p := list(c.query)
		if len(p.Items) != c.want || p.NextCursor != nil || (c.check != nil && !c.check(p)) {
			t.Errorf("deliveries?%s = %+v, want %d items on one page", c.query, p, c.want)
		}
	}

	// Paging by 2 walks all 5 of channel one exactly once, newest first, and ends.
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("the cursor never ends")
		}
		q := "channelId=" + c1 + "&limit=2"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		p := list(q)
		for _, it := range p.Items {
			seen = append(seen, it.ID)
		}
		if p.NextCursor == nil {
			if pages != 2 || len(p.Items) != 1 {
				t.Fatalf("last page %d has %d items", pages, len(p.Items))
			}
			break
		}
		cursor = *p.NextCursor
	}
	// One INSERT gives the rows one created_at: newest first is then id descending.
	want := []string{in[4].ID, in[3].ID, in[2].ID, in[1].ID, in[0].ID}
	if !slices.Equal(seen, want) {
		t.Fatalf("pages walked %v, want %v", seen, want)
	}

	for _, c := range []struct{ query, field string }{
		{"status=lost", "status"},
		{"cursor=not-a-cursor", "cursor"},
		{"channelId=nope", "channelId"},
		{"limit=0", "limit"},
		{"limit=501", "limit"},
		{"chanelId=" + c1, "chanelId"},
	} {
		res := api.Do("GET", "/api/v1/deliveries?"+c.query, nil)
		if res.Status != 422 || !slices.ContainsFunc(res.Problem(t).Errors, func(f struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		}) bool {
			return f.Field == c.field
		}) {
			t.Errorf("deliveries?%s = %d %s, want a 422 naming %s", c.query, res.Status, res.Body, c.field)
		}
	}
}

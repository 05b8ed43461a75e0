package notify

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// The slack webhook path of the tests: the token part is what must never leak.
const slackPath = "/services/T0000TEST/B0000TEST/abcdefghijklmnopqrstuvwx"

func TestSlackSendsBlockKit(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, fakeResponse{status: http.StatusOK, body: "ok"})
	ch := mustNew(t, TypeSlack, map[string]any{"webhookUrl": srv.URL + slackPath, "channel": "#ops", "username": "checkflow"}, Options{})
	m := sampleMessage()
	if err := ch.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	req := srv.only(t)
	if req.Path != slackPath || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request %s %q", req.Path, req.Header.Get("Content-Type"))
	}
	body := decodeJSON(t, req.Body)
	if body["text"] != m.Title || body["channel"] != "#ops" || body["username"] != "checkflow" {
		t.Errorf("text/channel/username = %v/%v/%v", body["text"], body["channel"], body["username"])
	}
	blocks := path(t, body, "blocks").([]any)
	types := map[string]map[string]any{}
	for _, b := range blocks {
		bm := b.(map[string]any)
		if _, seen := types[bm["type"].(string)]; !seen {
			types[bm["type"].(string)] = bm
		}
	}
	for _, want := range []string{"header", "section", "context", "actions"} {
		if types[want] == nil {
			t.Fatalf("no %s block in %s", want, req.Body)
		}
	}
	if got := path(t, types["header"], "text", "text"); got != m.Title {
		t.Errorf("header text = %v, want %q", got, m.Title)
	}
	if got := path(t, types["header"], "text", "type"); got != "plain_text" {
		t.Errorf("header text type = %v", got)
	}
	section := path(t, types["section"], "text", "text").(string)
	if path(t, types["section"], "text", "type") != "mrkdwn" ||
		!strings.Contains(section, "*Payments API*") || strings.Contains(section, "**") ||
		!strings.Contains(section, "&amp;") {
		t.Errorf("section = %q, want mrkdwn with *bold* and escaped &", section)
	}
	var context []string
	for _, e := range path(t, types["context"], "elements").([]any) {
		context = append(context, path(t, e, "text").(string))
	}
	joined := strings.Join(context, " | ")
	for _, want := range []string{"unhealthy (was degraded)", "Payments API", "1 of 2 failing: HTTP /health (unhealthy)"} {
		if !strings.Contains(joined, want) {
			t.Errorf("context %q lacks %q", joined, want)
		}
	}
	if got := path(t, types["actions"], "elements", 0, "url"); got != m.URL {
		t.Errorf("button url = %v", got)
	}
}

func TestSlackReminderShowsDuration(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t)
	ch := mustNew(t, TypeSlack, map[string]any{"webhookUrl": srv.URL + slackPath}, Options{})
	m := sampleMessage()
	m.Event, m.DownForSeconds = EventReminder, 3900
	if err := ch.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	body := decodeJSON(t, srv.only(t).Body)
	want := "Still unhealthy for 1h5m: Payments API"
	if got := path(t, body, "blocks", 0, "text", "text"); got != want {
		t.Errorf("header = %v, want %q", got, want)
	}
	if !strings.Contains(string(srv.only(t).Body), "*Down for:* 1h5m") {
		t.Errorf("body %s lacks the down time", srv.only(t).Body)
	}
}

func TestSlackErrorsNeverShowTheWebhookURL(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, fakeResponse{status: 404, body: "no_service for " + slackPath})
	target := srv.URL + slackPath
	ch := mustNew(t, TypeSlack, map[string]any{"webhookUrl": target}, Options{})
	err := ch.Send(context.Background(), sampleMessage())
	se := asSendError(t, err)
	if se.Retryable || se.StatusCode != 404 || !strings.Contains(se.Message, "no_service") {
		t.Errorf("got %+v", se)
	}
	assertNoSecret(t, se.Message, target, slackPath, "abcdefghijklmnopqrstuvwx")

	refused := refusedURL(t, slackPath)
	ch = mustNew(t, TypeSlack, map[string]any{"webhookUrl": refused}, Options{})
	se = asSendError(t, ch.Send(context.Background(), sampleMessage()))
	if !se.Retryable {
		t.Errorf("connection refused not retryable: %+v", se)
	}
	assertNoSecret(t, se.Message, refused, slackPath, "abcdefghijklmnopqrstuvwx")
}

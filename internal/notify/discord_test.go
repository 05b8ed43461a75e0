package notify

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

func TestDiscordEmbedColourByStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		event  string
		status string
		colour float64
	}{
		{"recovery is green", EventRecovery, "healthy", discordGreen},
		{"degraded is amber", EventEscalation, "degraded", discordAmber},
		{"unhealthy is red", EventEscalation, "unhealthy", discordRed},
		{"test is grey", EventTest, "unhealthy", discordGrey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newFakeServer(t, fakeResponse{status: http.StatusNoContent})
			ch := mustNew(t, TypeDiscord, map[string]any{"webhookUrl": srv.URL + "/api/webhooks/123/tok", "username": "cf"}, Options{})
			m := sampleMessage()
			m.Event, m.Status = tc.event, tc.status
			if err := ch.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			body := decodeJSON(t, srv.only(t).Body)
			embed := path(t, body, "embeds", 0)
			if got := path(t, embed, "color"); got != tc.colour {
				t.Errorf("color = %v, want %v", got, tc.colour)
			}
			if path(t, embed, "title") != m.Title || path(t, embed, "timestamp") != "2026-03-04T05:06:07Z" {
				t.Errorf("title/timestamp = %v/%v", path(t, embed, "title"), path(t, embed, "timestamp"))
			}
			if d := path(t, embed, "description").(string); !strings.Contains(d, "**Payments API**") {
				t.Errorf("description %q lost the markdown", d)
			}
			fields := map[string]string{}
			for _, f := range path(t, embed, "fields").([]any) {
				fields[path(t, f, "name").(string)] = path(t, f, "value").(string)
			}
			if fields["HTTP /health"] != "unhealthy" || fields["DB ping"] != "healthy" || fields["System"] != "Payments API" {
				t.Errorf("fields = %v", fields)
			}
			if body["username"] != "cf" || len(path(t, body, "allowed_mentions", "parse").([]any)) != 0 {
				t.Errorf("username/allowed_mentions = %v/%v", body["username"], body["allowed_mentions"])
			}
		})
	}
}

func TestDiscordRateLimitIsRetryable(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, fakeResponse{status: 429, header: map[string]string{"Retry-After": "2"}, body: `{"retry_after":2}`})
	target := srv.URL + "/api/webhooks/123456789012345678/discordtokendiscordtokendiscordtoken"
	ch := mustNew(t, TypeDiscord, map[string]any{"webhookUrl": target}, Options{})
	err := ch.Send(context.Background(), sampleMessage())
	if !Retryable(err) || RetryAfter(err).Seconds() != 2 {
		t.Errorf("err %v: retryable %v after %v", err, Retryable(err), RetryAfter(err))
	}
	assertNoSecret(t, err.Error(), target, "discordtoken", "123456789012345678")
}

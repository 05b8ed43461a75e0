package notify

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

func TestMSTeamsSendsAdaptiveCard(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, fakeResponse{status: http.StatusAccepted})
	ch := mustNew(t, TypeMSTeams, map[string]any{"webhookUrl": srv.URL + "/workflows/abc/triggers/manual/paths/invoke?sig=xyz"}, Options{})
	m := sampleMessage()
	m.Status, m.PreviousStatus = "degraded", "healthy"
	if err := ch.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	body := decodeJSON(t, srv.only(t).Body)
	if body["type"] != "message" {
		t.Errorf("type = %v", body["type"])
	}
	att := path(t, body, "attachments", 0)
	if path(t, att, "contentType") != "application/vnd.microsoft.card.adaptive" {
		t.Errorf("contentType = %v", path(t, att, "contentType"))
	}
	card := path(t, att, "content")
	for k, want := range map[string]string{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4",
	} {
		if got := path(t, card, k); got != want {
			t.Errorf("card %s = %v, want %s", k, got, want)
		}
	}
	title := path(t, card, "body", 0)
	if path(t, title, "type") != "TextBlock" || path(t, title, "text") != m.Title ||
		path(t, title, "weight") != "bolder" || path(t, title, "color") != "warning" {
		t.Errorf("title block = %v", title)
	}
	text := path(t, card, "body", 1)
	if path(t, text, "text") != m.Body || path(t, text, "wrap") != true {
		t.Errorf("body block = %v", text)
	}
	factSet := path(t, card, "body", 2)
	if path(t, factSet, "type") != "FactSet" {
		t.Fatalf("third block = %v", factSet)
	}
	facts := map[string]string{}
	for _, f := range path(t, factSet, "facts").([]any) {
		facts[path(t, f, "title").(string)] = path(t, f, "value").(string)
	}
	if facts["Status"] != "degraded" || facts["Previous status"] != "healthy" ||
		facts["System"] != "Payments API" || !strings.Contains(facts["Checks"], "1 of 2 failing") {
		t.Errorf("facts = %v", facts)
	}
	if path(t, card, "actions", 0, "url") != m.URL {
		t.Errorf("actions = %v", path(t, card, "actions"))
	}
}

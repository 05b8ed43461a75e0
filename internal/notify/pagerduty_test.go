package notify

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

const routingKey = "R0UT1NGKEY0123456789abcdefabcdef"

func TestPagerDutyEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		event      string
		importance string
		// want lists (action, dedup key, severity) per call; severity "" for resolves.
		want [][3]string
	}{
		{"escalation triggers the system incident", EventEscalation, "critical",
			[][3]string{{"trigger", "sys-payments", "critical"}}},
		{"de-escalation triggers with the new severity", EventDeEscalation, "warning",
			[][3]string{{"trigger", "sys-payments", "warning"}}},
		{"reminder triggers", EventReminder, "critical", [][3]string{{"trigger", "sys-payments", "critical"}}},
		{"check_failed with unknown importance is error", EventCheckFailed, "",
			[][3]string{{"trigger", "sys-payments", "error"}}},
		{"recovery resolves the same incident", EventRecovery, "info", [][3]string{{"resolve", "sys-payments", ""}}},
		{"test triggers then resolves its own key", EventTest, "critical", [][3]string{
			{"trigger", "checkflow-test:evt-42:chan-7", "info"}, {"resolve", "checkflow-test:evt-42:chan-7", ""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newFakeServer(t, fakeResponse{status: http.StatusAccepted, body: `{"status":"success"}`})
			ch := mustNew(t, TypePagerDuty, map[string]any{"routingKey": routingKey, "url": srv.URL + "/v2/enqueue"}, Options{})
			m := sampleMessage()
			m.Event, m.Importance, m.DownForSeconds = tc.event, tc.importance, 65
			if err := ch.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			reqs := srv.received()
			if len(reqs) != len(tc.want) {
				t.Fatalf("%d calls, want %d", len(reqs), len(tc.want))
			}
			for i, w := range tc.want {
				if reqs[i].Path != "/v2/enqueue" {
					t.Errorf("path = %s", reqs[i].Path)
				}
				ev := decodeJSON(t, reqs[i].Body)
				if ev["routing_key"] != routingKey || ev["event_action"] != w[0] || ev["dedup_key"] != w[1] {
					t.Errorf("call %d = %s", i, reqs[i].Body)
				}
				if w[0] == "resolve" {
					if _, ok := ev["payload"]; ok {
						t.Errorf("resolve carries a payload: %s", reqs[i].Body)
					}
					continue
				}
				p := path(t, ev, "payload")
				if path(t, p, "severity") != w[2] || path(t, p, "source") != "checkflow" ||
					path(t, p, "summary") != displayTitle(m) || path(t, p, "timestamp") != "2026-03-04T05:06:07Z" {
					t.Errorf("payload = %v", p)
				}
				cd := path(t, p, "custom_details")
				if path(t, cd, "status") != "unhealthy" || path(t, cd, "previousStatus") != "degraded" ||
					path(t, cd, "downFor") != "1m5s" || len(path(t, cd, "checks").([]any)) != 2 ||
					!strings.Contains(path(t, cd, "body").(string), "Payments API") {
					t.Errorf("custom_details = %v", cd)
				}
				if ev["client"] != "checkflow" {
					t.Errorf("client = %v", ev["client"])
				}
			}
		})
	}
}

func TestPagerDutyErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		resp      fakeResponse
		retryable bool
	}{
		{"400 is final", fakeResponse{status: 400, body: `{"status":"invalid event","errors":["routing_key ` + routingKey + ` invalid"]}`}, false},
		{"429 is retryable", fakeResponse{status: 429}, true},
		{"500 is retryable", fakeResponse{status: 500}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newFakeServer(t, tc.resp)
			ch := mustNew(t, TypePagerDuty, map[string]any{"routingKey": routingKey, "url": srv.URL}, Options{})
			err := ch.Send(context.Background(), sampleMessage())
			se := asSendError(t, err)
			if se.Retryable != tc.retryable || se.StatusCode != tc.resp.status {
				t.Errorf("got %+v", se)
			}
			assertNoSecret(t, se.Message, routingKey)
		})
	}
}

func TestPagerDutyTestStopsAfterFailedTrigger(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, fakeResponse{status: 500}, fakeResponse{status: 202})
	ch := mustNew(t, TypePagerDuty, map[string]any{"routingKey": routingKey, "url": srv.URL}, Options{})
	m := sampleMessage()
	m.Event = EventTest
	if err := ch.Send(context.Background(), m); !Retryable(err) {
		t.Fatalf("err = %v, want retryable", err)
	}
	if n := len(srv.received()); n != 1 {
		t.Errorf("%d calls after a failed trigger, want 1 (no resolve)", n)
	}
}

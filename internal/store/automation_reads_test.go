package store

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestEventByKey: an outbox event is found by its idempotency key with its payload and time; an
// unknown or empty key is an "Event not found".
func TestEventByKey(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := ctxT(t)
	mustSystem(t, s, "sys-1")
	payload := map[string]any{"systemId": "sys-1", "newStatus": "degraded", "healthyChecks": 1}
	if _, err := s.InsertEvent(ctx, "sys-1", "healthcheck.system_health_changed", "sys-1:7:healthcheck.system_health_changed", payload); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InsertEvent(ctx, "sys-1", "healthcheck.system_degraded", "sys-1:7:healthcheck.system_degraded", nil); err != nil {
		t.Fatal(err)
	}
	ev, err := s.EventByKey(ctx, "sys-1:7:healthcheck.system_health_changed")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(ev.Payload, &got); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "healthcheck.system_health_changed" || ev.SystemID != "sys-1" || got["newStatus"] != "degraded" ||
		ev.IdempotencyKey != "sys-1:7:healthcheck.system_health_changed" || ev.CreatedAt.IsZero() || ev.CreatedAt.Location().String() != "UTC" {
		t.Fatalf("event = %+v (payload %v)", ev, got)
	}
	for _, key := range []string{"", "sys-1:7", "sys-1:7:healthcheck.system_health_changed:x"} {
		_, err := s.EventByKey(ctx, key)
		var nf *NotFoundError
		if !errors.As(err, &nf) || nf.Entity != "Event" {
			t.Errorf("EventByKey(%q) = %v, want Event not found", key, err)
		}
	}
}

// TestExistingChannelsAndConfigurations: the ids that exist are reported under the ids as given
// (upper case too); unknown and malformed ids are not.
func TestExistingChannelsAndConfigurations(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := ctxT(t)
	ch := mustChannel(t, s, ChannelInput{Name: "ops", Type: "webhook", Enabled: true})
	cfg := mustConfig(t, s, "check-1")
	const missing = "00000000-0000-0000-0000-000000000000"
	for _, c := range []struct {
		name  string
		fn    func([]string) (map[string]bool, error)
		have  string
		other string
	}{
		{"channels", func(ids []string) (map[string]bool, error) { return s.ExistingChannels(ctx, ids) }, ch.ID, cfg.ID},
		{"configurations", func(ids []string) (map[string]bool, error) { return s.ExistingConfigurations(ctx, ids) }, cfg.ID, ch.ID},
	} {
		upper := strings.ToUpper(c.have)
		got, err := c.fn([]string{c.have, upper, missing, "not-a-uuid", "", c.other})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !got[c.have] || !got[upper] || got[missing] || got["not-a-uuid"] || got[""] || got[c.other] || len(got) != 2 {
			t.Errorf("%s: %v", c.name, got)
		}
		if got, err := c.fn(nil); err != nil || len(got) != 0 {
			t.Errorf("%s of nothing = %v, %v", c.name, got, err)
		}
		if got, err := c.fn([]string{"x"}); err != nil || len(got) != 0 {
			t.Errorf("%s of a malformed id = %v, %v", c.name, got, err)
		}
	}
}

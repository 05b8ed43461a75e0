package store

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func mustChannel(t testing.TB, s *Store, in ChannelInput) Channel {
	t.Helper()
	c, err := s.CreateChannel(ctxT(t), in)
	if err != nil {
		t.Fatalf("create channel %q: %v", in.Name, err)
	}
	return c
}

// TestChannelsCRUD: a channel created with only a name and a type gets the defaults (every
// system, the three default events, config {}); get, list, update and delete work; a changed
// config resets the failure counters, an unchanged one keeps them.
func TestChannelsCRUD(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := ctxT(t)
	a := mustChannel(t, s, ChannelInput{Name: "ops", Type: "webhook", Enabled: true})
	if !slices.Equal(a.Systems, []string{"*"}) || !slices.Equal(a.Events, []string{"escalation", "de-escalation", "recovery"}) ||
		string(a.Config) != "{}" || !a.Enabled || a.ConsecutiveFailures != 0 || a.RemindEverySeconds != nil || a.CreatedAt.IsZero() {
		t.Fatalf("created with defaults: %+v", a)
	}
	if a.CreatedAt.Location() != time.UTC {
		t.Errorf("createdAt not UTC: %v", a.CreatedAt)
	}
	b := mustChannel(t, s, ChannelInput{Name: "pager", Type: "pagerduty", Config: json.RawMessage(`{"routingKey":"sealed:x"}`),
		Systems: []string{"sys-1", "sys-1", "sys-2"}, Events: []string{"check_failed"}, RemindEverySeconds: intp(3600)})
	if !slices.Equal(b.Systems, []string{"sys-1", "sys-2"}) || !slices.Equal(b.Events, []string{"check_failed"}) ||
		b.Enabled || *b.RemindEverySeconds != 3600 {
		t.Fatalf("created %+v", b)
	}
	got, err := s.GetChannel(ctx, a.ID)
	if err != nil || got.Name != "ops" || got.Type != "webhook" {
		t.Fatalf("get %+v %v", got, err)
	}
	list, err := s.ListChannels(ctx, Page{})
	if err != nil || len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("list %+v %v", list, err)
	}
	if page, err := s.ListChannels(ctx, Page{Limit: 1, Offset: 1}); err != nil || len(page) != 1 || page[0].ID != b.ID {
		t.Fatalf("page 2 %+v %v", page, err)
	}

	// Failures survive an update with the same config; a new config resets them.
	for range 3 {
		if _, err := s.RecordChannelFailure(ctx, b.ID, "HTTP 500", t0, 3); err != nil {
			t.Fatal(err)
		}
	}
	in := ChannelInput{Name: "pager 2", Type: "pagerduty", Config: json.RawMessage(`{"routingKey": "sealed:x"}`), Enabled: true}
	same, err := s.UpdateChannel(ctx, b.ID, in)
	if err != nil || same.Name != "pager 2" || same.ConsecutiveFailures != 3 || same.FailingSince == nil ||
		!slices.Equal(same.Systems, []string{"*"}) || !same.Enabled || same.RemindEverySeconds != nil || same.LastError == nil {
		t.Fatalf("update, same config: %+v %v", same, err)
	}
	if !same.UpdatedAt.After(b.UpdatedAt) && !same.UpdatedAt.Equal(b.UpdatedAt) {
		t.Errorf("updatedAt went back: %v < %v", same.UpdatedAt, b.UpdatedAt)
	}
	in.Config = json.RawMessage(`{"routingKey":"sealed:y"}`)
	fresh, err := s.UpdateChannel(ctx, b.ID, in)
	if err != nil || fresh.ConsecutiveFailures != 0 || fresh.FailingSince != nil || fresh.LastError == nil {
		t.Fatalf("update, new config: %+v %v", fresh, err)
	}
	if _, err := s.UpdateChannel(ctx, b.ID, ChannelInput{Name: "x", Type: "carrier-pigeon"}); !isValidation(err, "type") {
		t.Fatalf("update with a bad type: %v", err)
	}

	if err := s.DeleteChannel(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteChannel(ctx, a.ID); !isNotFound(err, "Channel") {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := s.GetChannel(ctx, a.ID); !isNotFound(err, "Channel") {
		t.Fatalf("get deleted: %v", err)
	}
	if _, err := s.UpdateChannel(ctx, a.ID, in); !isNotFound(err, "Channel") {
		t.Fatalf("update deleted: %v", err)
	}
	if _, err := s.ListChannels(ctx, Page{Limit: 501}); !isValidation(err, "limit") {
		t.Fatalf("limit 501: %v", err)
	}
}

// TestChannelValidation: invalid input is a *ValidationError naming the JSON field, with the
// store's own wording.
func TestChannelValidation(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ok := ChannelInput{Name: "ok", Type: "slack"}
	with := func(f func(*ChannelInput)) ChannelInput { in := ok; f(&in); return in }
	cases := []struct {
		name  string
		in    ChannelInput
		field string
	}{
		{"bad type", with(func(in *ChannelInput) { in.Type = "fax" }), "type"},
		{"empty type", with(func(in *ChannelInput) { in.Type = "" }), "type"},
		{"empty name", with(func(in *ChannelInput) { in.Name = "" }), "name"},
		{"blank name", with(func(in *ChannelInput) { in.Name = "   " }), "name"},
		{"long name", with(func(in *ChannelInput) { in.Name = strings.Repeat("n", 201) }), "name"},
		{"unknown event", with(func(in *ChannelInput) { in.Events = []string{"recovery", "reminder"} }), "events"},
		{"remind 0", with(func(in *ChannelInput) { in.RemindEverySeconds = intp(0) }), "remindEverySeconds"},
		{"remind > 1 week", with(func(in *ChannelInput) { in.RemindEverySeconds = intp(604801) }), "remindEverySeconds"},
		{"config array", with(func(in *ChannelInput) { in.Config = json.RawMessage(`[1]`) }), "config"},
		{"config not JSON", with(func(in *ChannelInput) { in.Config = json.RawMessage(`{`) }), "config"},
		{"empty system id", with(func(in *ChannelInput) { in.Systems = []string{"sys-1", ""} }), "systems"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.CreateChannel(ctxT(t), c.in)
			if !isValidation(err, c.field) {
				t.Fatalf("err = %v, want a validation error on %q", err, c.field)
			}
			assertNoPgText(t, err)
		})
	}
	if n := count(t, pool, "notification_channels"); n != 0 {
		t.Fatalf("%d channels stored by invalid input", n)
	}
	// Boundaries are accepted.
	if _, err := s.CreateChannel(ctxT(t), with(func(in *ChannelInput) {
		in.RemindEverySeconds = intp(604800)
		in.Events = []string{"escalation", "de-escalation", "recovery", "check_failed"}
	})); err != nil {
		t.Fatalf("remind 604800 and all four events: %v", err)
	}
}

// TestChannelMalformedID: a malformed or unknown id is "Channel not found", never a 500.
func TestChannelMalformedID(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ok := ChannelInput{Name: "ok", Type: "email"}
	for _, id := range []string{"not-a-uuid", "", "11111111-2222-4333-8444-55555555555Z", "11111111-2222-4333-8444-555555555555"} {
		ops := map[string]error{}
		_, ops["get"] = s.GetChannel(ctxT(t), id)
		_, ops["update"] = s.UpdateChannel(ctxT(t), id, ok)
		ops["delete"] = s.DeleteChannel(ctxT(t), id)
		_, ops["failure"] = s.RecordChannelFailure(ctxT(t), id, "x", t0, 1)
		ops["success"] = s.RecordChannelSuccess(ctxT(t), id, t0)
		for op, err := range ops {
			if !isNotFound(err, "Channel") {
				t.Errorf("%s %q: %v, want Channel not found", op, id, err)
			}
		}
	}
}

// TestSubscribedChannels: enabled channels subscribed to the system (by '*' or by id) and to
// the event ("" = any), ordered by id; disabled channels never.
func TestSubscribedChannels(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	all := mustChannel(t, s, ChannelInput{Name: "all", Type: "webhook", Enabled: true})
	sys1Failed := mustChannel(t, s, ChannelInput{Name: "sys1", Type: "slack", Systems: []string{"sys-1"}, Events: []string{"check_failed"}, Enabled: true})
	sys2 := mustChannel(t, s, ChannelInput{Name: "sys2", Type: "discord", Systems: []string{"sys-2", "sys-3"}, Enabled: true})
	mustChannel(t, s, ChannelInput{Name: "off", Type: "webhook", Enabled: false})
	mustChannel(t, s, ChannelInput{Name: "off-sys1", Type: "webhook", Systems: []string{"sys-1"}, Events: []string{"check_failed"}})
	sorted := func(cs ...Channel) []string {
		ids := make([]string, len(cs))
		for i, c := range cs {
			ids[i] = c.ID
		}
		slices.Sort(ids)
		return ids
	}
	cases := []struct {
		system, event string
		want          []string
	}{
		{"sys-1", "escalation", sorted(all)},
		{"sys-1", "check_failed", sorted(sys1Failed)},
		{"sys-1", "", sorted(all, sys1Failed)},
		{"sys-2", "", sorted(all, sys2)},
		{"sys-3", "recovery", sorted(all, sys2)},
		{"sys-3", "check_failed", nil},
		{"sys-9", "de-escalation", sorted(all)},
		{"*", "check_failed", nil},
	}
	for _, c := range cases {
		got, err := s.SubscribedChannels(ctxT(t), c.system, c.event)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]string, len(got))
		for i, ch := range got {
			ids[i] = ch.ID
			if !ch.Enabled {
				t.Errorf("%s/%s: disabled channel %q returned", c.system, c.event, ch.Name)
			}
		}
		if !slices.Equal(ids, c.want) && !(len(ids) == 0 && len(c.want) == 0) {
			t.Errorf("SubscribedChannels(%q, %q) = %v, want %v", c.system, c.event, ids, c.want)
		}
	}
}

// TestRecordChannelFailureOnceAtThreshold: 20 concurrent failures with threshold 5 → exactly one
// caller is told the channel became failing, and failing_since is set once; later failures of
// the same episode say false; a success resets the episode and the next one is reported at
// exactly the threshold-th failure.
func TestRecordChannelFailureOnceAtThreshold(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	c := mustChannel(t, s, ChannelInput{Name: "flaky", Type: "webhook", Enabled: true})
	const n = 20
	var wg sync.WaitGroup
	start := make(chan struct{})
	results := make(chan bool, n)
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			became, err := s.RecordChannelFailure(ctxT(t), c.ID, "HTTP 503", t0.Add(time.Duration(i)*time.Second), 5)
			results <- became
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	became := 0
	for b := range results {
		if b {
			became++
		}
	}
	if became != 1 {
		t.Fatalf("%d callers saw the channel become failing, want exactly 1", became)
	}
	got, err := s.GetChannel(ctxT(t), c.ID)
	if err != nil || got.ConsecutiveFailures != n || got.FailingSince == nil || got.LastError == nil || *got.LastError != "HTTP 503" || got.LastErrorAt == nil {
		t.Fatalf("after %d failures: %+v %v", n, got, err)
	}
	firstSince := *got.FailingSince
	if b, err := s.RecordChannelFailure(ctxT(t), c.ID, "HTTP 502", t0.Add(time.Hour), 5); err != nil || b {
		t.Fatalf("failure #21: became=%v %v, want false", b, err)
	}
	if got, _ := s.GetChannel(ctxT(t), c.ID); !got.FailingSince.Equal(firstSince) || *got.LastError != "HTTP 502" {
		t.Fatalf("failure #21 moved failingSince or kept the old error: %+v", got)
	}

	if err := s.RecordChannelSuccess(ctxT(t), c.ID, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetChannel(ctxT(t), c.ID)
	if got.ConsecutiveFailures != 0 || got.FailingSince != nil || got.LastSuccessAt == nil || !got.LastSuccessAt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("after success: %+v", got)
	}
	for i := 1; i <= 6; i++ {
		at := t0.Add(3*time.Hour + time.Duration(i)*time.Minute)
		b, err := s.RecordChannelFailure(ctxT(t), c.ID, "timeout", at, 5)
		if err != nil {
			t.Fatal(err)
		}
		if b != (i == 5) {
			t.Fatalf("failure %d of the new episode: became=%v", i, b)
		}
		if i == 5 {
			if got, _ := s.GetChannel(ctxT(t), c.ID); got.FailingSince == nil || !got.FailingSince.Equal(at) {
				t.Fatalf("failingSince %v, want %v", fmtPtr(got.FailingSince), at)
			}
		}
	}
	// A long message is capped and NUL-free (stored, not rejected).
	if _, err := s.RecordChannelFailure(ctxT(t), c.ID, "bad\x00"+string(make([]byte, 5000)), t0, 5); err != nil {
		t.Fatalf("long error with NUL: %v", err)
	}
	if got, _ := s.GetChannel(ctxT(t), c.ID); len(*got.LastError) > maxErrorBytes {
		t.Fatalf("last error is %d bytes, want ≤ %d", len(*got.LastError), maxErrorBytes)
	}
}

// TestNotificationConstraintsMapped: every CHECK constraint of the notification tables maps to
// a field, so a violation the Go validation lets through still names the field.
func TestNotificationConstraintsMapped(t *testing.T) {
	t.Parallel()
	_, pool := newStore(t)
	rows, err := pool.Query(ctxT(t), `SELECT conname FROM pg_constraint
		WHERE contype = 'c' AND conrelid::regclass::text IN
			('notification_channels', 'notification_deliveries', 'maintenance_windows', 'notification_state')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		n++
		if _, ok := checkConstraintFields[name]; !ok {
			t.Errorf("CHECK constraint %s is not in checkConstraintFields", name)
		}
	}
	if n < 15 {
		t.Fatalf("found %d CHECK constraints, want the notification tables' ones", n)
	}
	// One violation through the database: the range check names endsAt.
	_, err = pool.Exec(ctxT(t), `INSERT INTO maintenance_windows (title, system_ids, starts_at, ends_at) VALUES ('x', '{a}', $1, $1)`, t0)
	if err = wrapErr("x", err); !isValidation(err, "endsAt") {
		t.Fatalf("range violation: %v", err)
	}
}

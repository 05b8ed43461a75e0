package store

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// deliveryFixture is one system and two enabled channels.
type deliveryFixture struct {
	s       *Store
	sys     string
	ch, ch2 string
}

func newDeliveryFixture(t testing.TB) deliveryFixture {
	t.Helper()
	s, _ := newStore(t)
	mustSystem(t, s, "sys-1")
	mustSystem(t, s, "sys-2")
	a := mustChannel(t, s, ChannelInput{Name: "a", Type: "webhook", Enabled: true})
	b := mustChannel(t, s, ChannelInput{Name: "b", Type: "slack", Enabled: true})
	return deliveryFixture{s: s, sys: "sys-1", ch: a.ID, ch2: b.ID}
}

func mustGetDelivery(t testing.TB, s *Store, id string) Delivery {
	t.Helper()
	d, err := s.GetDelivery(ctxT(t), id)
	if err != nil {
		t.Fatalf("get delivery %s: %v", id, err)
	}
	return d
}

// TestCreateDeliveriesIdempotent: deliveries are created pending in one call; creating the same
// ids again adds nothing and leaves status, attempts, error and payload as they were.
func TestCreateDeliveriesIdempotent(t *testing.T) {
	t.Parallel()
	f := newDeliveryFixture(t)
	ctx := ctxT(t)
	in := []DeliveryInput{
		{ID: "sys-1:1:escalation:" + f.ch, ChannelID: f.ch, SystemID: f.sys, Event: "escalation", Payload: json.RawMessage(`{"v":1}`)},
		{ID: "test:1:" + f.ch2, ChannelID: f.ch2, Event: "test"},
	}
	n, err := f.s.CreateDeliveries(ctx, in)
	if err != nil || n != 2 {
		t.Fatalf("create: %d %v, want 2", n, err)
	}
	d := mustGetDelivery(t, f.s, in[0].ID)
	if d.Status != DeliveryPending || d.Attempts != 0 || d.ChannelID != f.ch || d.SystemID == nil || *d.SystemID != f.sys ||
		d.Event != "escalation" || string(d.Payload) != `{"v": 1}` || d.SentAt != nil || d.LastError != nil {
		t.Fatalf("created %+v", d)
	}
	if test := mustGetDelivery(t, f.s, in[1].ID); test.SystemID != nil || string(test.Payload) != "{}" {
		t.Fatalf("test delivery %+v, want a NULL system and {} payload", test)
	}
	if _, err := f.s.StartDeliveryAttempt(ctx, in[0].ID, t0); err != nil {
		t.Fatal(err)
	}
	if err := f.s.RecordDeliveryError(ctx, in[0].ID, "HTTP 500", t0, false); err != nil {
		t.Fatal(err)
	}
	again := append([]DeliveryInput(nil), in...)
	again[0].Payload = json.RawMessage(`{"v":2}`)
	n, err = f.s.CreateDeliveries(ctx, again)
	if err != nil || n != 0 {
		t.Fatalf("re-create: %d %v, want 0 new", n, err)
	}
	d = mustGetDelivery(t, f.s, in[0].ID)
	if d.Status != DeliveryPending || d.Attempts != 1 || d.LastError == nil || *d.LastError != "HTTP 500" || string(d.Payload) != `{"v": 1}` {
		t.Fatalf("re-create reset the delivery: %+v", d)
	}
	// A mix of new and existing ids counts only the new ones.
	n, err = f.s.CreateDeliveries(ctx, append(again, DeliveryInput{ID: "sys-1:2:recovery:" + f.ch, ChannelID: f.ch, SystemID: f.sys, Event: "recovery"}))
	if err != nil || n != 1 {
		t.Fatalf("mixed create: %d %v, want 1", n, err)
	}
	if n, err := f.s.CreateDeliveries(ctx, nil); err != nil || n != 0 {
		t.Fatalf("empty create: %d %v", n, err)
	}
}

// TestCreateDeliveriesErrors: a missing channel or system is not found; a malformed channel id,
// an unknown event or a non-object payload is a validation error; nothing is written.
func TestCreateDeliveriesErrors(t *testing.T) {
	t.Parallel()
	f := newDeliveryFixture(t)
	missing := "11111111-2222-4333-8444-555555555555"
	cases := []struct {
		name  string
		in    DeliveryInput
		check func(error) bool
	}{
		{"unknown channel", DeliveryInput{ID: "k1", ChannelID: missing, Event: "test"}, func(err error) bool { return isNotFound(err, "Channel") }},
		{"unknown system", DeliveryInput{ID: "k2", ChannelID: f.ch, SystemID: "nope", Event: "escalation"}, func(err error) bool { return isNotFound(err, "System") }},
		{"malformed channel", DeliveryInput{ID: "k3", ChannelID: "x", Event: "test"}, func(err error) bool { return isValidation(err, "deliveries.channelId") }},
		{"unknown event", DeliveryInput{ID: "k4", ChannelID: f.ch, Event: "party"}, func(err error) bool { return isValidation(err, "deliveries.event") }},
		{"array payload", DeliveryInput{ID: "k5", ChannelID: f.ch, Event: "test", Payload: json.RawMessage(`[]`)}, func(err error) bool { return isValidation(err, "deliveries.payload") }},
		{"empty id", DeliveryInput{ID: "", ChannelID: f.ch, Event: "test"}, func(err error) bool { return isValidation(err, "deliveries.id") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := f.s.CreateDeliveries(ctxT(t), []DeliveryInput{{ID: "ok-" + c.name, ChannelID: f.ch, Event: "test"}, c.in})
			if !c.check(err) || n != 0 {
				t.Fatalf("got %d, %v", n, err)
			}
			assertNoPgText(t, err)
			if _, err := f.s.GetDelivery(ctxT(t), "ok-"+c.name); !isNotFound(err, "Delivery") {
				t.Fatalf("the valid delivery of a failed batch was written: %v", err)
			}
		})
	}
}

// TestDeliveryLifecycle: attempts count only while pending; sent happens once; a final error
// fails a pending delivery but never un-sends a sent one; a failed delivery can still be sent.
func TestDeliveryLifecycle(t *testing.T) {
	t.Parallel()
	f := newDeliveryFixture(t)
	ctx := ctxT(t)
	a, b := "sys-1:1:escalation:"+f.ch, "sys-1:1:escalation:"+f.ch2
	if _, err := f.s.CreateDeliveries(ctx, []DeliveryInput{
		{ID: a, ChannelID: f.ch, SystemID: f.sys, Event: "escalation"},
		{ID: b, ChannelID: f.ch2, SystemID: f.sys, Event: "escalation"},
	}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		d, err := f.s.StartDeliveryAttempt(ctx, a, t0.Add(time.Duration(i)*time.Minute))
		if err != nil || d.Attempts != i || d.Status != DeliveryPending || !d.UpdatedAt.Equal(t0.Add(time.Duration(i)*time.Minute)) {
			t.Fatalf("attempt %d: %+v %v", i, d, err)
		}
	}
	if ok, err := f.s.MarkDeliverySent(ctx, a, t0.Add(3*time.Minute)); err != nil || !ok {
		t.Fatalf("mark sent: %v %v, want true", ok, err)
	}
	if ok, err := f.s.MarkDeliverySent(ctx, a, t0.Add(4*time.Minute)); err != nil || ok {
		t.Fatalf("mark sent again: %v %v, want false", ok, err)
	}
	d, err := f.s.StartDeliveryAttempt(ctx, a, t0.Add(5*time.Minute))
	if err != nil || d.Attempts != 2 || d.Status != DeliverySent || d.SentAt == nil || !d.SentAt.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("attempt on a sent delivery: %+v %v, want unchanged (2 attempts, sent at +3m)", d, err)
	}
	if err := f.s.RecordDeliveryError(ctx, a, "late timeout", t0.Add(6*time.Minute), true); err != nil {
		t.Fatal(err)
	}
	if d := mustGetDelivery(t, f.s, a); d.Status != DeliverySent || d.SentAt == nil || d.LastError == nil || *d.LastError != "late timeout" {
		t.Fatalf("final error un-sent a delivery: %+v", d)
	}

	if err := f.s.RecordDeliveryError(ctx, b, "HTTP 500", t0, false); err != nil {
		t.Fatal(err)
	}
	if d := mustGetDelivery(t, f.s, b); d.Status != DeliveryPending || *d.LastError != "HTTP 500" {
		t.Fatalf("non-final error: %+v", d)
	}
	if err := f.s.RecordDeliveryError(ctx, b, "HTTP 400", t0, true); err != nil {
		t.Fatal(err)
	}
	if d := mustGetDelivery(t, f.s, b); d.Status != DeliveryFailed || *d.LastError != "HTTP 400" || d.SentAt != nil {
		t.Fatalf("final error: %+v", d)
	}
	if d, err := f.s.StartDeliveryAttempt(ctx, b, t0); err != nil || d.Attempts != 0 || d.Status != DeliveryFailed {
		t.Fatalf("attempt on a failed delivery: %+v %v", d, err)
	}
	if ok, err := f.s.MarkDeliverySent(ctx, b, t0.Add(time.Hour)); err != nil || !ok {
		t.Fatalf("failed → sent: %v %v", ok, err)
	}
	if d := mustGetDelivery(t, f.s, b); d.Status != DeliverySent || d.SentAt == nil {
		t.Fatalf("failed → sent: %+v", d)
	}

	for op, err := range map[string]error{
		"get":     func() error { _, err := f.s.GetDelivery(ctx, "nope"); return err }(),
		"attempt": func() error { _, err := f.s.StartDeliveryAttempt(ctx, "nope", t0); return err }(),
		"sent":    func() error { _, err := f.s.MarkDeliverySent(ctx, "nope", t0); return err }(),
		"error":   f.s.RecordDeliveryError(ctx, "nope", "x", t0, true),
	} {
		if !isNotFound(err, "Delivery") {
			t.Errorf("%s on a missing delivery: %v", op, err)
		}
	}
}

// TestListDeliveriesPaging: newest first, filters by channel, system and status, and a cursor
// that walks 3 pages without duplicates or gaps (rows sharing created_at included).
func TestListDeliveriesPaging(t *testing.T) {
	t.Parallel()
	f := newDeliveryFixture(t)
	ctx := ctxT(t)
	// 7 deliveries on channel a in three statements (rows of one statement share created_at),
	// 2 on channel b, one of them for sys-2.
	var all []string
	for batch, size := range []int{3, 1, 3} {
		var in []DeliveryInput
		for i := range size {
			id := fmt.Sprintf("sys-1:%d:escalation:%d:%s", batch, i, f.ch)
			in = append(in, DeliveryInput{ID: id, ChannelID: f.ch, SystemID: f.sys, Event: "escalation"})
			all = append(all, id)
		}
		if _, err := f.s.CreateDeliveries(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.s.CreateDeliveries(ctx, []DeliveryInput{
		{ID: "b1", ChannelID: f.ch2, SystemID: "sys-2", Event: "recovery"},
		{ID: "b2", ChannelID: f.ch2, SystemID: f.sys, Event: "recovery"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.MarkDeliverySent(ctx, "b2", t0); err != nil {
		t.Fatal(err)
	}

	seen := map[string]bool{}
	var order []Delivery
	cursor := ""
	pages := 0
	for {
		items, next, err := f.s.ListDeliveries(ctx, DeliveryFilter{ChannelID: f.ch, Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, d := range items {
			if seen[d.ID] {
				t.Fatalf("delivery %s on two pages", d.ID)
			}
			seen[d.ID] = true
			order = append(order, d)
		}
		if next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("cursor does not end")
		}
		cursor = next
	}
	if pages != 3 || len(order) != len(all) {
		t.Fatalf("%d pages, %d deliveries; want 3 pages, %d deliveries", pages, len(order), len(all))
	}
	for _, id := range all {
		if !seen[id] {
			t.Errorf("delivery %s missing from the pages", id)
		}
	}
	for i := 1; i < len(order); i++ {
		p, c := order[i-1], order[i]
		if c.CreatedAt.After(p.CreatedAt) || (c.CreatedAt.Equal(p.CreatedAt) && c.ID > p.ID) {
			t.Fatalf("not newest first at %d: %s (%v) before %s (%v)", i, p.ID, p.CreatedAt, c.ID, c.CreatedAt)
		}
	}

	filters := []struct {
		name string
		f    DeliveryFilter
		want []string
	}{
		{"channel b", DeliveryFilter{ChannelID: f.ch2}, []string{"b2", "b1"}},
		{"system 2", DeliveryFilter{SystemID: "sys-2"}, []string{"b1"}},
		{"sent", DeliveryFilter{Status: DeliverySent}, []string{"b2"}},
		{"channel b pending", DeliveryFilter{ChannelID: f.ch2, Status: DeliveryPending}, []string{"b1"}},
		{"failed", DeliveryFilter{Status: DeliveryFailed}, nil},
	}
	for _, c := range filters {
		items, next, err := f.s.ListDeliveries(ctx, c.f)
		if err != nil || next != "" {
			t.Fatalf("%s: next %q, %v", c.name, next, err)
		}
		var ids []string
		for _, d := range items {
			ids = append(ids, d.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(c.want) {
			t.Errorf("%s: %v, want %v", c.name, ids, c.want)
		}
	}
	if items, _, err := f.s.ListDeliveries(ctx, DeliveryFilter{}); err != nil || len(items) != 9 {
		t.Fatalf("default limit: %d items, %v", len(items), err)
	}

	bad := []struct {
		f     DeliveryFilter
		field string
	}{
		{DeliveryFilter{Cursor: "not a cursor"}, "cursor"},
		{DeliveryFilter{Cursor: "bm90IGEgY3Vyc29y"}, "cursor"}, // base64 of "not a cursor"
		{DeliveryFilter{Limit: 501}, "limit"},
		{DeliveryFilter{Limit: -1}, "limit"},
		{DeliveryFilter{ChannelID: "x"}, "channelId"},
		{DeliveryFilter{Status: "lost"}, "status"},
	}
	for _, c := range bad {
		if _, _, err := f.s.ListDeliveries(ctx, c.f); !isValidation(err, c.field) {
			t.Errorf("%+v: %v, want a validation error on %q", c.f, err, c.field)
		}
	}
}

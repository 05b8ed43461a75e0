package store

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/testutil"
)

func TestWidenXid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		xid  uint32
		ref  uint64
		want uint64
	}{
		{100, 150, 100},
		{150, 150, 150},
		{160, 150, 160},
		{4294967290, 1<<32 + 5, 4294967290},       // just before an epoch boundary
		{3, 1<<32 - 2, 1<<32 + 3},                 // just after it
		{7, 5<<32 + 100, 5<<32 + 7},               // epoch 5
		{4294967295, 5<<32 + 1, 5<<32 - 1},        // the last xid of epoch 4
		{1 << 31, 1 << 32, 1<<32 - 1<<31},         // 2³¹ behind
		{200, 1<<32 + 100, 1<<32 + 200},           // ahead (started after the snapshot)
		{0xffffff00, 0x2_0000_0010, 0x1_ffffff00}, // behind across the boundary
	} {
		if got := WidenXid(tc.xid, tc.ref); got != tc.want {
			t.Errorf("WidenXid(%d, %d) = %d, want %d", tc.xid, tc.ref, got, tc.want)
		}
	}
}

// TestOutboxHorizon: a transaction of this database that wrote holds OldestRunning at its id
// until it ends; an older transaction of another database does not count.
func TestOutboxHorizon(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	// Another database's writing transaction, older than this database's one.
	serverURL, err := testutil.ServerURL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	otx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer otx.Rollback(context.Background())
	if _, err := otx.Exec(ctx, `CREATE TEMP TABLE horizon_probe (a int)`); err != nil {
		t.Fatal(err)
	}

	tx, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var xidText string
	if err := tx.QueryRow(ctx, `INSERT INTO health_events (system_id, seq, type, idempotency_key) VALUES ($1, 1, 'x', 'k1')
		RETURNING pg_current_xact_id()::text`, f.sys).Scan(&xidText); err != nil {
		t.Fatal(err)
	}
	xid, _ := strconv.ParseUint(xidText, 10, 64)
	h, err := f.s.OutboxHorizon(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.OldestRunning != xid || h.Next <= xid {
		t.Fatalf("horizon %+v with transaction %d open", h, xid)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	h, err = f.s.OutboxHorizon(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.OldestRunning <= xid {
		t.Fatalf("horizon %+v after transaction %d committed", h, xid)
	}
}

// TestStreamEvents: id ranges, types, systems, the highest id, and check.completed payloads
// without their result.
func TestStreamEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	mustSystem(t, f.s, "sys-2")
	ctx := ctxT(t)
	var ids []int64
	for i, e := range []struct{ sys, typ, payload string }{
		{f.sys, "healthcheck.check.completed", `{"systemId":"sys-1","status":"healthy","result":{"body":"x"}}`},
		{f.sys, "healthcheck.check.failed", `{"systemId":"sys-1"}`},
		{"sys-2", "healthcheck.check.completed", `{"systemId":"sys-2","status":"unhealthy"}`},
		{f.sys, "maintenance.started", `{"systemId":"sys-1","maintenanceId":"m","result":"kept"}`},
		{"sys-2", "healthcheck.system_health_changed", `{"systemId":"sys-2","newStatus":"degraded"}`},
	} {
		var id int64
		if err := f.pool.QueryRow(ctx, `INSERT INTO health_events (system_id, seq, type, payload, idempotency_key)
			VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING id`, e.sys, i, e.typ, e.payload, "k"+strconv.Itoa(i)).Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	types := []string{"healthcheck.check.completed", "healthcheck.system_health_changed", "maintenance.started", "maintenance.ended"}
	for _, tc := range []struct {
		name string
		f    StreamFilter
		want []int64
	}{
		{"all streamed types", StreamFilter{Types: types}, []int64{ids[0], ids[2], ids[3], ids[4]}},
		{"after", StreamFilter{After: ids[2], Types: types}, []int64{ids[3], ids[4]}},
		{"up to", StreamFilter{After: ids[0], UpTo: ids[3], Types: types}, []int64{ids[2], ids[3]}},
		{"systems", StreamFilter{Types: types, SystemIDs: []string{"sys-2"}}, []int64{ids[2], ids[4]}},
		{"limit", StreamFilter{Types: types, Limit: 2}, []int64{ids[0], ids[2]}},
		{"nothing", StreamFilter{After: ids[4], Types: types}, nil},
	} {
		rows, maxID, err := f.s.StreamEvents(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, r := range rows {
			got = append(got, r.ID)
		}
		if !slices.Equal(got, tc.want) || maxID != ids[4] {
			t.Errorf("%s: %v (max %d), want %v (max %d)", tc.name, got, maxID, tc.want, ids[4])
		}
	}
	rows, _, err := f.s.StreamEvents(ctx, StreamFilter{Types: types, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(rows[0].Payload, &p); err != nil || p["result"] != nil || p["status"] != "healthy" {
		t.Fatalf("check.completed payload %s", rows[0].Payload)
	}
	if err := json.Unmarshal(rows[2].Payload, &p); err != nil || p["result"] != "kept" || rows[2].SystemID != f.sys || rows[2].Type != "maintenance.started" {
		t.Fatalf("maintenance row %+v", rows[2])
	}
	if _, _, err := f.s.StreamEvents(ctx, StreamFilter{Types: types, Limit: 10001}); !isValidation(err, "limit") {
		t.Fatalf("limit 10001: %v", err)
	}

	mustExec(t, f.pool, `DELETE FROM health_events WHERE id < $1`, ids[0]) // the fixture's assignment.changed hook
	oldest, last, err := f.s.OutboxBounds(ctx)
	if err != nil || oldest != ids[0] || last != ids[4] {
		t.Fatalf("bounds %d %d %v, want %d %d", oldest, last, err, ids[0], ids[4])
	}
	mustExec(t, f.pool, `DELETE FROM health_events`)
	oldest, last, err = f.s.OutboxBounds(ctx)
	if err != nil || oldest != 0 || last != ids[4] {
		t.Fatalf("bounds of an empty outbox %d %d %v, want 0 %d", oldest, last, err, ids[4])
	}
}

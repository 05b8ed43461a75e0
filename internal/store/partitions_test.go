package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/health"
)

func (f fixture) persistRun(t *testing.T, seq int64, at time.Time) bool {
	t.Helper()
	ok, err := f.s.Persist(context.Background(), PersistInput{SystemID: f.sys, Seq: seq, At: at,
		Runs: []RunRecord{{ID: ProbeRunID(f.sys, seq), ConfigurationID: f.cfg, Status: health.Healthy, LatencyMs: intp(5), Timestamp: at}},
		View: health.BaselineView(1)})
	if err != nil {
		t.Fatalf("persist seq %d at %v: %v", seq, at, err)
	}
	return ok
}

func (f fixture) countIn(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Days get partitions ahead of time; runs of a day without one wait in the default partition and
// move into the day's partition when it is created; dropping days removes exactly their runs.
func TestRunPartitionsLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	today := utcDay(time.Now())
	old := today.AddDate(0, 0, -30)
	// A run 30 days ago (no partition: the migration made today … +7 days) lands in default.
	if !f.persistRun(t, 1, old.Add(3*time.Hour)) {
		t.Fatal("the old run was not stored")
	}
	if n := f.countIn(t, runPartitionDefault); n != 1 {
		t.Fatalf("default partition holds %d runs, want the old one", n)
	}
	created, err := f.s.EnsureRunPartitions(ctx, old, today.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if created < 30 {
		t.Fatalf("created %d partitions, want the 30 missing days", created)
	}
	if n := f.countIn(t, runPartitionDefault); n != 0 {
		t.Fatalf("default partition still holds %d runs after its day got a partition", n)
	}
	if n := f.countIn(t, RunPartitionName(old)); n != 1 {
		t.Fatalf("the day's partition holds %d runs, want the moved one", n)
	}
	again, err := f.s.EnsureRunPartitions(ctx, old, today.AddDate(0, 0, 1))
	if err != nil || again != 0 {
		t.Fatalf("second ensure created %d (%v), want none", again, err)
	}
	for i, d := range []time.Time{today.AddDate(0, 0, -10), today.AddDate(0, 0, -3), today} {
		if !f.persistRun(t, int64(10+i), d.Add(time.Hour)) {
			t.Fatalf("run of %v not stored", d)
		}
	}
	dropped, err := f.s.DropRunPartitionsBefore(ctx, today.AddDate(0, 0, -5))
	if err != nil {
		t.Fatal(err)
	}
	if len(dropped) < 25 || !slices.ContainsFunc(dropped, old.Equal) || slices.ContainsFunc(dropped, today.AddDate(0, 0, -5).Equal) {
		t.Fatalf("dropped %d days (%v … ), want every day before −5 d and not −5 d itself", len(dropped), dropped[0])
	}
	var runs []time.Time
	rows, err := f.pool.Query(ctx, `SELECT "timestamp" FROM health_check_runs ORDER BY "timestamp"`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var at time.Time
		if err := rows.Scan(&at); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, at.UTC())
	}
	if want := []time.Time{today.AddDate(0, 0, -3).Add(time.Hour), today.Add(time.Hour)}; !slices.EqualFunc(runs, want, time.Time.Equal) {
		t.Fatalf("runs left %v, want %v", runs, want)
	}
}

// A run id is stored once even when it comes back with another timestamp (a local probe that
// ran again after a crash): the partition key is part of the primary key, so Persist looks for
// the id within a day of the timestamp.
func TestPersistStoresARunIDOnceAcrossTimestamps(t *testing.T) {
	f := newFixture(t)
	at := time.Now().UTC().Truncate(time.Second)
	if !f.persistRun(t, 1, at) {
		t.Fatal("first persist not applied")
	}
	for _, d := range []time.Duration{0, 10 * time.Second, -time.Minute, 20 * time.Hour} {
		if f.persistRun(t, 1, at.Add(d)) {
			t.Fatalf("the same run id %v later was stored again", d)
		}
	}
	if n := f.countIn(t, "health_check_runs"); n != 1 {
		t.Fatalf("%d rows for one run id", n)
	}
}

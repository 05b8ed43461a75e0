package server

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStreamResumesWithoutGapsUnderConcurrentWrites is issue 15's acceptance 5 under load:
// writers add outbox events concurrently, half of them committing after a later id (the out-of-
// order case the hub waits for), and a few non-streamed rows between them; a client keeps
// dropping its connection after a few events and resuming with Last-Event-ID (the header, or
// ?lastEventId= like a first EventSource URL). Across all its connections it receives every
// streamed event exactly once, in id order: no gap and no duplicate at any hand-over between
// the catch-up and the live events.
func TestStreamResumesWithoutGapsUnderConcurrentWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t, WithStream(fastStream()))
	e.mustSystem("a")
	url := e.serve().URL + "/api/v1/stream"
	// Bounded, so that a stuck write fails the test instead of hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Two writers: each holds a connection while it takes a second one (the pool has four).
	const writers, rounds = 2, 80
	// The first connection is subscribed before anything is written: it must see every event.
	c := openStream(t, url)

	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				// An id taken in a transaction that commits after a later id is committed.
				tx, err := e.pool.Begin(ctx)
				if err != nil {
					errs <- err
					return
				}
				if _, err := tx.Exec(ctx, `INSERT INTO health_events (system_id, seq, type, payload, idempotency_key)
					VALUES ('a', 0, 'maintenance.started', '{}', gen_random_uuid()::text)`); err != nil {
					_ = tx.Rollback(ctx)
					errs <- err
					return
				}
				typ := "maintenance.ended"
				if r%5 == 0 {
					typ = "healthcheck.check.failed" // not streamed
				}
				if _, err := e.pool.Exec(ctx, `INSERT INTO health_events (system_id, seq, type, payload, idempotency_key)
					VALUES ('a', 0, $1, $2::jsonb, gen_random_uuid()::text)`, typ, fmt.Sprintf(`{"writer":%d,"round":%d}`, w, r)); err != nil {
					_ = tx.Rollback(ctx)
					errs <- err
					return
				}
				if err := tx.Commit(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	// Once the writers are done, a last event marks the end.
	go func() {
		wg.Wait()
		if _, err := e.pool.Exec(ctx, `INSERT INTO health_events (system_id, seq, type, payload, idempotency_key)
			VALUES ('a', 0, 'maintenance.ended', '{"maintenanceId":"last"}', gen_random_uuid()::text)`); err != nil {
			errs <- err
		}
		close(errs)
	}()

	var got []int64
	for conn := 0; ; conn++ {
		// Read 1 to 13 events on this connection, then drop it.
		done := false
		for range 1 + conn*7%13 {
			it := c.events(1)[0]
			got = append(got, it.id)
			if done = strings.Contains(it.data, `"maintenanceId":"last"`); done {
				break
			}
		}
		if done {
			break
		}
		c.close()
		last := strconv.FormatInt(got[len(got)-1], 10)
		if conn%3 == 2 {
			c = openStream(t, url+"?lastEventId="+last)
		} else {
			c = openStream(t, url, "Last-Event-ID", last)
		}
	}
	for err := range errs {
		t.Fatalf("writer: %v", err)
	}
	var want []int64
	rows, err := e.pool.Query(ctx, `SELECT id FROM health_events WHERE type IN ('maintenance.started', 'maintenance.ended') ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n := writers*rounds*2 - writers*rounds/5 + 1; len(want) != n {
		t.Fatalf("%d streamed events written, want %d", len(want), n)
	}
	if !slices.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("event %d: got id %d, want %d (got %v…, want %v…)", i, got[i], want[i], got[i:min(i+5, len(got))], want[i:min(i+5, len(want))])
			}
		}
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	// Nothing more than the written events arrives on the last connection.
	extra := e.addEvent("a", "maintenance.ended", map[string]any{})
	if id := c.events(1)[0].id; id != extra {
		t.Fatalf("after all the written events: %d, want %d (a duplicate or a stray event)", id, extra)
	}
}

package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Raw runs are stored in daily partitions of health_check_runs (schema 006), named
// health_check_runs_YYYYMMDD for the UTC day they hold, plus health_check_runs_default for runs
// outside every day partition. The lifecycle jobs create days ahead (EnsureRunPartitions) and
// drop days whose runs every retention has given up (DropRunPartitionsBefore); the runs of
// assignments with a shorter retention inside kept days, and old runs in the default partition,
// are deleted in batches.

const (
	runPartitionPrefix  = "health_check_runs_"
	runPartitionDefault = "health_check_runs_default"
	runPartitionLayout  = "20060102"
)

// RunPartitionName is the name of the partition holding the runs of day's UTC date.
func RunPartitionName(day time.Time) string {
	return runPartitionPrefix + day.UTC().Format(runPartitionLayout)
}

// utcDay is the start of t's UTC day.
func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// RunPartitions lists the days that have a partition, oldest first.
func (s *Store) RunPartitions(ctx context.Context) ([]time.Time, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		JOIN pg_class p ON p.oid = i.inhparent
		WHERE p.relname = 'health_check_runs' AND p.relnamespace = current_schema()::regnamespace`)
	if err != nil {
		return nil, wrapErr("list run partitions", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrapErr("list run partitions", err)
	}
	var days []time.Time
	for _, n := range names {
		if !strings.HasPrefix(n, runPartitionPrefix) || n == runPartitionDefault {
			continue
		}
		d, err := time.Parse(runPartitionLayout, strings.TrimPrefix(n, runPartitionPrefix))
		if err != nil {
			continue // not one of ours
		}
		days = append(days, d)
	}
	sort.Slice(days, func(i, j int) bool { return days[i].Before(days[j]) })
	return days, nil
}

// EnsureRunPartitions creates the missing day partitions from from's UTC day up to and including
// to's, and returns how many it created. Runs of such a day already in the default partition are
// moved into the new partition in the same transaction (one day at a time, so no transaction
// holds more than a day).
func (s *Store) EnsureRunPartitions(ctx context.Context, from, to time.Time) (int, error) {
	have, err := s.RunPartitions(ctx)
	if err != nil {
		return 0, err
	}
	exists := make(map[time.Time]bool, len(have))
	for _, d := range have {
		exists[d] = true
	}
	created := 0
	for d := utcDay(from); !d.After(utcDay(to)); d = d.AddDate(0, 0, 1) {
		if exists[d] {
			continue
		}
		if err := s.createRunPartition(ctx, d); err != nil {
			return created, err
		}
		created++
	}
	return created, nil
}

// createRunPartition creates day's partition: a standalone table first, filled with the day's
// runs taken out of the default partition, then attached (attaching checks that the default
// partition holds none of the day any more).
func (s *Store) createRunPartition(ctx context.Context, day time.Time) error {
	name := pgx.Identifier{RunPartitionName(day)}.Sanitize()
	lo, hi := day.Format(time.RFC3339), day.AddDate(0, 0, 1).Format(time.RFC3339)
	err := s.ddlWithLockTimeout(ctx, func(tx pgx.Tx) error {
		stmts := []string{
			`CREATE TABLE ` + name + ` (LIKE health_check_runs INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`,
			fmt.Sprintf(`WITH moved AS (DELETE FROM health_check_runs_default WHERE "timestamp" >= '%s' AND "timestamp" < '%s' RETURNING *)
				INSERT INTO %s SELECT * FROM moved`, lo, hi, name),
			fmt.Sprintf(`ALTER TABLE health_check_runs ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')`, name, lo, hi),
		}
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if isDuplicateTable(err) {
		return nil // created meanwhile by another job
	}
	if err != nil {
		return wrapErr("create run partition "+RunPartitionName(day), err)
	}
	return nil
}

// DropRunPartitionsBefore drops the day partitions whose whole day lies before cutoff and
// returns the days dropped. Dropping a day is instant and leaves no dead rows behind.
func (s *Store) DropRunPartitionsBefore(ctx context.Context, cutoff time.Time) ([]time.Time, error) {
	days, err := s.RunPartitions(ctx)
	if err != nil {
		return nil, err
	}
	var dropped []time.Time
	for _, d := range days {
		if d.AddDate(0, 0, 1).After(cutoff) {
			break
		}
		if err := s.dropRunPartition(ctx, d); err != nil {
			return dropped, err
		}
		dropped = append(dropped, d)
	}
	return dropped, nil
}

// dropRunPartition drops day's partition. Dropping is instant and leaves no dead rows.
func (s *Store) dropRunPartition(ctx context.Context, day time.Time) error {
	name := pgx.Identifier{RunPartitionName(day)}.Sanitize()
	err := s.ddlWithLockTimeout(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+name)
		return err
	})
	if err != nil {
		return wrapErr("drop run partition "+RunPartitionName(day), err)
	}
	return nil
}

// ddlWithLockTimeout runs partition DDL in a transaction that waits at most ddlLockTimeout for
// its locks, trying again up to ddlAttempts times. DROP takes a short ACCESS EXCLUSIVE lock on
// health_check_runs (DETACH … CONCURRENTLY is not allowed next to a default partition) and
// ATTACH one on the default partition: behind a long read they would hold the entities' writes
// queued; with the timeout they give way instead and come back.
func (s *Store) ddlWithLockTimeout(ctx context.Context, fn func(pgx.Tx) error) error {
	var err error
	for range ddlAttempts {
		err = s.inTx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+ddlLockTimeout+`'`); err != nil {
				return err
			}
			return fn(tx)
		})
		if pe, ok := pgError(err); !ok || pe.Code != "55P03" {
			return err
		}
	}
	return err
}

const (
	ddlLockTimeout = "200ms"
	ddlAttempts    = 25
)

func isDuplicateTable(err error) bool {
	pe, ok := pgError(err)
	return ok && pe.Code == "42P07"
}

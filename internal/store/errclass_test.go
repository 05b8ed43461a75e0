package store

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/checkflow/checkflow/internal/health"
)

// Errors that depend on the data (SQLSTATE class 22, and class 23 beyond the violations named
// NotFound/Conflict) are validation errors — never retried — while errors that depend on the
// database's condition stay plain wrapped errors, which callers retry (issue 17 #1: a NUL in a
// result was retried for 30 s and lost).
func TestErrorClassesRetryable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	mustExec(t, f.pool, `CREATE TABLE t_excl (c int, EXCLUDE USING btree (c WITH =))`)
	mustExec(t, f.pool, `INSERT INTO t_excl VALUES (1)`)

	// Real errors of PostgreSQL, from the test database.
	dataErrs := []struct {
		name string
		code string
		sql  string
		args []any
	}{
		{"NUL escaped in jsonb", "22P05", `SELECT $1::jsonb`, []any{`{"banner":"\u0000BANNER"}`}},
		{"NUL in text", "22021", `SELECT $1::text`, []any{"a\x00b"}},
		{"numeric out of range", "22003", `SELECT 2147483648::int`, nil},
		{"malformed text", "22P02", `SELECT 'x'::int`, nil},
		{"division by zero", "22012", `SELECT 1/0`, nil},
		{"exclusion violation", "23P01", `INSERT INTO t_excl VALUES (1)`, nil},
	}
	for _, tc := range dataErrs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.pool.Exec(ctx, tc.sql, tc.args...)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != tc.code {
				t.Fatalf("setup: error %v, want SQLSTATE %s", err, tc.code)
			}
			got := wrapErr("op", err)
			var ve *ValidationError
			if !errors.Is(got, ErrValidation) || !errors.As(got, &ve) {
				t.Fatalf("SQLSTATE %s → %v (%T), want a *ValidationError", tc.code, got, got)
			}
			assertNoPgText(t, got)
		})
	}
	// Codes of the same classes PostgreSQL rarely raises itself.
	for _, code := range []string{"22000", "22007", "2200N", "23000", "23001"} {
		if got := wrapErr("op", &pgconn.PgError{Code: code}); !errors.Is(got, ErrValidation) {
			t.Errorf("SQLSTATE %s → %v, want ErrValidation", code, got)
		}
	}

	// Conditions of the database, which a later attempt may not meet. Conflicts the store names
	// keep their own type.
	down, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, connErr := pgx.Connect(down, "postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
	if connErr == nil {
		t.Fatal("setup: connected to port 1")
	}
	transient := []struct {
		name string
		err  error
	}{
		{"connection refused", connErr},
		{"connection failure", &pgconn.PgError{Code: "08006"}},
		{"connection does not exist", &pgconn.PgError{Code: "08003"}},
		{"serialization failure", &pgconn.PgError{Code: "40001"}},
		{"deadlock", &pgconn.PgError{Code: "40P01"}},
		{"too many connections", &pgconn.PgError{Code: "53300"}},
		{"out of memory", &pgconn.PgError{Code: "53200"}},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}},
		{"cannot connect now", &pgconn.PgError{Code: "57P03"}},
	}
	for _, tc := range transient {
		t.Run(tc.name, func(t *testing.T) {
			got := wrapErr("op", tc.err)
			for _, typed := range []error{ErrValidation, ErrNotFound, ErrConflict} {
				if errors.Is(got, typed) {
					t.Fatalf("%v matches %v; want a plain (retryable) error", got, typed)
				}
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("%v does not wrap the cause", got)
			}
		})
	}
}

// Persist of a result PostgreSQL refuses although it is valid, safe JSON (a number beyond
// numeric's range) is a validation error, and nothing of the item is written.
func TestPersistDataExceptionIsValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := run(f.sys, f.cfg, 1, health.Unhealthy, nil, t0)
	r.Result = json.RawMessage(`{"value":1e999999}`)
	_, err := f.s.Persist(ctxT(t), PersistInput{SystemID: f.sys, Seq: 1, At: t0, Runs: []RunRecord{r}, View: health.BaselineView(1)})
	if !errors.Is(err, ErrValidation) {
		t.Fatalf("error %v (%T), want ErrValidation", err, err)
	}
	assertNoPgText(t, err)
	if n := count(t, f.pool, "health_check_runs") + count(t, f.pool, "system_health_state"); n != 0 {
		t.Errorf("%d rows written", n)
	}
}

package store

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/safetext"
)

// A run whose result (message, banner, collector output), source and event payloads hold NUL
// and invalid UTF-8 — as a result sent by the check-result signal can, without going through a
// prober — is stored, with those bytes visibly replaced (issue 17 #1). PostgreSQL refused such a
// run before (22P05 / 22021), so it was lost.
func TestPersistStoresUnsafeText(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// The message and the banner hold escaped NULs; stderr holds raw invalid bytes.
	result := json.RawMessage("{\"status\":\"unhealthy\",\"message\":\"Check failed: \\u0000\\u0000BAN\\u0000NER\"," +
		"\"metadata\":{\"collectors\":{\"b\":{\"banner\":\"\\u0000\\u0000BAN\\u0000NER\",\"stderr\":\"x\xff\xfey\"}}}}")
	r := run(f.sys, f.cfg, 1, health.Unhealthy, intp(3), t0)
	r.Result = result
	r.SourceID, r.SourceLabel = strp("eu\x00west"), strp("EU \xff West")
	in := PersistInput{SystemID: f.sys, Seq: 1, At: t0, Runs: []RunRecord{r},
		Checks: []CheckState{{ConfigurationID: f.cfg, Status: health.Unhealthy, RunsConsidered: 1}},
		View:   health.BaselineView(1),
		Events: []EventRecord{{Type: health.HookCheckCompleted, Discriminator: f.cfg,
			Payload: map[string]any{"banner": "\x00BAN\x00NER", "k\x00": "v"}}}}

	applied, err := f.s.Persist(ctxT(t), in)
	if err != nil || !applied {
		t.Fatalf("persist = %v, %v; want applied", applied, err)
	}
	got, err := f.s.GetRun(ctxT(t), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var stored struct {
		Message  string `json:"message"`
		Metadata struct {
			Collectors map[string]map[string]string `json:"collectors"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(got.Result, &stored); err != nil {
		t.Fatalf("stored result %s: %v", got.Result, err)
	}
	checks := []struct{ what, got, want string }{
		{"message", stored.Message, "Check failed: ␀␀BAN␀NER"},
		{"banner", stored.Metadata.Collectors["b"]["banner"], "␀␀BAN␀NER"},
		{"stderr", stored.Metadata.Collectors["b"]["stderr"], "x\uFFFD\uFFFDy"},
		{"source id", fmtPtr(got.SourceID), "eu␀west"},
		{"source label", fmtPtr(got.SourceLabel), "EU \uFFFD West"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("stored %s = %q, want %q", c.what, c.got, c.want)
		}
	}
	var payload map[string]string
	if err := f.pool.QueryRow(ctxT(t), `SELECT payload FROM health_events WHERE system_id = $1 AND type <> $2`, f.sys, health.HookAssignmentChanged).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	if payload["banner"] != "␀BAN␀NER" || payload["k␀"] != "v" {
		t.Errorf("stored payload = %q", payload)
	}
	// The run counts like any other: the check's state and the hourly aggregate have it.
	if n := count(t, f.pool, `health_check_aggregates WHERE run_count = 1 AND source_id = 'eu␀west'`); n != 1 {
		t.Errorf("%d aggregates of the run's source, want 1", n)
	}
	// The caller's input is not changed in place.
	if *r.SourceID != "eu\x00west" || string(in.Runs[0].Result) != string(result) {
		t.Error("Persist changed its input")
	}
}

// A result beyond safetext.MaxResultBytes is stored cut to the cap, its longest strings marked.
func TestPersistCapsLargeResults(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	big := strings.Repeat("\x00", 1<<20) // 1 MiB of NUL: 6 MiB escaped
	body, err := json.Marshal(map[string]any{"status": "unhealthy", "message": "Check failed: exit 1",
		"metadata": map[string]any{"collectors": map[string]any{"s": map[string]any{"stderr": big, "exitCode": 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	r := run(f.sys, f.cfg, 1, health.Unhealthy, intp(3), t0)
	r.Result = body
	if _, err := f.s.Persist(ctxT(t), PersistInput{SystemID: f.sys, Seq: 1, At: t0, Runs: []RunRecord{r}, View: health.BaselineView(1)}); err != nil {
		t.Fatal(err)
	}
	var stored struct {
		Status, Message string
		Metadata        struct {
			Collectors map[string]struct {
				Stderr   string
				ExitCode int
			}
		}
	}
	var size int
	if err := f.pool.QueryRow(ctxT(t), `SELECT result, octet_length(result::text) FROM health_check_runs WHERE id = $1`, r.ID).Scan(&stored, &size); err != nil {
		t.Fatal(err)
	}
	// jsonb prints a space after every ':' and ','; the document itself is at most the cap.
	if size > safetext.MaxResultBytes+64 {
		t.Errorf("stored result is %d bytes, cap %d", size, safetext.MaxResultBytes)
	}
	s := stored.Metadata.Collectors["s"]
	if stored.Status != "unhealthy" || stored.Message != "Check failed: exit 1" || s.ExitCode != 1 {
		t.Errorf("short fields changed: %+v", stored)
	}
	if !strings.HasPrefix(s.Stderr, "␀␀␀") || !strings.Contains(s.Stderr, "…[truncated ") || !utf8.ValidString(s.Stderr) {
		t.Errorf("stderr not cut as expected: %.40q … (%d bytes)", s.Stderr, len(s.Stderr))
	}
}

// A run id that PostgreSQL cannot store is rejected by validation (the id is the run's identity,
// so it is not rewritten); nothing is written.
func TestPersistRejectsUnsafeRunID(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, id := range []string{f.sys + ":a\x00b", f.sys + ":\xff"} {
		r := run(f.sys, f.cfg, 1, health.Unhealthy, nil, t0)
		r.ID = id
		_, err := f.s.Persist(ctxT(t), PersistInput{SystemID: f.sys, Seq: 1, At: t0, Runs: []RunRecord{r}, View: health.BaselineView(1)})
		if !errors.Is(err, ErrValidation) || !isValidation(err, "runs[0].id") {
			t.Errorf("id %q: error %v, want a validation error on runs[0].id", id, err)
		}
	}
	if n := count(t, f.pool, "health_check_runs"); n != 0 {
		t.Errorf("%d runs stored", n)
	}
}

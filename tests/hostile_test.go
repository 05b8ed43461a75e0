package tests

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/workflows"
)

// A monitored service alone must not be able to lose runs (issue 17 #1). A TCP service whose
// banner holds NUL bytes and does not match the expected one: its failing runs are stored (the
// banner visible as "␀␀BAN␀NER"), the system degrades and the transition and its events are
// recorded. Before, PostgreSQL refused every such run (\u0000 in jsonb), persist retried and gave
// up, and the system stayed healthy with no runs. A result with NUL and invalid UTF-8 sent from
// outside by the check-result signal (which no prober sanitized) is stored too.
func TestHostileTargetRunsAreStored(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	sys := s.system(t, "hostile")
	port := testutil.BannerServer(t, "\x00\x00BAN\x00NER\n")

	cfg, _ := json.Marshal(map[string]any{"host": "127.0.0.1", "port": port, "timeout": 5000})
	collectors, _ := json.Marshal([]map[string]any{{"id": "greeting", "collectorId": "banner", "config": map[string]any{"timeout": 2000},
		"assertions": []map[string]any{{"field": "banner", "operator": "equals", "value": "SSH-2.0-OpenSSH_9.6"}}}})
	c, err := s.store.CreateConfiguration(ctx, store.ConfigurationInput{Name: "banner", StrategyID: "tcp", Config: cfg,
		Collectors: collectors, IntervalSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	enabled := true
	if _, _, err := s.store.Associate(ctx, store.AssociateInput{SystemID: sys, ConfigurationID: c.ID, Enabled: &enabled}); err != nil {
		t.Fatal(err)
	}
	if err := s.entities.ConfigChanged(ctx, sys); err != nil {
		t.Fatal(err)
	}

	// Default thresholds: degraded after the 2nd consecutive failing run.
	waitFor(t, 60*time.Second, "the hostile check's failing runs and the degraded transition", func() (bool, error) {
		runs := s.count(t, `SELECT count(*) FROM health_check_runs WHERE configuration_id = $1 AND status = 'unhealthy'`, c.ID)
		trs := s.count(t, `SELECT count(*) FROM health_check_state_transitions WHERE system_id = $1`, sys)
		return runs >= 2 && trs >= 1, nil
	})
	if v := s.view(t, sys); v == nil || v.Status == health.Healthy {
		t.Fatalf("view = %+v, want the system degraded", v)
	}
	if n := s.count(t, `SELECT count(*) FROM health_check_runs WHERE configuration_id = $1 AND status <> 'unhealthy'`, c.ID); n != 0 {
		t.Errorf("%d runs of the mismatching banner are not unhealthy", n)
	}
	trs, err := s.store.ListTransitions(ctx, store.TransitionFilter{SystemID: sys})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(trs) // oldest first
	if tr := trs[0]; tr.FromStatus == nil || *tr.FromStatus != health.Healthy || tr.ToStatus != health.Degraded ||
		tr.ConfigurationID == nil || *tr.ConfigurationID != c.ID {
		t.Errorf("first transition = %+v, want healthy→degraded by the banner check", tr)
	}

	// The target's bytes are stored, visibly, in the run and in the events derived from it.
	var banner, message string
	if err := s.pool.QueryRow(ctx, `SELECT result->'metadata'->'collectors'->'greeting'->>'banner', result->>'message'
		FROM health_check_runs WHERE configuration_id = $1 ORDER BY "timestamp" LIMIT 1`, c.ID).Scan(&banner, &message); err != nil {
		t.Fatal(err)
	}
	if banner != "␀␀BAN␀NER" {
		t.Errorf("stored banner = %q, want %q", banner, "␀␀BAN␀NER")
	}
	if want := "Check failed: Assertion failed: banner equals SSH-2.0-OpenSSH_9.6"; message != want {
		t.Errorf("stored message = %q, want %q", message, want)
	}
	for typ, want := range map[string]int{health.EventSystemDegraded: 1, health.EventCheckFailed: 2} {
		if n := s.count(t, `SELECT count(*) FROM health_events WHERE system_id = $1 AND type = $2`, sys, typ); n < want {
			t.Errorf("outbox has %d %s, want at least %d", n, typ, want)
		}
	}
	var payloadBanner string
	if err := s.pool.QueryRow(ctx, `SELECT payload->'result'->'greeting'->>'banner' FROM health_events
		WHERE system_id = $1 AND type = $2 LIMIT 1`, sys, health.EventCheckFailed).Scan(&payloadBanner); err != nil {
		t.Fatal(err)
	}
	if payloadBanner != "␀␀BAN␀NER" {
		t.Errorf("check_failed payload banner = %q", payloadBanner)
	}

	// An external result, sent as it came: NUL and invalid UTF-8 in its document and source.
	src, label := "push\x00gw", "Push \xff gateway"
	ext := workflows.CheckResult{ID: "ext-nul-1", ConfigurationID: c.ID, Status: health.Unhealthy, Message: "pushed\x00",
		Result:   json.RawMessage("{\"status\":\"unhealthy\",\"message\":\"pushed\\u0000\",\"metadata\":{\"out\":\"a\\u0000b\xffc\"}}"),
		SourceID: &src, SourceLabel: &label, ExecutedAt: time.Now().UTC()}
	if err := s.entities.SendResult(ctx, sys, ext); err != nil {
		t.Fatal(err)
	}
	runID := sys + ":ext:" + ext.ID
	var out, storedSrc, storedLabel string
	waitFor(t, 60*time.Second, "the external result stored", func() (bool, error) {
		err := s.pool.QueryRow(ctx, `SELECT result->'metadata'->>'out', source_id, source_label FROM health_check_runs WHERE id = $1`,
			runID).Scan(&out, &storedSrc, &storedLabel)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	})
	if out != "a␀b\uFFFDc" || storedSrc != "push␀gw" || storedLabel != "Push \uFFFD gateway" {
		t.Errorf("external run stored as out=%q source=%q label=%q", out, storedSrc, storedLabel)
	}
}

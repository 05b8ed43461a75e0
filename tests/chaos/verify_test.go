package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/checkflow/checkflow/internal/entityclient"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/workflows"
)

// What the test asserts, per system, on what PostgreSQL holds after the run:
//
//  1. No duplicate and no lost run. Probe run ids are "<systemId>:p[<epoch>.]<N>" where N is the entity's
//     probe sequence number, part of its replayed state. A probe retried after a crash (the worker
//     died before the workflow task that ran the local activity completed, so the replay runs it
//     again) keeps its id, so it is the same run: it is stored once, by the first write that
//     commits (ON CONFLICT DO NOTHING), with that attempt's executedAt and status. A duplicate is
//     therefore one execution stored twice — two ids for one check with the same executedAt — or
//     one probe number stored twice (impossible under the primary key; checked anyway). The
//     probe numbers must also be 1..max without a hole (a hole is a run the entity issued and
//     never stored), and since the checks of a system share their interval, every batch holds
//     each check once, in configuration-id order: run pN is of check (N-1) mod #checks.
//  2. No broken transition chain: by seq, each transition starts where the previous ended (the
//     first from the baseline, healthy), never from a status to itself.
//  3. The recorded transitions equal a replay of the stored runs through internal/health. The
//     entity processes a probe batch as one step with its own seq; runs carry no seq, but every
//     run has a healthcheck.check.completed event written in the same transaction under the key
//     "<systemId>:<seq>:healthcheck.check.completed:<configurationId>" whose payload holds the
//     run's executedAt and status: that is how a run is put back into its step. The replay folds
//     each step's runs into their checks' windows (newest first), evaluates each check with its
//     effective thresholds (health.Evaluate), aggregates worst-wins (health.ComputeView) and
//     expects a transition at every step whose status differs from the previous step's, whose
//     driver is a check that changed in that step. The stored view and check states must be the
//     replay's last step, and the steps must be the seqs 2..(stored seq) without a hole (seq 1 is
//     the entity's baseline). Before the last worker stops, the running entity's own window of
//     statuses per check (query "state") must equal the stored runs up to its seq.
//     Probe sessions (the entity's default for local checks) store quiet runs themselves: their
//     ids are "<systemId>:s<epoch>.<session>.<k>", their check.completed events are keyed
//     "<run id>:healthcheck.check.completed" and carry the entity's seq when the session claimed.
//     The replay folds them after that seq's step, in time order, and none of them may change a
//     check's status (a session must hand such a run to the entity). A session's run that ended it
//     (a status change, a failure) is written by the entity in a step of its own.
//  4. Events: idempotency keys are unique and of the form "<systemId>:<seq>:<type>[…]"; every
//     transition has its system_health_changed event (and system_degraded or system_healthy as
//     health.DeriveEvents says) at its seq with its from/to in the payload, no trigger event is
//     without its transition, and each failed run has its check_failed event.
//
// The scenario must also have exercised something: at least two transitions per system.

// runRow is one stored run.
type runRow struct {
	id    string
	cfg   string
	probe int64 // N of "<systemId>:p<N>"; 0 when the id has another form
	// sessionNo is <session> of a probe session's run id "<systemId>:s<epoch>.<session>.<k>" (0: not one).
	sessionNo int64
	status    health.Status
	at        time.Time
	// seq is the step the run was processed in (from its check.completed event); 0 when none.
	seq int64
}

type transitionRow struct {
	seq  int64
	from *health.Status
	to   health.Status
	cfg  *string
	at   time.Time
}

type eventRow struct {
	seq     int64
	typ     string
	key     string
	payload map[string]any
}

type checkStateRow struct {
	status     *health.Status
	considered int
}

// systemData is everything stored about one system.
type systemData struct {
	id string
	// checks are the enabled checks by configuration id (the entity's batch order), with their
	// effective thresholds.
	checks      []store.LoadedCheck
	runs        []*runRow // by probe number, then id
	transitions []transitionRow
	events      []eventRow
	stateSeq    int64
	view        *health.View
	checkStates map[string]checkStateRow
	// steps are the runs by step seq, each step's runs by configuration id.
	steps map[int64][]*runRow
	// sessionRuns are the quiet runs probe sessions stored, by the seq they claimed at, in time
	// order.
	sessionRuns map[int64][]*runRow
	// mapping problems between runs and their check.completed events.
	unmapped []string
}

// probeID matches probe run ids: "<systemId>:p<N>", or "<systemId>:p<epoch>.<N>" for entities
// started with an epoch (one lifetime per system in this test).
var probeID = regexp.MustCompile(`:p(?:[0-9A-Za-z]{8}\.)?([0-9]+)$`)

// sessionRunID matches probe session run ids: "<systemId>:s<epoch>.<session>.<k>".
var sessionRunID = regexp.MustCompile(`:s[0-9A-Za-z]{8}\.([0-9]+)\.[0-9]+$`)

func loadSystem(ctx context.Context, pool *pgxpool.Pool, st *store.Store, sys string) (*systemData, error) {
	loaded, err := st.Load(ctx, sys)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", sys, err)
	}
	d := &systemData{id: sys, checks: loaded.Checks, checkStates: map[string]checkStateRow{}, steps: map[int64][]*runRow{},
		sessionRuns: map[int64][]*runRow{}}
	sort.Slice(d.checks, func(i, j int) bool { return d.checks[i].ConfigurationID < d.checks[j].ConfigurationID })

	rows, err := pool.Query(ctx, `SELECT id, configuration_id::text, status::text, "timestamp" FROM health_check_runs WHERE system_id = $1`, sys)
	if err != nil {
		return nil, fmt.Errorf("runs of %s: %w", sys, err)
	}
	for rows.Next() {
		r := &runRow{}
		var status string
		if err := rows.Scan(&r.id, &r.cfg, &status, &r.at); err != nil {
			rows.Close()
			return nil, fmt.Errorf("runs of %s: %w", sys, err)
		}
		r.status = health.Status(status)
		if m := probeID.FindStringSubmatch(r.id); m != nil && strings.HasPrefix(r.id, sys+":p") && len(r.id) == len(sys)+len(m[0]) {
			r.probe, _ = strconv.ParseInt(m[1], 10, 64)
		}
		if m := sessionRunID.FindStringSubmatch(r.id); m != nil && strings.HasPrefix(r.id, sys+":s") && len(r.id) == len(sys)+len(m[0]) {
			r.sessionNo, _ = strconv.ParseInt(m[1], 10, 64)
		}
		d.runs = append(d.runs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("runs of %s: %w", sys, err)
	}
	sort.Slice(d.runs, func(i, j int) bool {
		if d.runs[i].probe != d.runs[j].probe {
			return d.runs[i].probe < d.runs[j].probe
		}
		return d.runs[i].id < d.runs[j].id
	})

	rows, err = pool.Query(ctx, `SELECT seq, from_status::text, to_status::text, configuration_id::text, transitioned_at
		FROM health_check_state_transitions WHERE system_id = $1 ORDER BY seq, transitioned_at, id`, sys)
	if err != nil {
		return nil, fmt.Errorf("transitions of %s: %w", sys, err)
	}
	for rows.Next() {
		var tr transitionRow
		var from *string
		var to string
		var seq *int64
		if err := rows.Scan(&seq, &from, &to, &tr.cfg, &tr.at); err != nil {
			rows.Close()
			return nil, fmt.Errorf("transitions of %s: %w", sys, err)
		}
		if seq != nil {
			tr.seq = *seq
		}
		if from != nil {
			f := health.Status(*from)
			tr.from = &f
		}
		tr.to = health.Status(to)
		d.transitions = append(d.transitions, tr)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("transitions of %s: %w", sys, err)
	}

	rows, err = pool.Query(ctx, `SELECT seq, type, idempotency_key, payload FROM health_events WHERE system_id = $1 ORDER BY id`, sys)
	if err != nil {
		return nil, fmt.Errorf("events of %s: %w", sys, err)
	}
	for rows.Next() {
		var ev eventRow
		var payload []byte
		if err := rows.Scan(&ev.seq, &ev.typ, &ev.key, &payload); err != nil {
			rows.Close()
			return nil, fmt.Errorf("events of %s: %w", sys, err)
		}
		if err := json.Unmarshal(payload, &ev.payload); err != nil {
			rows.Close()
			return nil, fmt.Errorf("event %s: %w", ev.key, err)
		}
		d.events = append(d.events, ev)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events of %s: %w", sys, err)
	}

	var status *string
	var healthy, total int
	if err := pool.QueryRow(ctx, `SELECT status::text, healthy_checks, total_checks, seq FROM system_health_state WHERE system_id = $1`, sys).
		Scan(&status, &healthy, &total, &d.stateSeq); err != nil {
		return nil, fmt.Errorf("state of %s: %w", sys, err)
	}
	if status != nil {
		d.view = &health.View{Status: health.Status(*status), HealthyChecks: healthy, TotalChecks: total}
	}
	rows, err = pool.Query(ctx, `SELECT configuration_id::text, status::text, runs_considered FROM check_health_state WHERE system_id = $1`, sys)
	if err != nil {
		return nil, fmt.Errorf("check states of %s: %w", sys, err)
	}
	for rows.Next() {
		var cfg string
		var cs checkStateRow
		var s *string
		if err := rows.Scan(&cfg, &s, &cs.considered); err != nil {
			rows.Close()
			return nil, fmt.Errorf("check states of %s: %w", sys, err)
		}
		if s != nil {
			x := health.Status(*s)
			cs.status = &x
		}
		d.checkStates[cfg] = cs
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("check states of %s: %w", sys, err)
	}
	d.mapSteps()
	return d, nil
}

// mapSteps puts every run into its step through its check.completed event (same configuration,
// same executedAt to the microsecond PostgreSQL keeps).
func (d *systemData) mapSteps() {
	type key struct {
		cfg string
		at  int64
	}
	byKey := map[key][]int{}
	for i, ev := range d.events {
		if ev.typ != health.HookCheckCompleted {
			continue
		}
		cfg, _ := ev.payload["configurationId"].(string)
		ts, _ := ev.payload["timestamp"].(string)
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			d.unmapped = append(d.unmapped, fmt.Sprintf("event %s has no valid timestamp (%q)", ev.key, ts))
			continue
		}
		k := key{strings.ToLower(cfg), at.UnixMicro()}
		byKey[k] = append(byKey[k], i)
	}
	used := map[int]bool{}
	for _, r := range d.runs {
		evs := byKey[key{r.cfg, r.at.UnixMicro()}]
		switch len(evs) {
		case 0:
			d.unmapped = append(d.unmapped, fmt.Sprintf("run %s (%s at %s) has no check.completed event", r.id, r.status, r.at.Format(time.RFC3339Nano)))
			continue
		case 1:
		default:
			var keys []string
			for _, i := range evs {
				keys = append(keys, d.events[i].key)
			}
			d.unmapped = append(d.unmapped, fmt.Sprintf("run %s matches %d check.completed events: %s", r.id, len(evs), strings.Join(keys, ", ")))
		}
		ev := d.events[evs[0]]
		used[evs[0]] = true
		if s, _ := ev.payload["status"].(string); health.Status(s) != r.status {
			d.unmapped = append(d.unmapped, fmt.Sprintf("run %s is stored %s but its event %s says %s", r.id, r.status, ev.key, s))
		}
		r.seq = ev.seq
		if ev.key == r.id+":"+health.HookCheckCompleted {
			d.sessionRuns[r.seq] = append(d.sessionRuns[r.seq], r) // stored by a probe session
			continue
		}
		d.steps[r.seq] = append(d.steps[r.seq], r)
	}
	for _, rs := range d.sessionRuns {
		sort.Slice(rs, func(i, j int) bool {
			if !rs[i].at.Equal(rs[j].at) {
				return rs[i].at.Before(rs[j].at)
			}
			return rs[i].cfg < rs[j].cfg
		})
	}
	for i, ev := range d.events {
		if ev.typ == health.HookCheckCompleted && !used[i] {
			d.unmapped = append(d.unmapped, fmt.Sprintf("event %s (payload %v) has no stored run", ev.key, ev.payload))
		}
	}
	for _, rs := range d.steps {
		sort.Slice(rs, func(i, j int) bool {
			if rs[i].cfg != rs[j].cfg {
				return rs[i].cfg < rs[j].cfg
			}
			return rs[i].at.Before(rs[j].at)
		})
	}
}

// stepSeqs are the seqs of the steps with runs, ascending.
func (d *systemData) stepSeqs() []int64 {
	out := make([]int64, 0, len(d.steps))
	for s := range d.steps {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// expectedTransition is a transition the replay derives.
type expectedTransition struct {
	seq      int64
	from, to health.Status
	// changed are the checks whose evaluated status changed in the step (the driver is one).
	changed map[string]bool
}

// replayResult is the state a replay of the stored runs reaches.
type replayResult struct {
	transitions []expectedTransition
	view        *health.View
	lastSeq     int64
	// windows are each check's statuses, newest first (all of them; Evaluate takes ≤ 100).
	windows  map[string][]health.Status
	statuses map[string]health.Status
	// sessionChanges are quiet session runs that nonetheless changed a check's status.
	sessionChanges []string
}

// replay folds the stored steps with seq ≤ upTo through internal/health as the entity does,
// each followed by the runs probe sessions stored at its seq — except those of sessions
// numbered ≥ fromSession (0: all), which the entity has not heard of yet.
func (d *systemData) replay(upTo, fromSession int64) replayResult {
	r := replayResult{windows: map[string][]health.Status{}, statuses: map[string]health.Status{}}
	view := func() *health.View {
		cs := make([]health.CheckStatus, 0, len(d.checks))
		for _, c := range d.checks {
			cs = append(cs, health.CheckStatus{ConfigurationID: c.ConfigurationID, Status: r.statuses[c.ConfigurationID],
				RunsConsidered: min(len(r.windows[c.ConfigurationID]), health.MaxWindowRuns)})
		}
		return health.ComputeView(cs)
	}
	for _, c := range d.checks {
		r.statuses[c.ConfigurationID] = health.Evaluate(nil, &c.Thresholds)
	}
	prev := view() // the baseline the entity stores at seq 1
	seqs := d.stepSeqs()
	for s := range d.sessionRuns {
		if !slices.Contains(seqs, s) {
			seqs = append(seqs, s)
		}
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		if seq > upTo {
			break
		}
		changed := map[string]bool{}
		for _, run := range d.steps[seq] {
			i := slices.IndexFunc(d.checks, func(c store.LoadedCheck) bool { return c.ConfigurationID == run.cfg })
			if i < 0 {
				continue // reported by verify
			}
			w := append([]health.Status{run.status}, r.windows[run.cfg]...)
			r.windows[run.cfg] = w
			if s := health.Evaluate(w, &d.checks[i].Thresholds); s != r.statuses[run.cfg] {
				changed[run.cfg] = true
				r.statuses[run.cfg] = s
			}
		}
		next := view()
		if prev.Status != next.Status {
			r.transitions = append(r.transitions, expectedTransition{seq: seq, from: prev.Status, to: next.Status, changed: changed})
		}
		if _, ok := d.steps[seq]; ok {
			r.lastSeq = seq
		}
		prev = next
		for _, run := range d.sessionRuns[seq] {
			if fromSession > 0 && run.sessionNo >= fromSession {
				continue
			}
			i := slices.IndexFunc(d.checks, func(c store.LoadedCheck) bool { return c.ConfigurationID == run.cfg })
			if i < 0 {
				continue
			}
			w := append([]health.Status{run.status}, r.windows[run.cfg]...)
			r.windows[run.cfg] = w
			if s := health.Evaluate(w, &d.checks[i].Thresholds); s != r.statuses[run.cfg] {
				r.sessionChanges = append(r.sessionChanges, fmt.Sprintf("run %s (%s) changed check %s from %s to %s", run.id, run.status, run.cfg[:8], r.statuses[run.cfg], s))
				r.statuses[run.cfg] = s
			}
		}
	}
	r.view = prev
	return r
}

// verifier checks the stored data of the systems of one run.
type verifier struct {
	t        *testing.T
	ctx      context.Context
	pool     *pgxpool.Pool
	store    *store.Store
	entities *entityclient.Client
	dir      string
	// suspect are systems whose stored data or entity disagree with the replay: their workflow
	// histories are written to dir.
	suspect map[string]string
}

// fail reports a defect of system sys and marks it for a history dump.
func (v *verifier) fail(sys, format string, args ...any) {
	v.t.Helper()
	msg := fmt.Sprintf(format, args...)
	v.t.Errorf("%s: %s", sys, msg)
	if v.suspect == nil {
		v.suspect = map[string]string{}
	}
	if _, ok := v.suspect[sys]; !ok {
		first, _, _ := strings.Cut(msg, "\n")
		v.suspect[sys] = first
	}
}

// verify runs assertions 1–4 on one system's stored data.
func (v *verifier) verify(d *systemData) {
	v.t.Helper()
	sys := d.id
	n := int64(len(d.checks))
	if n == 0 {
		v.fail(sys, "no enabled checks loaded")
		return
	}

	// 1. Duplicates and lost runs.
	ids := map[string]bool{}
	probes := map[int64]string{}
	type cfgAt struct {
		cfg string
		at  int64
	}
	executions := map[cfgAt]string{}
	var maxProbe int64
	for _, r := range d.runs {
		if ids[r.id] {
			v.fail(sys, "run id %s stored twice", r.id)
		}
		ids[r.id] = true
		if r.probe == 0 && r.sessionNo == 0 {
			v.fail(sys, "run %s is neither a probe run id (<systemId>:p<N>) nor a probe session's", r.id)
			continue
		}
		if r.sessionNo != 0 {
			// Numbered per session, not by the entity: only the one-execution check applies (a
			// session lost with its worker never stores the batch it was probing).
			if other, ok := executions[cfgAt{r.cfg, r.at.UnixMicro()}]; ok {
				v.fail(sys, "duplicate run: %s and %s are one execution of check %s (executedAt %s)", other, r.id, r.cfg, r.at.Format(time.RFC3339Nano))
			}
			executions[cfgAt{r.cfg, r.at.UnixMicro()}] = r.id
			continue
		}
		if other, ok := probes[r.probe]; ok {
			v.fail(sys, "probe number %d stored twice: %s and %s", r.probe, other, r.id)
		}
		probes[r.probe] = r.id
		maxProbe = max(maxProbe, r.probe)
		if other, ok := executions[cfgAt{r.cfg, r.at.UnixMicro()}]; ok {
			v.fail(sys, "duplicate run: %s and %s are one execution of check %s (executedAt %s)", other, r.id, r.cfg, r.at.Format(time.RFC3339Nano))
		}
		executions[cfgAt{r.cfg, r.at.UnixMicro()}] = r.id
		if want := d.checks[(r.probe-1)%n].ConfigurationID; r.cfg != want {
			v.fail(sys, "run %s is of check %s; a batch holds every check once in configuration order, so p%d should be of %s", r.id, r.cfg, r.probe, want)
		}
	}
	var missing []string
	for p := int64(1); p <= maxProbe; p++ {
		if _, ok := probes[p]; !ok {
			missing = append(missing, "p"+strconv.FormatInt(p, 10))
		}
	}
	if len(missing) > 0 {
		v.fail(sys, "%d lost runs: probe numbers issued by the entity but not stored: %s", len(missing), abbreviate(missing, 20))
	}
	if maxProbe%n != 0 {
		v.fail(sys, "%d probe runs stored, not a whole number of batches of %d checks", maxProbe, n)
	}

	// Every run in exactly one step, through its check.completed event.
	for _, p := range d.unmapped {
		v.fail(sys, "%s", p)
	}
	seqs := d.stepSeqs()
	for _, seq := range seqs {
		rs := d.steps[seq]
		if int64(len(rs)) != n {
			var list []string
			for _, r := range rs {
				list = append(list, r.id)
			}
			v.fail(sys, "step seq %d holds %d runs (%s); every batch has one run of each of the %d checks", seq, len(rs), strings.Join(list, " "), n)
		}
	}
	if len(seqs) > 0 {
		if seqs[0] != 2 {
			v.fail(sys, "the first step with runs is seq %d, want 2 (seq 1 is the baseline)", seqs[0])
		}
		for i := 1; i < len(seqs); i++ {
			if seqs[i] != seqs[i-1]+1 {
				v.fail(sys, "no step stored for seqs %d..%d (the entity never skips a seq: a step was lost)", seqs[i-1]+1, seqs[i]-1)
			}
		}
		if last := seqs[len(seqs)-1]; last != d.stateSeq {
			v.fail(sys, "the stored state is at seq %d but the last step with runs is seq %d", d.stateSeq, last)
		}
	}

	// The scenario must have exercised something: its checks fail and recover throughout.
	if len(d.transitions) < 2 {
		v.t.Errorf("%s: only %d transitions: the flapping checks should have moved the system several times", sys, len(d.transitions))
	}

	// 2. The transition chain.
	prevTo := health.Healthy
	var prevSeq int64
	for i, tr := range d.transitions {
		from := "<none>"
		if tr.from != nil {
			from = string(*tr.from)
		}
		if tr.from == nil || *tr.from != prevTo || *tr.from == tr.to || tr.seq <= prevSeq {
			v.fail(sys, "broken transition chain at transition %d: %s→%s at seq %d after →%s at seq %d", i, from, tr.to, tr.seq, prevTo, prevSeq)
		}
		prevTo, prevSeq = tr.to, tr.seq
	}

	// 3. The replay of the stored runs.
	r := d.replay(d.stateSeq, 0)
	for _, c := range r.sessionChanges {
		v.fail(d.id, "a probe session stored a run that changes a status instead of handing it to the entity: %s", c)
	}
	v.compareTransitions(d, r)
	if r.view == nil || d.view == nil || *r.view != *d.view {
		v.fail(sys, "stored view %s at seq %d, the replay of the stored runs gives %s at seq %d", viewString(d.view), d.stateSeq, viewString(r.view), r.lastSeq)
	}
	for _, c := range d.checks {
		cs, ok := d.checkStates[c.ConfigurationID]
		want := r.statuses[c.ConfigurationID]
		wantN := min(len(r.windows[c.ConfigurationID]), health.MaxWindowRuns)
		if !ok || cs.status == nil || *cs.status != want || cs.considered != wantN {
			got := "<none>"
			if ok && cs.status != nil {
				got = fmt.Sprintf("%s over %d runs", *cs.status, cs.considered)
			}
			v.fail(sys, "check %s: stored state %s, the replay gives %s over %d runs", c.ConfigurationID, got, want, wantN)
		}
	}

	// 4. Events.
	v.verifyEvents(d)
}

// compareTransitions reports every difference between the stored transitions and the replay's.
func (v *verifier) compareTransitions(d *systemData, r replayResult) {
	v.t.Helper()
	stored := map[int64][]transitionRow{}
	for _, tr := range d.transitions {
		stored[tr.seq] = append(stored[tr.seq], tr)
	}
	expected := map[int64]expectedTransition{}
	for _, e := range r.transitions {
		expected[e.seq] = e
	}
	var all []int64
	for s := range stored {
		all = append(all, s)
	}
	for s := range expected {
		if _, ok := stored[s]; !ok {
			all = append(all, s)
		}
	}
	slices.Sort(all)
	for _, seq := range all {
		e, hasE := expected[seq]
		trs := stored[seq]
		switch {
		case len(trs) > 1:
			v.fail(d.id, "%d transitions stored at seq %d", len(trs), seq)
		case !hasE:
			v.fail(d.id, "seq %d: transition %s→%s stored, but the replay of the stored runs has none there%s", seq, ptrString(trs[0].from), trs[0].to, d.stepContext(seq))
		case len(trs) == 0:
			v.fail(d.id, "seq %d: the replay of the stored runs gives %s→%s, but no transition is stored (lost transition)%s", seq, e.from, e.to, d.stepContext(seq))
		default:
			tr := trs[0]
			if tr.from == nil || *tr.from != e.from || tr.to != e.to {
				v.fail(d.id, "seq %d: transition %s→%s stored, the replay of the stored runs gives %s→%s%s", seq, ptrString(tr.from), tr.to, e.from, e.to, d.stepContext(seq))
			} else if tr.cfg == nil || !e.changed[*tr.cfg] {
				v.fail(d.id, "seq %d: transition %s→%s is attributed to check %s, which did not change in that step (changed: %v)", seq, e.from, e.to, ptrString(tr.cfg), keys(e.changed))
			}
		}
	}
}

// stepContext describes a step and the one before it, for a failure message.
func (d *systemData) stepContext(seq int64) string {
	var b strings.Builder
	for _, s := range []int64{seq - 1, seq} {
		fmt.Fprintf(&b, "\n\t\tseq %d:", s)
		for _, r := range d.steps[s] {
			fmt.Fprintf(&b, " %s=%s@%s(%s)", r.id, r.status, r.at.Format("15:04:05.000000"), r.cfg[:8])
		}
	}
	return b.String()
}

// verifyEvents runs assertion 4.
func (v *verifier) verifyEvents(d *systemData) {
	v.t.Helper()
	sys := d.id
	keysSeen := map[string]bool{}
	triggers := map[int64]map[string]eventRow{}
	failedRuns, checkFailed, hookFailed := map[int64]int{}, map[int64]int{}, map[int64]int{}
	for _, ev := range d.events {
		if keysSeen[ev.key] {
			v.fail(sys, "idempotency key %s used twice", ev.key)
		}
		keysSeen[ev.key] = true
		if ev.typ == health.HookAssignmentChanged || !strings.HasPrefix(ev.typ, "healthcheck.") {
			// Written with a configuration change or by the notifications, not by the entity.
			continue
		}
		sessionHook := ev.typ == health.HookCheckCompleted && strings.HasPrefix(ev.key, sys+":s") && strings.HasSuffix(ev.key, ":"+ev.typ)
		if want := store.EventKey(sys, ev.seq, ev.typ, ""); ev.key != want && !strings.HasPrefix(ev.key, want+":") && !sessionHook {
			v.fail(sys, "event key %s does not name its system, seq %d and type %s", ev.key, ev.seq, ev.typ)
		}
		switch ev.typ {
		case health.EventSystemDegraded, health.EventSystemHealthy, health.EventSystemHealthChanged:
			if triggers[ev.seq] == nil {
				triggers[ev.seq] = map[string]eventRow{}
			}
			triggers[ev.seq][ev.typ] = ev
		case health.EventCheckFailed:
			checkFailed[ev.seq]++
		case health.HookCheckFailed:
			hookFailed[ev.seq]++
		}
	}
	for seq, rs := range d.steps {
		for _, r := range rs {
			if r.status != health.Healthy {
				failedRuns[seq]++
			}
		}
	}
	for seq := range mergeKeys(failedRuns, checkFailed, hookFailed) {
		if failedRuns[seq] != checkFailed[seq] || failedRuns[seq] != hookFailed[seq] {
			v.fail(sys, "seq %d: %d failed runs but %d check_failed and %d check.failed events", seq, failedRuns[seq], checkFailed[seq], hookFailed[seq])
		}
	}
	withTransition := map[int64]bool{}
	for _, tr := range d.transitions {
		withTransition[tr.seq] = true
		if tr.from == nil {
			continue // reported by the chain check
		}
		var want []string
		for _, te := range health.DeriveEvents(&health.View{Status: *tr.from}, &health.View{Status: tr.to}, sys, tr.at) {
			want = append(want, te.Type)
		}
		got := triggers[tr.seq]
		if len(got) != len(want) {
			v.fail(sys, "seq %d: transition %s→%s has trigger events %v, want %v", tr.seq, *tr.from, tr.to, keys(got), want)
		}
		for _, typ := range want {
			ev, ok := got[typ]
			if !ok {
				v.fail(sys, "seq %d: transition %s→%s has no %s event", tr.seq, *tr.from, tr.to, typ)
				continue
			}
			if ev.payload["previousStatus"] != string(*tr.from) || ev.payload["newStatus"] != string(tr.to) {
				v.fail(sys, "seq %d: %s says %v→%v, the transition %s→%s", tr.seq, typ, ev.payload["previousStatus"], ev.payload["newStatus"], *tr.from, tr.to)
			}
		}
	}
	for seq, evs := range triggers {
		if !withTransition[seq] {
			v.fail(sys, "seq %d: trigger events %v without a transition", seq, keys(evs))
		}
	}
}

// entityMatchesStore compares the running entity's window of statuses per check (query "state")
// with the stored runs up to the entity's seq: an entity that evaluates other results than the
// stored ones makes transitions that no replay of the stored runs explains.
func (v *verifier) entityMatchesStore(sys string) {
	v.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := v.entities.State(v.ctx, sys)
		if err == nil {
			d, lerr := loadSystem(v.ctx, v.pool, v.store, sys)
			if lerr != nil {
				v.t.Fatal(lerr)
			}
			if d.stateSeq >= st.Seq {
				v.compareEntity(d, st)
				v.t.Logf("%s: the entity's windows at seq %d match the stored runs", sys, st.Seq)
				return
			}
			err = fmt.Errorf("entity at seq %d, stored seq %d", st.Seq, d.stateSeq)
		}
		if time.Now().After(deadline) {
			v.fail(sys, "could not compare the entity with the store: %v", err)
			return
		}
		<-time.After(100 * time.Millisecond)
	}
}

func (v *verifier) compareEntity(d *systemData, st workflows.EntityState) {
	v.t.Helper()
	// Runs of the session running at the query (or started since) are not in the entity yet.
	from := st.SessionSeq + 1
	if st.Session != "" {
		from = st.SessionSeq
	}
	r := d.replay(st.Seq, from)
	if st.View == nil || r.view == nil || *st.View != *r.view {
		v.fail(d.id, "the entity's view at seq %d is %s, the replay of the stored runs gives %s", st.Seq, viewString(st.View), viewString(r.view))
	}
	for _, c := range st.Checks {
		want := r.windows[c.ConfigurationID]
		if len(want) > health.MaxWindowRuns {
			want = want[:health.MaxWindowRuns]
		}
		if slices.Equal(c.Recent, want) {
			continue
		}
		i := 0
		for i < len(c.Recent) && i < len(want) && c.Recent[i] == want[i] {
			i++
		}
		// The stored run at that position (newest first) of the check, to name it.
		var runs []*runRow
		for _, s := range d.stepSeqs() {
			if s > st.Seq {
				break
			}
			for _, run := range d.steps[s] {
				if run.cfg == c.ConfigurationID {
					runs = append(runs, run)
				}
			}
		}
		slices.Reverse(runs)
		at := "beyond the stored runs"
		if i < len(runs) {
			at = fmt.Sprintf("stored run %s (seq %d, %s at %s)", runs[i].id, runs[i].seq, runs[i].status, runs[i].at.Format(time.RFC3339Nano))
		}
		v.fail(d.id, "the entity (seq %d) holds %d statuses for check %s and the store %d; they differ from the %d-th newest on: %s; entity %v…, store %v…",
			st.Seq, len(c.Recent), c.ConfigurationID, len(want), i+1, at, head(c.Recent[i:], 6), head(want[i:], 6))
	}
}

// continuedAsNew counts the runs of the system's entity that continued as new.
func (v *verifier) continuedAsNew(sys string) (int, error) {
	resp, err := v.entities.Temporal.ListWorkflow(v.ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf(`WorkflowId = %q`, workflows.SystemWorkflowID(sys))})
	if err != nil {
		return 0, fmt.Errorf("list the runs of %s: %w", sys, err)
	}
	n := 0
	for _, e := range resp.GetExecutions() {
		if e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
			n++
		}
	}
	return n, nil
}

// dumpHistories writes the workflow histories (every run of the entity) of the suspect systems.
func (v *verifier) dumpHistories() {
	for sys, why := range v.suspect {
		id := workflows.SystemWorkflowID(sys)
		resp, err := v.entities.Temporal.ListWorkflow(v.ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: fmt.Sprintf(`WorkflowId = %q`, id)})
		if err != nil {
			v.t.Logf("list the runs of %s: %v", id, err)
			continue
		}
		for _, e := range resp.GetExecutions() {
			runID := e.GetExecution().GetRunId()
			it := v.entities.Temporal.GetWorkflowHistory(v.ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			h := &historypb.History{}
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					v.t.Logf("history of %s/%s: %v", id, runID, err)
					break
				}
				h.Events = append(h.Events, ev)
			}
			b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
			if err != nil {
				v.t.Logf("encode history of %s/%s: %v", id, runID, err)
				continue
			}
			path := filepath.Join(v.dir, fmt.Sprintf("history-%s-%s-%s.json", sys, e.GetStartTime().AsTime().Format("150405.000"), runID))
			if err := os.WriteFile(path, b, 0o644); err != nil {
				v.t.Logf("write %s: %v", path, err)
				continue
			}
			v.t.Logf("%s (%s, %d events, %s): %s", id, e.GetStatus(), len(h.Events), why, path)
		}
	}
}

func viewString(v *health.View) string {
	if v == nil {
		return "<none>"
	}
	return fmt.Sprintf("{%s %d/%d}", v.Status, v.HealthyChecks, v.TotalChecks)
}

func ptrString[T ~string](p *T) string {
	if p == nil {
		return "<none>"
	}
	return string(*p)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func mergeKeys(ms ...map[int64]int) map[int64]bool {
	out := map[int64]bool{}
	for _, m := range ms {
		for k := range m {
			out[k] = true
		}
	}
	return out
}

func head[T any](s []T, n int) []T {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func abbreviate(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, " ")
	}
	return strings.Join(s[:n], " ") + fmt.Sprintf(" … (%d more)", len(s)-n)
}

package workflows

// Change ids of the SystemHealth entity used with workflow.GetVersion, oldest first. Every change
// of the entity's commands gets one here; histories recorded with each version live in
// testdata/systemhealth-*-<change id>-*.json and replay in TestReplayCommittedHistories (the
// corpus only grows: never overwrite a file). Defaults are resolved where they are used, not
// carried through continue-as-new.

// changePersistUntilStored versions the entity's storage semantics (workflow.GetVersion):
//
//   - DefaultVersion: a write or load is one local activity of at most 30 s; when it fails the
//     entity logs and goes on (the run, its transition and events were lost — issue 17 #2).
//   - 1: writes and loads are retried until PostgreSQL accepts them, in rounds (a local activity
//     with short retries, then a durable timer backing off to storageRetryMax). The loop does not
//     go past an item that is not stored, so the stored sequence never has a hole; meanwhile the
//     entity keeps its cadence: due checks are probed and their results wait in the queue (in
//     Temporal's history) up to the backlog bound. Input the store rejects (not retryable) is
//     stored once more without its run details, so the run, the transition and the events are
//     kept; a system that no longer exists ends the entity.
const changePersistUntilStored = "persist-until-stored"

// changeProbeSessions versions the entity's cadence (workflow.GetVersion):
//
//   - DefaultVersion: the entity keeps every check's cadence with its own timer and probes each
//     due batch as a local activity: every run is a workflow task (≈ 8 history events and 2
//     billable actions per run of a one-check system).
//   - 1: the cadence of the checks without a location is handed to a probe session
//     (ActivityProbeSession), one at a time: it probes with the worker's clock, stores the runs
//     that change no evaluated status itself (fenced by its id) and reports them in one batch
//     when it ends; a run that may change a status (or that failed) ends it at once and is
//     processed by the entity like any result. The entity revokes the session whenever its
//     windows change from outside it (a configuration change, a run-now or external result of
//     one of its checks, continue-as-new).
const changeProbeSessions = "probe-sessions"

// changeSignalsInLoop versions how the entity reads its signals (workflow.GetVersion):
//
//   - DefaultVersion: one goroutine per signal channel blocks in Receive and appends to the
//     queue, and the loop drains the channels with ReceiveAsync before it ends or continues as
//     new. A signal delivered in the same workflow task as that decision was handed to the
//     blocked reader (never buffered, so the drain did not see it) and could be lost with the
//     continue-as-new.
//   - 1: the loop is the one reader of every channel: it receives what was delivered at the top
//     of each iteration and wakes for a pending signal, so a signal is either in the queue or
//     still buffered in its channel when the loop decides, and the drain sees it.
const changeSignalsInLoop = "signals-in-loop"

// changeFlapDetection versions flap detection (workflow.GetVersion):
//
//   - DefaultVersion: no flap detection.
//   - 1: every run folded into a check records the check's evaluated status, every step the
//     system's (health.FlapState, Nagios' percent state change over the last 21); a start or stop
//     is an outbox event (healthcheck.flapping_started / _stopped) written with the step, before
//     its transition events, so the notifier hears of it first. While the system or one of its
//     checks flaps, no probe session runs (a session's quiet runs could end the flapping, an
//     event only the entity may write). A new lifetime rebuilds its checks' flap histories from
//     their run windows; the system's starts afresh.
const changeFlapDetection = "flap-detection"

// changeSessionRuns versions how many runs a probe session stores before it ends
// (workflow.GetVersion):
//
//   - DefaultVersion: at most defaultSessionMaxRuns (64): a system of 10 checks @10 s ended its
//     session every 6.4 s, each end a workflow task, an activity and ≈ 6 history events.
//   - 1: at most sessionMaxRunsV1 (512): the session's duration (30 intervals of its shortest
//     check, 1–15 minutes) is what ends it for systems of up to ~17 checks @10 s.
const changeSessionRuns = "session-runs"

// changeHeartbeat versions heartbeat (push) checks (workflow.GetVersion):
//
//   - DefaultVersion: a heartbeat check is probed like any check (its strategy fails every run).
//   - 1: see heartbeat.go.
const changeHeartbeat = "heartbeat"

// changeQuorum versions multi-location checks (workflow.GetVersion):
//
//   - DefaultVersion: each location's probe is its own run (a run with the location as its
//     source), and run-now probes only the first location.
//   - 1: a check with two or more locations is probed from every location each interval — one
//     Probe activity per location on its task queue, with a ScheduleToStart timeout of half the
//     interval (2 s to 1 min) — and stored as ONE run whose status the check's quorum decides
//     (Assignment.Quorum, default a majority; health.DecideQuorum): unhealthy when at least
//     quorum locations fail. A location whose probe no worker took in time is "unavailable" in
//     the run's document and does not count as failing; when no location answered the run
//     fails naming them. Run-now probes every location and returns the quorum run. Checks with
//     one location keep the DefaultVersion behaviour (quorum.go).
const changeQuorum = "quorum"

// changeBoundedHistory versions how long the entity's history grows (workflow.GetVersion):
//
//   - DefaultVersion: the entity continues as new when Temporal suggests it (4,096 events or
//     4 MiB of history by default) or past EntityOptions.ContinueAsNewAfterEvents.
//   - 1: without ContinueAsNewAfterEvents it continues as new past
//     defaultContinueAsNewAfterEvents (1,000) events: a worker whose workflow cache holds fewer
//     systems than it runs (--workflow-cache) replays an evicted entity's history at its next
//     workflow task, and every entity's after a worker restart, so a short history keeps that
//     cheap. A quiet system writes ≈ 6 events per probe session, so this is hours apart.
const changeBoundedHistory = "bounded-history"

// changeSessionResume versions what a worker's stop does to a probe session (workflow.GetVersion):
//
//   - DefaultVersion: the session ends and reports (SessionEndStopping); the entity folds its runs
//     and starts a new session — one workflow task and one new activity per system at every
//     worker restart, all of them on the critical path of the next start (1,000 systems:
//     10.5–12.9 s until every check was probed again on 2 cores).
//   - 1: the session is scheduled as ActivityResumableProbeSession with a retry policy
//     (sessionResumeRetry…; ScheduleToClose = StartToClose + sessionSuspendMax) and
//     ProbeSessionRequest.Resumable: at a worker's stop it stores what it has done in PostgreSQL
//     and fails retryably; Temporal retries it on the next worker, which resumes where it
//     stopped, its deadline moved on by the time it was suspended. The entity hears nothing until
//     the session ends as usual — a restart costs no workflow task. The retry of an attempt lost
//     with a killed worker (timed out) has nothing to resume from and fails at once.
const changeSessionResume = "session-resume"

package health

import (
	"testing"
)

// TestNotificationPolicy covers §16.9 NP-1…NP-7.
func TestNotificationPolicy(t *testing.T) {
	matrix := []struct {
		prev, next Status
		want       TransitionKind
	}{
		{H, H, TransitionNone}, {H, D, TransitionEscalation}, {H, U, TransitionEscalation},
		{D, H, TransitionRecovery}, {D, D, TransitionNone}, {D, U, TransitionEscalation},
		{U, H, TransitionRecovery}, {U, D, TransitionDeescalation}, {U, U, TransitionNone},
	}
	for _, tc := range matrix {
		t.Run("NP-1 "+string(tc.prev)+"→"+string(tc.next), func(t *testing.T) {
			if got := ClassifyTransition(tc.prev, tc.next); got != tc.want {
				t.Fatalf("got %q want %q", got, tc.want)
			}
		})
	}
	should := []struct {
		name     string
		kind     TransitionKind
		suppress bool
		want     bool
	}{
		{"NP-2 none, suppression off", TransitionNone, false, false},
		{"NP-2 none, suppression on", TransitionNone, true, false},
		{"NP-3 escalation, suppression off", TransitionEscalation, false, true},
		{"NP-3 escalation, suppression on", TransitionEscalation, true, true},
		{"NP-4 recovery, suppression off", TransitionRecovery, false, true},
		{"NP-4 recovery, suppression on", TransitionRecovery, true, true},
		{"NP-5 deescalation, suppression off", TransitionDeescalation, false, true},
		{"NP-6 deescalation, suppression on", TransitionDeescalation, true, false},
	}
	for _, tc := range should {
		t.Run(tc.name, func(t *testing.T) {
			if got := ShouldNotify(tc.kind, NotificationPolicy{SuppressDeEscalations: tc.suppress}); got != tc.want {
				t.Fatalf("got %v", got)
			}
		})
	}
	t.Run("NP-7 sequence with suppression on", func(t *testing.T) {
		p := NotificationPolicy{SuppressDeEscalations: true}
		seq := []struct {
			prev, next Status
			want       bool
		}{{H, D, true}, {D, U, true}, {U, D, false}, {D, H, true}}
		for _, s := range seq {
			if got := ShouldNotify(ClassifyTransition(s.prev, s.next), p); got != s.want {
				t.Fatalf("%s→%s notify=%v want %v", s.prev, s.next, got, s.want)
			}
		}
	})
}

// TestResolveNotificationPolicy covers §16.10 SNP-1…SNP-6 given the stored values.
func TestResolveNotificationPolicy(t *testing.T) {
	tests := []struct {
		name     string
		row      []byte
		hasRow   bool
		platform []byte
		want     string
	}{
		{"SNP-1 no row, no platform defaults → compile-time default", nil, false, nil, `{"suppressDeEscalations":false}`},
		{"SNP-2 row with NULL policy inherits platform default", []byte("null"), true, []byte(`{"suppressDeEscalations":true}`), `{"suppressDeEscalations":true}`},
		{"SNP-2 row with nil policy inherits platform default", nil, true, []byte(`{"suppressDeEscalations":true}`), `{"suppressDeEscalations":true}`},
		{"SNP-3 no row, platform default true", nil, false, []byte(`{"suppressDeEscalations":true}`), `{"suppressDeEscalations":true}`},
		{"SNP-3 no row ignores a stray row policy", []byte(`{"suppressDeEscalations":false}`), false, []byte(`{"suppressDeEscalations":true}`), `{"suppressDeEscalations":true}`},
		{"SNP-4 row override wins over platform", []byte(`{"suppressDeEscalations":true}`), true, []byte(`{"suppressDeEscalations":false}`), `{"suppressDeEscalations":true}`},
		{"SNP-5 row {} → false (no fallthrough)", []byte(`{}`), true, []byte(`{"suppressDeEscalations":true}`), `{"suppressDeEscalations":false}`},
		{"SNP-6 legacy keys dropped", []byte(`{"suppressDeEscalations":true,"flappingTrigger":{"enabled":true,"transitions":7,"windowMinutes":45},"autoOpenIncidentOnUnhealthy":true,"useNotificationSuppression":true,"skipDuringMaintenance":true,"sustainedUnhealthyTrigger":{"enabled":true,"minutes":15},"autoCloseAfterMinutes":120}`), true, nil, `{"suppressDeEscalations":true}`},
		{"platform default in a config envelope", nil, false, []byte(`{"version":1,"data":{"suppressDeEscalations":true}}`), `{"suppressDeEscalations":true}`},
		{"unparseable row policy → compile-time default", []byte(`{"suppressDeEscalations":"yes"}`), true, []byte(`{"suppressDeEscalations":true}`), `{"suppressDeEscalations":false}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustJSON(t, ResolveNotificationPolicy(tc.row, tc.hasRow, tc.platform)); got != tc.want {
				t.Fatalf("got %s want %s", got, tc.want)
			}
		})
	}
	if _, _, err := ParseNotificationPolicy([]byte(`[`)); err == nil {
		t.Fatal("malformed policy must fail to parse")
	}
}

// TestBuildNotification covers the derived SNP-7 content cases (§7 step 6).
func TestBuildNotification(t *testing.T) {
	const url = "https://app.example/catalog/systems/sys-1"
	tests := []struct {
		name       string
		prev, next Status
		sysName    string
		want       Notification
	}{
		{"SNP-7 recovery", U, H, "Payments", Notification{
			Title: "System health restored: Payments", Body: "All health checks for **Payments** are now passing. The system has returned to normal operation.",
			Importance: "info", ActionLabel: "View System", ActionURL: url, CollapseKey: "healthcheck.system-health.sys-1"}},
		{"SNP-7 critical", H, U, "Payments", Notification{
			Title: "System health critical: Payments", Body: "Health checks indicate **Payments** is unhealthy and may be down.",
			Importance: "critical", ActionLabel: "View failing checks", ActionURL: url + "?filter=failing", CollapseKey: "healthcheck.system-health.sys-1"}},
		{"SNP-7 degraded escalation", H, D, "Payments", Notification{
			Title: "System health degraded: Payments", Body: "Some health checks for **Payments** are failing. The system may be experiencing issues.",
			Importance: "warning", ActionLabel: "View failing checks", ActionURL: url + "?filter=failing", CollapseKey: "healthcheck.system-health.sys-1"}},
		{"SNP-7 degraded de-escalation, name falls back to id", U, D, "", Notification{
			Title: "System health degraded: sys-1", Body: "Some health checks for **sys-1** are failing. The system may be experiencing issues.",
			Importance: "warning", ActionLabel: "View failing checks", ActionURL: url + "?filter=failing", CollapseKey: "healthcheck.system-health.sys-1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := BuildNotification("sys-1", tc.sysName, tc.prev, tc.next, url); got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	if got := BuildNotification("s", "n", H, U, "/x?tab=1").ActionURL; got != "/x?tab=1&filter=failing" {
		t.Fatalf("query join %q", got)
	}
}

func TestBuildFlappingNotification(t *testing.T) {
	t.Parallel()
	cases := []struct {
		started    bool
		status     Status
		title      string
		importance string
	}{
		{true, Degraded, "System flapping: Web", ImportanceWarning},
		{false, Healthy, "System stopped flapping: Web (now healthy)", ImportanceInfo},
		{false, Unhealthy, "System stopped flapping: Web (now unhealthy)", ImportanceCritical},
	}
	for _, c := range cases {
		n := BuildFlappingNotification("web", "Web", c.started, c.status, 61.2, "https://x/status/web")
		if n.Title != c.title || n.Importance != c.importance || n.Body == "" || n.CollapseKey != CollapseKey("web") {
			t.Errorf("%+v: %+v", c, n)
		}
	}
}

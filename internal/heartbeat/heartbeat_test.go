package heartbeat

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, config, field string
	}{
		{"period", `{"periodSeconds":60}`, ""},
		{"period and grace", `{"periodSeconds":60,"graceSeconds":0}`, ""},
		{"cron", `{"cron":"*/5 * * * *"}`, ""},
		{"cron with zone", `{"cron":"0 3 * * *","timezone":"Europe/Berlin"}`, ""},
		{"descriptor", `{"cron":"@daily"}`, ""},
		{"nothing", `{}`, "periodSeconds"},
		{"both", `{"periodSeconds":60,"cron":"@daily"}`, "cron"},
		{"zero period below minimum", `{"periodSeconds":-1}`, "periodSeconds"},
		{"period above a year", `{"periodSeconds":40000000}`, "periodSeconds"},
		{"negative grace", `{"periodSeconds":60,"graceSeconds":-1}`, "graceSeconds"},
		{"bad cron", `{"cron":"every day"}`, "cron"},
		{"six fields", `{"cron":"0 0 3 * * *"}`, "cron"},
		{"bad zone", `{"cron":"@daily","timezone":"Mars/Olympus"}`, "timezone"},
		{"zone without cron", `{"periodSeconds":60,"timezone":"UTC"}`, "timezone"},
		{"UTC", `{"cron":"@daily","timezone":"UTC"}`, ""},
		{"Etc zone", `{"cron":"@daily","timezone":"Etc/GMT+5"}`, ""},
		{"the host's zone is not a zone", `{"cron":"@daily","timezone":"Local"}`, "timezone"},
		{"a path is not a zone", `{"cron":"@daily","timezone":"../../etc/passwd"}`, "timezone"},
		{"a directory is not a zone", `{"cron":"@daily","timezone":"Europe"}`, "timezone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(json.RawMessage(tc.config))
			var fe *FieldError
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
				t.Fatalf("error %v, want one about %s", err, tc.field)
			}
		})
	}
}

func TestDeadlines(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name, config         string
		ping                 string
		afterPing, afterMiss string
		afterStart           string
	}{
		{"period with default grace", `{"periodSeconds":300}`, "2026-12-03T10:00:00Z",
			"2026-12-03T10:06:00Z", "2026-12-03T10:11:00Z", "2026-12-03T10:01:00Z"},
		{"period without grace", `{"periodSeconds":2,"graceSeconds":0}`, "2026-12-03T10:00:00Z",
			"2026-12-03T10:00:02Z", "2026-12-03T10:00:04Z", "2026-12-03T10:00:00Z"},
		{"a week", `{"periodSeconds":604800,"graceSeconds":3600}`, "2026-12-03T10:00:00Z",
			"2026-12-10T11:00:00Z", "2026-12-17T11:00:00Z", "2026-12-03T11:00:00Z"},
		{"cron UTC", `{"cron":"0 3 * * *","graceSeconds":600}`, "2026-12-03T03:00:05Z",
			"2026-12-04T03:10:00Z", "2026-12-05T03:10:00Z", "2026-12-03T03:10:05Z"},
		// 03:00 in Berlin is 02:00 UTC in winter.
		{"cron in a zone", `{"cron":"0 3 * * *","timezone":"Europe/Berlin","graceSeconds":600}`, "2026-12-03T02:00:05Z",
			"2026-12-04T02:10:00Z", "2026-12-05T02:10:00Z", "2026-12-03T02:10:05Z"},
		// A daily job at 03:00 Berlin across the change to summer time (2027-03-28): 01:00 UTC.
		{"cron across DST", `{"cron":"0 3 * * *","timezone":"Europe/Berlin","graceSeconds":0}`, "2027-03-27T02:00:00Z",
			"2027-03-28T01:00:00Z", "2027-03-29T01:00:00Z", "2027-03-27T02:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(json.RawMessage(tc.config))
			if err != nil {
				t.Fatal(err)
			}
			ping := at(tc.ping)
			d := s.DeadlineAfterPing(ping)
			if !d.Equal(at(tc.afterPing)) {
				t.Errorf("deadline after ping = %v, want %s", d, tc.afterPing)
			}
			if got := s.DeadlineAfterMiss(d); !got.Equal(at(tc.afterMiss)) {
				t.Errorf("deadline after a miss = %v, want %s", got, tc.afterMiss)
			}
			if got := s.DeadlineAfterStart(ping); !got.Equal(at(tc.afterStart)) {
				t.Errorf("deadline after start = %v, want %s", got, tc.afterStart)
			}
		})
	}
}

func TestParseAction(t *testing.T) {
	code := func(n int) *int { return &n }
	for _, tc := range []struct {
		action string
		want   Ping
		err    bool
	}{
		{"", Ping{Kind: Success}, false},
		{"start", Ping{Kind: Start}, false},
		{"fail", Ping{Kind: Fail}, false},
		{"0", Ping{Kind: Success, ExitCode: code(0)}, false},
		{"1", Ping{Kind: Fail, ExitCode: code(1)}, false},
		{"255", Ping{Kind: Fail, ExitCode: code(255)}, false},
		{"256", Ping{}, true},
		{"-1", Ping{}, true},
		{"01", Ping{}, true},
		{"log", Ping{}, true},
	} {
		got, err := ParseAction(tc.action)
		if (err != nil) != tc.err {
			t.Errorf("%q: error %v", tc.action, err)
			continue
		}
		if got.Kind != tc.want.Kind || (got.ExitCode == nil) != (tc.want.ExitCode == nil) || (got.ExitCode != nil && *got.ExitCode != *tc.want.ExitCode) {
			t.Errorf("%q = %+v, want %+v", tc.action, got, tc.want)
		}
	}
}

// Zones come from the embedded IANA database (the same on every worker and replay): their
// offsets, and names it does not have refused.
func TestLoadZone(t *testing.T) {
	summer := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	winter := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		zone                 string
		summerOff, winterOff int // seconds east of UTC
	}{
		{"UTC", 0, 0},
		{"Europe/Berlin", 2 * 3600, 3600},
		{"America/New_York", -4 * 3600, -5 * 3600},
		{"Asia/Kolkata", 19800, 19800},
		{"Australia/Sydney", 10 * 3600, 11 * 3600},
	} {
		t.Run(tc.zone, func(t *testing.T) {
			loc, err := loadZone(tc.zone)
			if err != nil {
				t.Fatal(err)
			}
			if _, off := summer.In(loc).Zone(); off != tc.summerOff {
				t.Errorf("July offset %d, want %d", off, tc.summerOff)
			}
			if _, off := winter.In(loc).Zone(); off != tc.winterOff {
				t.Errorf("January offset %d, want %d", off, tc.winterOff)
			}
		})
	}
	for _, bad := range []string{"", "Local", "Mars/Olympus", "europe/berlin", "Europe/"} {
		if _, err := loadZone(bad); err == nil {
			t.Errorf("zone %q loaded", bad)
		}
	}
}

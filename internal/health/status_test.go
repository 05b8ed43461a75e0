package health

import "testing"

func TestStatusSeverityAndParse(t *testing.T) {
	tests := []struct {
		in       string
		sev      int
		valid    bool
		parseErr bool
	}{
		{"healthy", 0, true, false},
		{"degraded", 1, true, false},
		{"unhealthy", 2, true, false},
		{"unknown", -1, false, true},
		{"", -1, false, true},
		{"Healthy", -1, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			s := Status(tc.in)
			if s.Severity() != tc.sev || s.Valid() != tc.valid {
				t.Fatalf("Severity=%d Valid=%v", s.Severity(), s.Valid())
			}
			got, err := ParseStatus(tc.in)
			if (err != nil) != tc.parseErr {
				t.Fatalf("ParseStatus err=%v", err)
			}
			if err == nil && got != s {
				t.Fatalf("ParseStatus=%q", got)
			}
		})
	}
}

func TestWorst(t *testing.T) {
	tests := []struct {
		name string
		in   []Status
		want Status
	}{
		{"none is healthy", nil, Healthy},
		{"all healthy", []Status{Healthy, Healthy}, Healthy},
		{"degraded beats healthy", []Status{Healthy, Degraded, Healthy}, Degraded},
		{"unhealthy beats all", []Status{Degraded, Unhealthy, Healthy}, Unhealthy},
		{"invalid ignored", []Status{"bogus", Degraded}, Degraded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Worst(tc.in...); got != tc.want {
				t.Fatalf("Worst=%q want %q", got, tc.want)
			}
		})
	}
	if len(Statuses()) != 3 || Statuses()[2] != Unhealthy {
		t.Fatalf("Statuses=%v", Statuses())
	}
}

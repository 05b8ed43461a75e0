package health

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseThresholds(t *testing.T) {
	tests := []struct {
		name       string
		raw        string
		want       Thresholds
		wantFields []string // field errors expected (nil = success)
	}{
		{"null is defaults", `null`, DefaultThresholds(), nil},
		{"empty is defaults", ``, DefaultThresholds(), nil},
		{"bare consecutive", `{"mode":"consecutive","healthy":{"minSuccessCount":2},"degraded":{"minFailureCount":3},"unhealthy":{"minFailureCount":6}}`, *consecutive(2, 3, 6), nil},
		{"consecutive partial gets defaults", `{"mode":"consecutive","degraded":{"minFailureCount":3}}`, *consecutive(1, 3, 5), nil},
		{"window defaults 10/3/7", `{"mode":"window"}`, *window(10, 3, 7), nil},
		{"window full", `{"mode":"window","windowSize":5,"degraded":{"minFailureCount":2},"unhealthy":{"minFailureCount":4}}`, *window(5, 2, 4), nil},
		{"window drops healthy key", `{"mode":"window","windowSize":5,"healthy":{"minSuccessCount":9},"degraded":{"minFailureCount":2},"unhealthy":{"minFailureCount":4}}`, *window(5, 2, 4), nil},
		{"integral float accepted", `{"mode":"window","windowSize":5.0}`, *window(5, 3, 7), nil},
		{"unknown keys ignored", `{"mode":"consecutive","extra":true}`, DefaultThresholds(), nil},
		{"envelope", `{"version":1,"data":{"mode":"window","windowSize":20,"degraded":{"minFailureCount":5},"unhealthy":{"minFailureCount":10}}}`, *window(20, 5, 10), nil},
		{"envelope with migratedAt", `{"version":1,"data":{"mode":"consecutive"},"migratedAt":"2026-01-01T00:00:00Z","originalVersion":1}`, DefaultThresholds(), nil},
		{"envelope null data", `{"version":1,"data":null}`, DefaultThresholds(), nil},
		{"degraded >= unhealthy accepted (warning only)", `{"mode":"consecutive","degraded":{"minFailureCount":5},"unhealthy":{"minFailureCount":3}}`, *consecutive(1, 5, 3), nil},
		{"windowSize 2 rejected", `{"mode":"window","windowSize":2}`, Thresholds{}, []string{"windowSize"}},
		{"windowSize 101 rejected", `{"mode":"window","windowSize":101}`, Thresholds{}, []string{"windowSize"}},
		{"windowSize 0 rejected", `{"mode":"window","windowSize":0}`, Thresholds{}, []string{"windowSize"}},
		{"windowSize 2.5 rejected", `{"mode":"window","windowSize":2.5}`, Thresholds{}, []string{"windowSize"}},
		{"windowSize string rejected", `{"mode":"window","windowSize":"5"}`, Thresholds{}, []string{"windowSize"}},
		{"count 0 rejected", `{"mode":"consecutive","degraded":{"minFailureCount":0}}`, Thresholds{}, []string{"degraded.minFailureCount"}},
		{"negative counts rejected", `{"mode":"consecutive","healthy":{"minSuccessCount":-1},"unhealthy":{"minFailureCount":-3}}`, Thresholds{}, []string{"healthy.minSuccessCount", "unhealthy.minFailureCount"}},
		{"level not an object", `{"mode":"consecutive","degraded":3}`, Thresholds{}, []string{"degraded"}},
		{"missing mode", `{"degraded":{"minFailureCount":2}}`, Thresholds{}, []string{"mode"}},
		{"unknown mode", `{"mode":"sliding"}`, Thresholds{}, []string{"mode"}},
		{"unsupported envelope version", `{"version":2,"data":{"mode":"window"}}`, Thresholds{}, []string{"version"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseThresholds([]byte(tc.raw))
			if tc.wantFields == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if got != tc.want {
					t.Fatalf("got %+v want %+v", got, tc.want)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want *ValidationError, got %v", err)
			}
			var fields []string
			for _, fe := range ve.Errors {
				fields = append(fields, fe.Field)
			}
			if strings.Join(fields, ",") != strings.Join(tc.wantFields, ",") {
				t.Fatalf("fields %v want %v (%v)", fields, tc.wantFields, err)
			}
		})
	}
}

func TestParseThresholdsMalformedJSON(t *testing.T) {
	for _, raw := range []string{`{`, `[1,2]`, `"consecutive"`} {
		t.Run(raw, func(t *testing.T) {
			if _, err := ParseThresholds([]byte(raw)); err == nil {
				t.Fatal("want error")
			}
		})
	}
}

func TestValidationErrorAsValue(t *testing.T) {
	_, err := ParseThresholds([]byte(`{"mode":"window","windowSize":1}`))
	var ve ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Field != "windowSize" {
		t.Fatalf("errors.As value target: %v %+v", err, ve)
	}
	if !strings.Contains(err.Error(), "windowSize: must be an integer between 3 and 100") {
		t.Fatalf("message %q", err.Error())
	}
}

func TestThresholdsValidate(t *testing.T) {
	tests := []struct {
		name         string
		th           Thresholds
		wantErr      []string
		wantWarnings []string
	}{
		{"defaults ok", DefaultThresholds(), nil, nil},
		{"zero value is defaults", Thresholds{}, nil, nil},
		{"window defaults ok", DefaultWindowThresholds(), nil, nil},
		{"degraded == unhealthy warns", *consecutive(1, 3, 3), nil, []string{"degraded.minFailureCount"}},
		{"degraded > unhealthy warns", *window(10, 8, 4), nil, []string{"degraded.minFailureCount"}},
		{"window counts above window size warn", *window(5, 6, 7), nil, []string{"degraded.minFailureCount", "unhealthy.minFailureCount"}},
		{"window 3 ok", *window(3, 1, 3), nil, nil},
		{"window 100 ok", *window(100, 50, 90), nil, nil},
		{"windowSize 101", *window(101, 3, 7), []string{"windowSize"}, nil},
		{"negative counts", *consecutive(-1, -2, -3), []string{"degraded.minFailureCount", "healthy.minSuccessCount", "unhealthy.minFailureCount"}, nil},
		{"bad mode", Thresholds{Mode: "x"}, []string{"mode"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			warnings, err := tc.th.Validate()
			var gotErr []string
			if err != nil {
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("not a ValidationError: %v", err)
				}
				for _, fe := range ve.Errors {
					gotErr = append(gotErr, fe.Field)
				}
			}
			var gotW []string
			for _, w := range warnings {
				gotW = append(gotW, w.Field)
				if w.Message == "" {
					t.Fatal("empty warning message")
				}
			}
			if strings.Join(gotErr, ",") != strings.Join(tc.wantErr, ",") {
				t.Fatalf("errors %v want %v", gotErr, tc.wantErr)
			}
			if strings.Join(gotW, ",") != strings.Join(tc.wantWarnings, ",") {
				t.Fatalf("warnings %v want %v", gotW, tc.wantWarnings)
			}
		})
	}
}

func TestThresholdsJSONShape(t *testing.T) {
	tests := []struct {
		name string
		th   Thresholds
		want string
	}{
		{"consecutive", DefaultThresholds(), `{"mode":"consecutive","healthy":{"minSuccessCount":1},"degraded":{"minFailureCount":2},"unhealthy":{"minFailureCount":5}}`},
		{"window", DefaultWindowThresholds(), `{"mode":"window","windowSize":10,"degraded":{"minFailureCount":3},"unhealthy":{"minFailureCount":7}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustJSON(t, tc.th); got != tc.want {
				t.Fatalf("got %s", got)
			}
			var back Thresholds
			if err := json.Unmarshal([]byte(tc.want), &back); err != nil || back != tc.th {
				t.Fatalf("round trip %+v %v", back, err)
			}
			rec, err := MarshalThresholdsRecord(tc.th)
			if err != nil || string(rec) != `{"version":1,"data":`+tc.want+`}` {
				t.Fatalf("record %s %v", rec, err)
			}
			parsed, err := ParseThresholds(rec)
			if err != nil || parsed != tc.th {
				t.Fatalf("record parse %+v %v", parsed, err)
			}
		})
	}
	var bad struct{ T Thresholds }
	if err := json.Unmarshal([]byte(`{"T":{"mode":"window","windowSize":1}}`), &bad); err == nil {
		t.Fatal("UnmarshalJSON accepted windowSize 1")
	}
}

func TestWithDefaults(t *testing.T) {
	got := Thresholds{Mode: ModeConsecutive, WindowSize: 7, Degraded: FailureThreshold{4}}.WithDefaults()
	if got != *consecutive(1, 4, 5) {
		t.Fatalf("consecutive: %+v", got)
	}
	got = Thresholds{Mode: ModeWindow, Healthy: SuccessThreshold{3}, Unhealthy: FailureThreshold{9}}.WithDefaults()
	if got != *window(10, 3, 9) {
		t.Fatalf("window: %+v", got)
	}
}

func TestGitOpsThresholds(t *testing.T) {
	if GitOpsThresholds(nil, nil) != nil {
		t.Fatal("no thresholds given must be nil")
	}
	tests := []struct {
		name string
		d, u *int
		want Thresholds
	}{
		{"GO-7 both given", intp(3), intp(5), *consecutive(1, 3, 5)},
		{"only degraded", intp(4), nil, *consecutive(1, 4, 5)},
		{"only unhealthy", nil, intp(9), *consecutive(1, 2, 9)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := GitOpsThresholds(tc.d, tc.u); got == nil || *got != tc.want {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func FuzzParseThresholds(f *testing.F) {
	f.Add([]byte(`{"mode":"window","windowSize":5,"degraded":{"minFailureCount":2},"unhealthy":{"minFailureCount":4}}`))
	f.Add([]byte(`{"version":1,"data":{"mode":"consecutive"}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		th, err := ParseThresholds(raw)
		if err != nil {
			return
		}
		if _, verr := th.Validate(); verr != nil {
			t.Fatalf("parsed thresholds fail validation: %+v %v", th, verr)
		}
		if th.Mode != ModeConsecutive && th.Mode != ModeWindow {
			t.Fatalf("mode %q", th.Mode)
		}
	})
}

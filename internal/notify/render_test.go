package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestHumanDuration(t *testing.T) {
	t.Parallel()
	for secs, want := range map[int64]string{
		0: "0s", -5: "0s", 45: "45s", 60: "1m", 65: "1m5s", 3600: "1h", 3605: "1h", 3900: "1h5m",
		86400: "1d", 90061: "1d1h", 2*86400 + 3*3600 + 59: "2d3h",
	} {
		if got := humanDuration(secs); got != want {
			t.Errorf("humanDuration(%d) = %q, want %q", secs, got, want)
		}
	}
}

func TestConvertBold(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, open, close, want string }{
		{"a **b** c", "*", "*", "a *b* c"},
		{"**x** and **y**", "<strong>", "</strong>", "<strong>x</strong> and <strong>y</strong>"},
		{"no bold", "*", "*", "no bold"},
		{"dangling ** here", "*", "*", "dangling ** here"},
		{"**a** then **b", "", "", "a then **b"},
	}
	for _, tc := range tests {
		if got := convertBold(tc.in, tc.open, tc.close); got != tc.want {
			t.Errorf("convertBold(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDisplayTitle(t *testing.T) {
	t.Parallel()
	m := sampleMessage()
	if got := displayTitle(m); got != m.Title {
		t.Errorf("escalation title = %q", got)
	}
	m.Event, m.DownForSeconds = EventReminder, 7500
	if got := displayTitle(m); got != "Still unhealthy for 2h5m: Payments API" {
		t.Errorf("reminder title = %q", got)
	}
	m.DownForSeconds = 0
	if got := displayTitle(m); got != m.Title {
		t.Errorf("reminder without duration = %q, want the caller's title", got)
	}
}

func TestEveryTypeRendersTheDownTime(t *testing.T) {
	t.Parallel()
	m := sampleMessage()
	m.Event, m.DownForSeconds = EventReminder, 3900
	for _, typ := range []string{TypeWebhook, TypeSlack, TypeDiscord, TypeMSTeams, TypePagerDuty} {
		srv := newFakeServer(t, fakeResponse{status: 202})
		cfg := map[string]any{"webhookUrl": srv.URL}
		switch typ {
		case TypeWebhook:
			cfg = map[string]any{"url": srv.URL}
		case TypePagerDuty:
			cfg = map[string]any{"routingKey": "k", "url": srv.URL}
		}
		if err := mustNew(t, typ, cfg, Options{}).Send(context.Background(), m); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		body := string(srv.only(t).Body)
		want := "1h5m"
		if typ == TypeWebhook {
			want = `"downForSeconds":3900`
		}
		if !strings.Contains(body, want) {
			t.Errorf("%s body lacks %s: %s", typ, want, body)
		}
	}
	text, html := emailText(m), emailHTML(m)
	if !strings.Contains(text, "Still unhealthy for 1h5m: Payments API") || !strings.Contains(html, "Down for</th><td>1h5m") {
		t.Errorf("email lacks the down time:\n%s\n%s", text, html)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":    0,
		"3":   3 * time.Second,
		" 3":  3 * time.Second,
		"0":   0,
		"-4":  0,
		"x":   0,
		"601": 10 * time.Minute,
		now.Add(30 * time.Second).Format(http.TimeFormat): 30 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
		now.Add(time.Hour).Format(http.TimeFormat):        10 * time.Minute,
	}
	for in, want := range tests {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestRetryableAndRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err   error
		retry bool
		after time.Duration
	}{
		{nil, false, 0},
		{&SendError{Retryable: true, RetryAfter: 3 * time.Second}, true, 3 * time.Second},
		{&SendError{Retryable: false}, false, 0},
		{fmt.Errorf("wrapped: %w", &SendError{Retryable: true, RetryAfter: time.Second}), true, time.Second},
		{context.Canceled, false, 0},
		{fmt.Errorf("op: %w", context.Canceled), false, 0},
		{context.DeadlineExceeded, true, 0},
		{errors.New("other"), true, 0},
	}
	for _, tc := range tests {
		if got := Retryable(tc.err); got != tc.retry {
			t.Errorf("Retryable(%v) = %v, want %v", tc.err, got, tc.retry)
		}
		if got := RetryAfter(tc.err); got != tc.after {
			t.Errorf("RetryAfter(%v) = %v, want %v", tc.err, got, tc.after)
		}
	}
}

func TestRedactor(t *testing.T) {
	t.Parallel()
	const hook = "https://hooks.slack.com/services/T0123456/B0123456/abcdefghijklmnopqrstuvwx"
	r := newRedactor([]string{"pa ss/word"}, []string{hook})
	in := "POST " + hook + " failed; path /services/T0123456/B0123456/abcdefghijklmnopqrstuvwx; token abcdefghijklmnopqrstuvwx; pw pa ss/word / pa+ss%2Fword / pa%20ss%2Fword"
	out := r.redact(in)
	assertNoSecret(t, out, hook, "abcdefghijklmnopqrstuvwx", "pa ss/word", "pa+ss%2Fword", "pa%20ss%2Fword")
	if !strings.Contains(out, "****") || !strings.HasPrefix(out, "POST ****") {
		t.Errorf("redact = %q", out)
	}
	ex := r.excerpt([]byte("line1\nline2\x00 \xff"+strings.Repeat("ü", 300)), excerptMax)
	if len(ex) > excerptMax || !utf8.ValidString(ex) || strings.ContainsAny(ex, "\n\x00") {
		t.Errorf("excerpt %q: %d bytes, valid %v", ex, len(ex), utf8.ValidString(ex))
	}
}

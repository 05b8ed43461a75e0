package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestWebhookSendsSignedJSONWithHeaders(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, fakeResponse{status: http.StatusAccepted})
	const secret = "s3cr3t-signing-key"
	ch := mustNew(t, TypeWebhook, map[string]any{
		"url":     srv.URL + "/hooks/checkflow?x=1",
		"secret":  secret,
		"headers": map[string]string{"Authorization": "Bearer tok-123", "X-Team": "sre"},
	}, Options{})
	m := sampleMessage()
	if err := ch.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	req := srv.only(t)
	if req.Method != http.MethodPost || req.Path != "/hooks/checkflow?x=1" {
		t.Errorf("request = %s %s", req.Method, req.Path)
	}
	wantHeaders := map[string]string{
		"Content-Type":         "application/json",
		"X-Checkflow-Delivery": m.ID,
		"X-Checkflow-Event":    m.Event,
		"Authorization":        "Bearer tok-123",
		"X-Team":               "sre",
	}
	for k, want := range wantHeaders {
		if got := req.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	// The signature is the HMAC of the exact raw body, verified independently of Sign.
	sig := req.Header.Get("X-Checkflow-Signature")
	if !strings.HasPrefix(sig, "sha256=") {
		t.Fatalf("signature %q lacks sha256= prefix", sig)
	}
	if !verifyHMAC(secret, req.Body, strings.TrimPrefix(sig, "sha256=")) {
		t.Errorf("signature %q does not verify with the secret", sig)
	}
	if verifyHMAC("other-key", req.Body, strings.TrimPrefix(sig, "sha256=")) {
		t.Error("signature verifies with a wrong key")
	}
	var got Message
	if err := json.Unmarshal(req.Body, &got); err != nil {
		t.Fatalf("body: %v", err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Errorf("body decodes to %+v, want %+v", got, m)
	}
	want, _ := json.Marshal(m)
	if string(req.Body) != string(want) {
		t.Errorf("body = %s, want json.Marshal(m) = %s", req.Body, want)
	}
}

func TestWebhookWithoutSecretSendsNoSignature(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, fakeResponse{status: http.StatusNoContent})
	ch := mustNew(t, TypeWebhook, map[string]any{"url": srv.URL}, Options{})
	if err := ch.Send(context.Background(), sampleMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if sig := srv.only(t).Header.Get("X-Checkflow-Signature"); sig != "" {
		t.Errorf("signature %q sent without a secret", sig)
	}
}

func TestWebhookErrorClassification(t *testing.T) {
	t.Parallel()
	const secret = "hook-secret-value"
	const auth = "Bearer very-secret-token"
	httpDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		resp       fakeResponse
		retryable  bool
		status     int
		retryAfter time.Duration // exact unless approx
		approx     bool
		inMessage  string
	}{
		{"500 is retryable", fakeResponse{status: 500, body: "boom"}, true, 500, 0, false, "boom"},
		{"502 is retryable", fakeResponse{status: 502}, true, 502, 0, false, "502"},
		{"404 is final", fakeResponse{status: 404, body: "no such hook"}, false, 404, 0, false, "no such hook"},
		{"400 is final", fakeResponse{status: 400}, false, 400, 0, false, "400"},
		{"408 is retryable", fakeResponse{status: 408}, true, 408, 0, false, "408"},
		{"425 is retryable", fakeResponse{status: 425}, true, 425, 0, false, "425"},
		{"429 with Retry-After seconds", fakeResponse{status: 429, header: map[string]string{"Retry-After": "3"}}, true, 429, 3 * time.Second, false, "429"},
		{"429 Retry-After capped at 10 minutes", fakeResponse{status: 429, header: map[string]string{"Retry-After": "86400"}}, true, 429, 10 * time.Minute, false, "429"},
		{"503 with Retry-After date", fakeResponse{status: 503, header: map[string]string{"Retry-After": httpDate}}, true, 503, 90 * time.Second, true, "503"},
		{"500 Retry-After ignored", fakeResponse{status: 500, header: map[string]string{"Retry-After": "7"}}, true, 500, 0, false, "500"},
		{"redirect is final", fakeResponse{status: 301, header: map[string]string{"Location": "https://elsewhere.example/"}}, false, 301, 0, false, "redirects"},
		{"response echoing secrets is redacted", fakeResponse{status: 401, body: "bad auth " + auth + " / " + secret}, false, 401, 0, false, "bad auth"},
		{"long body is cut to an excerpt", fakeResponse{status: 500, body: strings.Repeat("é", 1000)}, true, 500, 0, false, "éé"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newFakeServer(t, tc.resp)
			ch := mustNew(t, TypeWebhook, map[string]any{
				"url": srv.URL, "secret": secret, "headers": map[string]string{"Authorization": auth},
			}, Options{})
			err := ch.Send(context.Background(), sampleMessage())
			se := asSendError(t, err)
			if se.Retryable != tc.retryable || Retryable(err) != tc.retryable {
				t.Errorf("Retryable = %v/%v, want %v (%s)", se.Retryable, Retryable(err), tc.retryable, se.Message)
			}
			if se.StatusCode != tc.status {
				t.Errorf("StatusCode = %d, want %d", se.StatusCode, tc.status)
			}
			if tc.approx {
				if d := RetryAfter(err); d < tc.retryAfter-5*time.Second || d > tc.retryAfter {
					t.Errorf("RetryAfter = %v, want ≈ %v", d, tc.retryAfter)
				}
			} else if d := RetryAfter(err); d != tc.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", d, tc.retryAfter)
			}
			if !strings.Contains(se.Message, tc.inMessage) {
				t.Errorf("message %q does not contain %q", se.Message, tc.inMessage)
			}
			if !strings.HasPrefix(se.Message, "webhook: ") {
				t.Errorf("message %q lacks the type prefix", se.Message)
			}
			assertNoSecret(t, se.Message, secret, auth, "very-secret-token")
			if len(se.Message) > 400 {
				t.Errorf("message is %d bytes, want a short excerpt", len(se.Message))
			}
		})
	}
}

func TestWebhookTransportErrors(t *testing.T) {
	t.Parallel()
	const secretPath = "/hooks/T0SECRET/B0SECRET/abcdefghijklmnopqrstuvwx"
	t.Run("connection refused is retryable and names no URL", func(t *testing.T) {
		t.Parallel()
		target := refusedURL(t, secretPath+"?token=query-secret-0123456789")
		ch := mustNew(t, TypeWebhook, map[string]any{"url": target, "secret": "sig-secret"}, Options{})
		err := ch.Send(context.Background(), sampleMessage())
		se := asSendError(t, err)
		if !se.Retryable || se.StatusCode != 0 {
			t.Errorf("got %+v, want retryable without status", se)
		}
		assertNoSecret(t, se.Message, target, secretPath, "query-secret", "sig-secret", "http://")
		if !strings.Contains(se.Message, "refused") {
			t.Errorf("message %q does not say the connection was refused", se.Message)
		}
	})
	t.Run("timeout is retryable", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })
		client := &http.Client{Timeout: 50 * time.Millisecond}
		ch := mustNew(t, TypeWebhook, map[string]any{"url": srv.URL + secretPath}, Options{HTTPClient: client})
		se := asSendError(t, ch.Send(context.Background(), sampleMessage()))
		if !se.Retryable || !strings.Contains(se.Message, "timed out") {
			t.Errorf("got %+v, want a retryable timeout", se)
		}
		assertNoSecret(t, se.Message, secretPath)
	})
	t.Run("cancelled context is final and unwraps to context.Canceled", func(t *testing.T) {
		t.Parallel()
		srv := newFakeServer(t)
		ch := mustNew(t, TypeWebhook, map[string]any{"url": srv.URL}, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := ch.Send(ctx, sampleMessage())
		se := asSendError(t, err)
		if se.Retryable || Retryable(err) || !errors.Is(err, context.Canceled) {
			t.Errorf("got %+v (Is Canceled %v), want final and context.Canceled", se, errors.Is(err, context.Canceled))
		}
	})
}

// verifyHMAC checks a hex HMAC-SHA256 like a webhook receiver would.
func verifyHMAC(secret string, body []byte, sigHex string) bool {
	want, err := hex.DecodeString(sigHex)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(mac.Sum(nil), want)
}

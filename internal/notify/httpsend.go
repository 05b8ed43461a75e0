package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

const (
	// defaultHTTPTimeout bounds one request of the default client.
	defaultHTTPTimeout = 10 * time.Second
	// excerptMax is the most of a response body quoted in an error.
	excerptMax = 200
	// readMax is the most of a response body read (the rest is drained up to drainMax).
	readMax  = 4 << 10
	drainMax = 64 << 10
	// userAgent identifies checkflow to receivers.
	userAgent = "checkflow-notify/1"
)

// httpClient returns opts.HTTPClient or the default client: 10 s timeout, redirects not
// followed (a 3xx answer is reported as an error).
func (o Options) httpClient() *http.Client {
	if o.HTTPClient != nil {
		return o.HTTPClient
	}
	return &http.Client{
		Timeout: defaultHTTPTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// endpoint is one HTTP destination of a channel.
type endpoint struct {
	typ    string // channel type, the prefix of error messages
	target string // URL posted to
	// label names the destination in errors: the host when the URL is not secret, otherwise a
	// fixed phrase such as "the Slack webhook".
	label  string
	client *http.Client
	red    *redactor
}

// newEndpoint builds an endpoint; a non-secret URL is named by its host in errors.
func newEndpoint(typ, target string, secretURL bool, secretLabel string, client *http.Client, red *redactor) endpoint {
	label := secretLabel
	if !secretURL {
		if u, err := url.Parse(target); err == nil {
			label = u.Host
		}
	}
	return endpoint{typ: typ, target: target, label: label, client: client, red: red}
}

// postJSON posts body as application/json with the extra header and classifies the outcome:
// nil for any 2xx answer, otherwise a *SendError.
func (e endpoint) postJSON(ctx context.Context, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.target, bytes.NewReader(body))
	if err != nil { // the error text embeds the URL: never show it
		return sendErrorf(e.red, false, 0, "%s: cannot build request to %s (invalid URL)", e.typ, e.label)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return e.transportError(ctx, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainMax))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, readMax))
	return e.statusError(resp, data, time.Now())
}

// statusError classifies a non-2xx answer.
func (e endpoint) statusError(resp *http.Response, body []byte, now time.Time) *SendError {
	code := resp.StatusCode
	if code >= 300 && code < 400 {
		return sendErrorf(e.red, false, code,
			"%s: %s answered HTTP %d (the URL redirects; redirects are not followed, configure the final URL)",
			e.typ, e.label, code)
	}
	msg := fmt.Sprintf("%s: %s answered HTTP %d", e.typ, e.label, code)
	if text := http.StatusText(code); text != "" {
		msg += " " + text
	}
	if ex := e.red.excerpt(body, excerptMax); ex != "" {
		msg += ": " + ex
	}
	se := &SendError{Retryable: retryableStatus(code), StatusCode: code, Message: e.red.redact(msg)}
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		se.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	}
	return se
}

// transportError classifies a failed round trip. The *url.Error wrapper (whose text embeds the
// URL) is dropped; only its inner error is quoted, redacted.
func (e endpoint) transportError(ctx context.Context, err error) *SendError {
	prefix := fmt.Sprintf("%s: request to %s", e.typ, e.label)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return contextError(prefix, ctxErr)
	}
	inner := err
	timeout := false
	for {
		var ue *url.Error
		if !errors.As(inner, &ue) {
			break
		}
		timeout = timeout || ue.Timeout()
		inner = ue.Err
	}
	if inner == nil {
		inner = errors.New("unknown error")
	}
	if isCertificateError(inner) {
		return sendErrorf(e.red, false, 0, "%s failed: TLS certificate not trusted: %v", prefix, inner)
	}
	what := "failed"
	if timeout {
		what = "timed out"
	}
	return sendErrorf(e.red, true, 0, "%s %s: %v", prefix, what, inner)
}

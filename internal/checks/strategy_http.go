package checks

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxHTTPBodyBytes caps how much of a response body the request collector reads; the rest is
// not downloaded and the result is flagged bodyTruncated.
const MaxHTTPBodyBytes = 1 << 20

// noClient is the client of strategies whose collectors open their own connections.
type noClient struct{}

func (noClient) Close() error { return nil }

func connectNothing(context.Context, map[string]any) (client, error) { return noClient{}, nil }

func httpStrategy() *strategyDef {
	return &strategyDef{
		id: "http", plugin: "healthcheck-http", displayName: "HTTP(S)",
		description: "Sends HTTP(S) requests and checks status, response time and body.",
		connect:     connectNothing,
		collectors:  []*collectorDef{httpRequestCollector()},
	}
}

type httpRequestConfig struct {
	URL     string `json:"url"`
	Method  string `json:"method"`
	Headers []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"headers"`
	Body               string `json:"body"`
	Timeout            int    `json:"timeout"`
	ExpectedStatus     []any  `json:"expectedStatus"`
	FollowRedirects    bool   `json:"followRedirects"`
	MaxRedirects       int    `json:"maxRedirects"`
	RejectUnauthorized bool   `json:"rejectUnauthorized"`
	ReuseConnection    bool   `json:"reuseConnection"`
}

func httpRequestCollector() *collectorDef {
	return &collectorDef{
		id: "request", displayName: "HTTP Request", allowMultiple: true,
		description: "Performs one HTTP request. A status outside expectedStatus (default 2xx) fails the collector.",
		config: objectSchema{Props: []prop{
			{Name: "url", Type: "string", Title: "URL", Required: true, MinLength: 1, Check: checkHTTPURL},
			{Name: "method", Type: "string", Title: "Method", Default: "GET", Enum: []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}},
			{Name: "headers", Type: "array", Title: "Headers", Items: &prop{Type: "object", Props: []prop{
				{Name: "name", Type: "string", Required: true, MinLength: 1, Pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"},
				{Name: "value", Type: "string", Default: ""},
			}}},
			{Name: "body", Type: "string", Title: "Request body"},
			timeoutProp(30000, 100, 0, "Timeout of this request (connect, headers and body)."),
			{Name: "expectedStatus", Type: "array", Title: "Expected status codes",
				Description: `Accepted status codes: numbers (200), classes ("2xx") or ranges ("200-399"). Default: 2xx.`,
				Items:       &prop{Type: "any", Union: []string{"integer", "string"}, Check: func(v any) string { _, err := parseStatusSpec(v); return errString(err) }}},
			{Name: "followRedirects", Type: "boolean", Title: "Follow redirects", Default: true},
			{Name: "maxRedirects", Type: "integer", Title: "Maximum redirects", Default: 10, Min: ptr(0), Max: ptr(50)},
			{Name: "rejectUnauthorized", Type: "boolean", Title: "Verify TLS certificate", Default: true},
			{Name: "reuseConnection", Type: "boolean", Title: "Reuse connections", Default: false,
				Description: "Keep the connection open for the next probe (keep-alive, as browsers and the reference's fetch do): the target sees one connection instead of one per probe, and responseTimeMs then excludes the TCP and TLS handshakes of a reused connection (connectionReused says which). Default false: every probe opens its own connection, so a failing handshake is caught every time."},
		}},
		result: objectSchema{Props: []prop{
			{Name: "statusCode", Type: "integer"},
			{Name: "statusText", Type: "string"},
			{Name: "responseTimeMs", Type: "integer"},
			{Name: "body", Type: "string", Ephemeral: true, Description: "Response body (first 1 MiB); use JSONPath assertions on it."},
			{Name: "headers", Type: "object", Ephemeral: true, Description: "Response headers, lower-case names."},
			{Name: "bodyLength", Type: "integer"},
			{Name: "bodyTruncated", Type: "boolean"},
			{Name: "contentType", Type: "string"},
			{Name: "redirects", Type: "integer"},
			{Name: "finalUrl", Type: "string"},
			{Name: "connectionReused", Type: "boolean"},
			{Name: "success", Type: "boolean"},
		}},
		aggregates: []aggSpec{
			{Name: "avgResponseTimeMs", Type: "average", Source: "responseTimeMs"},
			{Name: "successRate", Type: "rate", Source: "success"},
		},
		collect: collectHTTP,
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func checkHTTPURL(v any) string {
	u, err := url.Parse(v.(string))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "must be an absolute http:// or https:// URL"
	}
	return ""
}

// statusSpec accepts a status code range.
type statusSpec struct{ lo, hi int }

func parseStatusSpec(v any) (statusSpec, error) {
	if n, ok := numberValue(v); ok {
		if n != float64(int(n)) || n < 100 || n > 599 {
			return statusSpec{}, fmt.Errorf("must be a status code between 100 and 599")
		}
		return statusSpec{int(n), int(n)}, nil
	}
	s, ok := v.(string)
	if !ok {
		return statusSpec{}, fmt.Errorf(`must be a status code, a class like "2xx" or a range like "200-299"`)
	}
	s = strings.TrimSpace(s)
	if len(s) == 3 && strings.HasSuffix(strings.ToLower(s), "xx") && s[0] >= '1' && s[0] <= '5' {
		base := int(s[0]-'0') * 100
		return statusSpec{base, base + 99}, nil
	}
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b, err2 := strconv.Atoi(strings.TrimSpace(hi))
		if err1 == nil && err2 == nil && a >= 100 && b <= 599 && a <= b {
			return statusSpec{a, b}, nil
		}
	} else if n, err := strconv.Atoi(s); err == nil && n >= 100 && n <= 599 {
		return statusSpec{n, n}, nil
	}
	return statusSpec{}, fmt.Errorf(`must be a status code, a class like "2xx" or a range like "200-299" (got %q)`, s)
}

func describeStatus(raw []any) string {
	if len(raw) == 0 {
		return "2xx"
	}
	parts := make([]string, len(raw))
	for i, r := range raw {
		parts[i] = jsString(r)
	}
	return strings.Join(parts, ", ")
}

func collectHTTP(ctx context.Context, _ client, raw map[string]any, in collectInput) (map[string]any, error) {
	cfg, err := decodeInto[httpRequestConfig](raw)
	if err != nil {
		return nil, err
	}
	specs := []statusSpec{{200, 299}}
	if len(cfg.ExpectedStatus) > 0 {
		specs = specs[:0]
		for _, r := range cfg.ExpectedStatus {
			s, err := parseStatusSpec(r)
			if err != nil {
				return nil, fmt.Errorf("expectedStatus: %w", err)
			}
			specs = append(specs, s)
		}
	}
	timeout := time.Duration(cfg.Timeout) * time.Millisecond
	var tr http.RoundTripper
	if cfg.ReuseConnection && in.HTTP != nil {
		tr = in.HTTP.get(cfg.RejectUnauthorized)
	} else {
		var dial DialFunc = (&net.Dialer{Timeout: timeout}).DialContext
		if in.Dial != nil {
			dial = in.Dial
		}
		own := &http.Transport{
			Proxy:                  http.ProxyFromEnvironment,
			DialContext:            dial,
			TLSClientConfig:        &tls.Config{InsecureSkipVerify: !cfg.RejectUnauthorized}, //nolint:gosec // user-controlled toggle
			TLSHandshakeTimeout:    timeout,
			DisableKeepAlives:      true,
			ForceAttemptHTTP2:      true,
			MaxResponseHeaderBytes: 1 << 20,
		}
		defer own.CloseIdleConnections()
		tr = own
	}
	redirects := 0
	hc := &http.Client{
		Transport: tr,
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			if !cfg.FollowRedirects {
				return http.ErrUseLastResponse
			}
			if len(via) > cfg.MaxRedirects {
				return fmt.Errorf("stopped after %d redirects", cfg.MaxRedirects)
			}
			redirects = len(via)
			return nil
		},
	}
	rctx, cancel := context.WithTimeoutCause(ctx, timeout, errCollectorTimeout)
	defer cancel()
	reused := false
	rctx = httptrace.WithClientTrace(rctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }})
	var body io.Reader
	if cfg.Body != "" {
		body = strings.NewReader(cfg.Body)
	}
	req, err := http.NewRequestWithContext(rctx, cfg.Method, cfg.URL, body)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("User-Agent", "checkflow-healthcheck/1")
	for _, h := range cfg.Headers {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Set(h.Name, h.Value)
	}

	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(context.Cause(rctx), errCollectorTimeout) && ctx.Err() == nil {
			return nil, fmt.Errorf("request timed out after %dms", cfg.Timeout)
		}
		return nil, fmt.Errorf("request failed: %w", err)
	}
	defer resp.Body.Close()
	result, err := httpResult(resp, start, specs, redirects)
	if result != nil {
		result["connectionReused"] = reused
	}
	if err != nil && errors.Is(err, errBodyRead) && errors.Is(context.Cause(rctx), errCollectorTimeout) && ctx.Err() == nil {
		return result, fmt.Errorf("reading response body timed out after %dms", cfg.Timeout)
	}
	if err != nil && !errors.Is(err, errBodyRead) {
		return result, fmt.Errorf("%w (expected %s)", err, describeStatus(cfg.ExpectedStatus))
	}
	return result, err
}

var errBodyRead = errors.New("reading response body")

// httpResult reads (at most MaxHTTPBodyBytes of) the body and builds the collector result. The
// error wraps errBodyRead when the body could not be read, else reports an unexpected status.
func httpResult(resp *http.Response, start time.Time, specs []statusSpec, redirects int) (map[string]any, error) {
	data, readErr := io.ReadAll(io.LimitReader(resp.Body, MaxHTTPBodyBytes+1))
	truncated := len(data) > MaxHTTPBodyBytes
	if truncated {
		data = data[:MaxHTTPBodyBytes]
	}
	elapsed := int(time.Since(start).Milliseconds())
	headers := make(map[string]any, len(resp.Header))
	for k, v := range resp.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	text := string(data)
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	ok := false
	for _, s := range specs {
		if resp.StatusCode >= s.lo && resp.StatusCode <= s.hi {
			ok = true
			break
		}
	}
	statusText := strings.TrimSpace(strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode)))
	finalURL := ""
	if resp.Request != nil && resp.Request.URL != nil {
		finalURL = resp.Request.URL.String()
	}
	result := map[string]any{
		"statusCode":     resp.StatusCode,
		"statusText":     statusText,
		"responseTimeMs": elapsed,
		"body":           text,
		"headers":        headers,
		"bodyLength":     len(data),
		"bodyTruncated":  truncated,
		"contentType":    resp.Header.Get("Content-Type"),
		"redirects":      redirects,
		"finalUrl":       finalURL,
		"success":        ok && readErr == nil,
	}
	if readErr != nil {
		return result, fmt.Errorf("%w: %w", errBodyRead, readErr)
	}
	if !ok {
		return result, fmt.Errorf("HTTP %d %s", resp.StatusCode, statusText)
	}
	return result, nil
}

var errCollectorTimeout = errors.New("collector timeout")

// httpTransports are a registry's shared HTTP transports, one per TLS verification setting, for
// collectors with reuseConnection: probes of the same target reuse their connections
// (keep-alive), as the reference's fetch and Gatus do, instead of a TCP (and TLS) handshake per
// probe. Measured on the shared harness (1,000 checks @10 s, 100×10): the monitor's CPU per run
// is the same either way (2.28 vs 2.22 ms), the target's drops by a quarter. Each request is bounded by its
// collector's timeout through its context. Idle connections are kept long enough for checks
// every few minutes and bounded in number.
type httpTransports struct {
	verify, insecure *http.Transport
}

// httpIdleTimeout is how long an idle connection waits for the next probe of its target.
const httpIdleTimeout = 3 * time.Minute

func newHTTPTransports(dial DialFunc) *httpTransports {
	mk := func(insecure bool) *http.Transport {
		d := dial
		if d == nil {
			d = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
		}
		return &http.Transport{
			Proxy:                  http.ProxyFromEnvironment,
			DialContext:            d,
			TLSClientConfig:        &tls.Config{InsecureSkipVerify: insecure}, //nolint:gosec // user-controlled toggle
			ForceAttemptHTTP2:      true,
			MaxResponseHeaderBytes: 1 << 20,
			MaxIdleConns:           4096,
			MaxIdleConnsPerHost:    4,
			IdleConnTimeout:        httpIdleTimeout,
		}
	}
	return &httpTransports{verify: mk(false), insecure: mk(true)}
}

func (t *httpTransports) get(rejectUnauthorized bool) *http.Transport {
	if rejectUnauthorized {
		return t.verify
	}
	return t.insecure
}

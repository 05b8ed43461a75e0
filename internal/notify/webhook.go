package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// Webhook request headers.
const (
	HeaderDelivery  = "X-Checkflow-Delivery"
	HeaderEvent     = "X-Checkflow-Event"
	HeaderSignature = "X-Checkflow-Signature"
)

// maxWebhookHeaders bounds the extra headers of a webhook.
const maxWebhookHeaders = 50

type webhookConfig struct {
	URL     string            `json:"url"`
	Secret  string            `json:"secret"`
	Headers map[string]string `json:"headers"`
}

func webhookFields() []fieldSpec {
	return []fieldSpec{
		{name: "url", kind: "string", required: true, format: "uri",
			description: "http(s) URL the message is POSTed to as JSON"},
		{name: "secret", kind: "string", secret: true,
			description: "HMAC-SHA256 key: the body is signed in X-Checkflow-Signature: sha256=<hex>"},
		{name: "headers", kind: "object", secret: true,
			description: "extra request headers (e.g. Authorization); Content-Type, Host and X-Checkflow-* cannot be set"},
	}
}

// reservedHeader reports a header the webhook sets itself or that transport owns.
func reservedHeader(name string) bool {
	c := http.CanonicalHeaderKey(name)
	switch c {
	case "Content-Type", "Content-Length", "Host", "Transfer-Encoding", "Connection", "Te", "Trailer", "Upgrade":
		return true
	}
	return strings.HasPrefix(c, "X-Checkflow-")
}

func (c *webhookConfig) validate() fieldErrs {
	var errs fieldErrs
	if errs.requireString("url", c.URL) {
		errs.checkHTTPURL("url", c.URL)
	}
	if len(c.Headers) > maxWebhookHeaders {
		errs.add("headers", "at most %d headers", maxWebhookHeaders)
	}
	names := make([]string, 0, len(c.Headers))
	for k := range c.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		switch {
		case !httpguts.ValidHeaderFieldName(k):
			errs.add("headers", "%q is not a valid header name", k)
		case reservedHeader(k):
			errs.add("headers", "%q cannot be set (Content-Type, Host and X-Checkflow-* headers are set by checkflow)", k)
		case !httpguts.ValidHeaderFieldValue(c.Headers[k]):
			errs.add("headers", "the value of %q contains invalid characters", k)
		}
	}
	return errs
}

type webhookChannel struct {
	secret  string
	headers http.Header
	ep      endpoint
}

func newWebhook(raw json.RawMessage, opts Options) (Channel, error) {
	var c webhookConfig
	derrs := decodeConfig(raw, &c)
	if err := fieldErrors(derrs, c.validate()); err != nil {
		return nil, err
	}
	secrets := []string{c.Secret}
	hdr := http.Header{}
	for k, v := range c.Headers {
		hdr.Set(k, v)
		secrets = append(secrets, v)
	}
	red := newRedactor(secrets, nil)
	return &webhookChannel{
		secret:  c.Secret,
		headers: hdr,
		ep:      newEndpoint(TypeWebhook, c.URL, false, "", opts.httpClient(), red),
	}, nil
}

// Send POSTs m as JSON, signed when a secret is configured.
func (w *webhookChannel) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return sendErrorf(w.ep.red, false, 0, "webhook: encoding message: %v", err)
	}
	hdr := w.headers.Clone()
	hdr.Set(HeaderDelivery, headerValue(m.ID))
	hdr.Set(HeaderEvent, headerValue(m.Event))
	if w.secret != "" {
		hdr.Set(HeaderSignature, Sign(w.secret, body))
	}
	return w.ep.postJSON(ctx, body, hdr)
}

// Sign returns the X-Checkflow-Signature value of body: "sha256=" and the hex HMAC-SHA256 of
// the exact body bytes keyed with secret. Receivers recompute it to authenticate a delivery.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// headerValue drops characters not allowed in a header value.
func headerValue(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

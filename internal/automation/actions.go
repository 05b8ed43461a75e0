package automation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/safetext"
)

// Action config limits.
const (
	// MaxTitleLength is the longest notify title template, in characters.
	MaxTitleLength = 200
	// MaxBodyLength is the longest notify body template, in characters.
	MaxBodyLength = 4000
	// MaxURLLength is the longest webhook URL.
	MaxURLLength = 2048
	// MaxRenderedBytes caps a rendered title or body (longer output is cut, ending with
	// "…[truncated N bytes]").
	MaxRenderedBytes = 4096
)

// Default notify templates (used when title or body is empty).
const (
	DefaultNotifyTitle = `{{.AutomationName}}: {{.Event}}`
	DefaultNotifyBody  = `Automation **{{.AutomationName}}** fired on {{.Event}} for system {{.Payload.systemId}}.`
)

// NotifyConfig is the config of a notify action: the channel (issue 12's channels) and
// optional title and body templates in Go text/template syntax over TemplateData, e.g.
// "{{.Payload.systemId}} is {{.Payload.newStatus}}". The caller checks that the channel exists.
type NotifyConfig struct {
	ChannelID string `json:"channelId"`
	Title     string `json:"title,omitempty"`
	Body      string `json:"body,omitempty"`
}

// RunCheckConfig is the config of a run_check action (reference healthcheck.run_now: both ids
// non-empty; the check's recurring cadence is untouched).
type RunCheckConfig struct {
	SystemID        string `json:"systemId"`
	ConfigurationID string `json:"configurationId"`
}

// SetAssignmentEnabledConfig is the config of a set_assignment_enabled action (reference
// healthcheck.enable_assignment / disable_assignment).
type SetAssignmentEnabledConfig struct {
	SystemID        string `json:"systemId"`
	ConfigurationID string `json:"configurationId"`
	Enabled         bool   `json:"enabled"`
}

// WebhookConfig is the config of a webhook action: an http(s) URL and an optional HMAC secret
// (x-secret: the API seals it at rest like channel secrets and masks it in output). The body is
// WebhookBody, signed with the same X-Checkflow-Signature as notification webhooks and sent
// with X-Checkflow-Delivery = the action key.
type WebhookConfig struct {
	URL    string `json:"url"`
	Secret string `json:"secret,omitempty"`
}

// SecretConfigKeys lists the config keys of an action type that are secrets (sealed at rest,
// masked in API output, never logged).
func SecretConfigKeys(t ActionType) []string {
	if t == ActionWebhook {
		return []string{"secret"}
	}
	return nil
}

// ActionKey is the idempotency key of one action of one fire: "<event key>:<automation
// id>:<action index>". It identifies the action's fire row (recorded once), is the run-now
// Idempotency-Key of a run_check action and the X-Checkflow-Delivery of a webhook action.
func ActionKey(eventKey, automationID string, actionIndex int) string {
	return health.AutomationActionKey(eventKey, automationID, actionIndex)
}

// NotifyConfig decodes the config of a notify action (a *ValidationError naming
// "config.<key>" when invalid or the action has another type).
func (a Action) NotifyConfig() (NotifyConfig, error) {
	v, err := a.decode(ActionNotify)
	c, _ := v.(NotifyConfig)
	return c, err
}

// RunCheckConfig decodes the config of a run_check action.
func (a Action) RunCheckConfig() (RunCheckConfig, error) {
	v, err := a.decode(ActionRunCheck)
	c, _ := v.(RunCheckConfig)
	return c, err
}

// SetAssignmentEnabledConfig decodes the config of a set_assignment_enabled action.
func (a Action) SetAssignmentEnabledConfig() (SetAssignmentEnabledConfig, error) {
	v, err := a.decode(ActionSetAssignmentEnabled)
	c, _ := v.(SetAssignmentEnabledConfig)
	return c, err
}

// WebhookConfig decodes the config of a webhook action.
func (a Action) WebhookConfig() (WebhookConfig, error) {
	v, err := a.decode(ActionWebhook)
	c, _ := v.(WebhookConfig)
	return c, err
}

func (a Action) decode(want ActionType) (any, error) {
	var errs fieldErrs
	if a.Type != want {
		errs.add("type", "is %q, not %q", a.Type, want)
		return nil, errs.err()
	}
	v, _ := decodeActionConfig(a.Type, a.Config, "config", &errs)
	return v, errs.err()
}

// isUUID reports whether s is a UUID in its canonical textual form (channel ids).
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// decodeActionConfig reads the config of an action type strictly (unknown keys, wrong types and
// invalid values are errors under path) and returns the typed config.
func decodeActionConfig(t ActionType, raw json.RawMessage, path string, errs *fieldErrs) (any, bool) {
	before := len(*errs)
	o, ok := readObject(raw, path, errs)
	if !ok {
		return nil, false
	}
	ids := func() (string, string) {
		sys, ok := o.str("systemId", true)
		if ok && (strings.TrimSpace(sys) == "" || len(sys) > 128) {
			errs.add(o.field("systemId"), "must be 1 to 128 characters")
		}
		cfg, ok := o.str("configurationId", true)
		if ok && (strings.TrimSpace(cfg) == "" || len(cfg) > 200) {
			errs.add(o.field("configurationId"), "must be 1 to 200 characters")
		}
		return sys, cfg
	}
	var out any
	switch t {
	case ActionNotify:
		o.allow("channelId", "title", "body")
		var c NotifyConfig
		if id, ok := o.str("channelId", true); ok {
			if !isUUID(id) {
				errs.add(o.field("channelId"), "must be a channel id (a UUID)")
			}
			c.ChannelID = strings.ToLower(id)
		}
		for _, f := range []struct {
			key string
			max int
			dst *string
		}{{"title", MaxTitleLength, &c.Title}, {"body", MaxBodyLength, &c.Body}} {
			s, ok := o.str(f.key, false)
			if !ok {
				continue
			}
			*f.dst = s
			if utf8.RuneCountInString(s) > f.max {
				errs.add(o.field(f.key), "must be at most %d characters", f.max)
			} else if _, err := parseTemplate(f.key, s); err != nil {
				errs.add(o.field(f.key), "is not a valid template: %s", templateError(err))
			}
		}
		out = c
	case ActionRunCheck:
		o.allow("systemId", "configurationId")
		sys, cfg := ids()
		out = RunCheckConfig{SystemID: sys, ConfigurationID: cfg}
	case ActionSetAssignmentEnabled:
		o.allow("systemId", "configurationId", "enabled")
		sys, cfg := ids()
		enabled, _ := o.requiredBool("enabled")
		out = SetAssignmentEnabledConfig{SystemID: sys, ConfigurationID: cfg, Enabled: enabled}
	case ActionWebhook:
		o.allow("url", "secret")
		var c WebhookConfig
		if u, ok := o.str("url", true); ok {
			c.URL = u
			if msg := checkHTTPURL(u); msg != "" {
				errs.add(o.field("url"), "%s", msg)
			}
		}
		c.Secret, _ = o.str("secret", false)
		out = c
	default:
		errs.add(path, "has no config schema for action type %q", t)
		return nil, false
	}
	return out, len(*errs) == before
}

// checkHTTPURL returns why u is not an absolute http(s) URL with a host ("" when it is).
func checkHTTPURL(u string) string {
	if len(u) > MaxURLLength {
		return fmt.Sprintf("must be at most %d characters", MaxURLLength)
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return "must be an absolute http or https URL"
	}
	return ""
}

// ---- notify templates -----------------------------------------------------------------------

// TemplateData is what a notify title or body template sees.
type TemplateData struct {
	// AutomationID and AutomationName identify the automation.
	AutomationID   string
	AutomationName string
	// Event is the trigger event type; EventKey its idempotency key.
	Event    string
	EventKey string
	// Payload is the trigger event's payload ({{.Payload.systemId}}).
	Payload map[string]any
	// PartitionKey is the window partition of the fire (the system id unless partitionBy).
	PartitionKey string
	// FiredAt is the time of the fire (UTC).
	FiredAt time.Time
}

func parseTemplate(name, src string) (*template.Template, error) {
	return template.New(name).Option("missingkey=zero").Parse(src)
}

// templateError drops text/template's "template: <name>:" prefix.
func templateError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ": "); strings.HasPrefix(msg, "template: ") && i >= 0 {
		return strings.TrimPrefix(msg, "template: ")
	}
	return msg
}

// Render renders the title and body of a notify action (the defaults when empty). Each output
// is valid UTF-8 and at most MaxRenderedBytes long. An error means a template failed at run
// time (e.g. a method call on a missing value); rendering is deterministic otherwise.
func (c NotifyConfig) Render(d TemplateData) (title, body string, err error) {
	render := func(name, src, def string) (string, error) {
		if strings.TrimSpace(src) == "" {
			src = def
		}
		t, err := parseTemplate(name, src)
		if err != nil {
			return "", fmt.Errorf("automation: notify %s: %s", name, templateError(err))
		}
		var buf bytes.Buffer
		if err := t.Execute(&limitedWriter{buf: &buf, max: 4 * MaxRenderedBytes}, d); err != nil {
			return "", fmt.Errorf("automation: notify %s: %s", name, templateError(err))
		}
		return safetext.Truncate(safetext.String(buf.String()), MaxRenderedBytes), nil
	}
	d.FiredAt = d.FiredAt.UTC()
	if title, err = render("title", c.Title, DefaultNotifyTitle); err != nil {
		return "", "", err
	}
	if body, err = render("body", c.Body, DefaultNotifyBody); err != nil {
		return "", "", err
	}
	return title, body, nil
}

// limitedWriter keeps at most max bytes and silently drops the rest (Truncate marks the cut).
type limitedWriter struct {
	buf *bytes.Buffer
	max int
}

// Write keeps what fits and reports every byte written, so that a template never fails on size.
func (w *limitedWriter) Write(p []byte) (int, error) {
	if room := w.max - w.buf.Len(); room > 0 {
		if len(p) > room {
			w.buf.Write(p[:room])
		} else {
			w.buf.Write(p)
		}
	}
	return len(p), nil
}

// ---- webhook body ------------------------------------------------------------------------------

// WebhookBody is the JSON a webhook action POSTs: {"automationId", "event", "payload",
// "firedAt"} (event is the trigger event type; firedAt RFC 3339 in UTC). The encoding is
// deterministic (object keys sorted), so a retried delivery sends the same bytes and signature.
func WebhookBody(automationID string, ev Event, firedAt time.Time) ([]byte, error) {
	payload := ev.Payload
	if payload == nil {
		payload = map[string]any{}
	}
	b, err := json.Marshal(struct {
		AutomationID string         `json:"automationId"`
		Event        string         `json:"event"`
		Payload      map[string]any `json:"payload"`
		FiredAt      string         `json:"firedAt"`
	}{automationID, ev.Type, payload, health.FormatTimestamp(firedAt)})
	if err != nil {
		return nil, fmt.Errorf("automation: webhook body: %w", err)
	}
	return b, nil
}

// ---- action results (reference §8.3) --------------------------------------------------------

// AssignmentArtifact is the reference's "assignment" artifact ("Healthcheck Assignment") that
// run_check and set_assignment_enabled return: {systemId, configurationId, enabled?,
// enqueued?}.
type AssignmentArtifact struct {
	SystemID        string `json:"systemId"`
	ConfigurationID string `json:"configurationId"`
	Enabled         *bool  `json:"enabled,omitempty"`
	Enqueued        *bool  `json:"enqueued,omitempty"`
}

// Validate applies the artifact schema: both ids non-empty (AU-4).
func (a AssignmentArtifact) Validate() error {
	var errs fieldErrs
	if strings.TrimSpace(a.SystemID) == "" {
		errs.add("systemId", "must not be empty")
	}
	if strings.TrimSpace(a.ConfigurationID) == "" {
		errs.add("configurationId", "must not be empty")
	}
	return errs.err()
}

// AssignmentExternalID is the externalId of run_check and set_assignment_enabled results:
// "<systemId>:<configurationId>" (AU-5).
func AssignmentExternalID(systemID, configurationID string) string {
	return systemID + ":" + configurationID
}

// AssignmentNotFoundMessage is the failure of set_assignment_enabled for a missing assignment
// (AU-7): "Assignment not found: <systemId> ↔ <configurationId>".
func AssignmentNotFoundMessage(systemID, configurationID string) string {
	return "Assignment not found: " + systemID + " ↔ " + configurationID
}

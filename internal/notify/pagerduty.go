package notify

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// DefaultPagerDutyURL is the Events API v2 endpoint used when a pagerduty channel sets no url.
const DefaultPagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// PagerDuty limits.
const (
	pagerdutySummaryMax  = 1024
	pagerdutyDedupKeyMax = 255
)

type pagerdutyConfig struct {
	RoutingKey string `json:"routingKey"`
	URL        string `json:"url"`
}

func pagerdutyFields() []fieldSpec {
	return []fieldSpec{
		{name: "routingKey", kind: "string", required: true, secret: true,
			description: "integration (routing) key of an Events API v2 integration"},
		{name: "url", kind: "string", format: "uri", def: DefaultPagerDutyURL,
			description: "Events API v2 endpoint"},
	}
}

func (c *pagerdutyConfig) validate() fieldErrs {
	var errs fieldErrs
	if errs.requireString("routingKey", c.RoutingKey) && strings.ContainsFunc(c.RoutingKey, isSpaceOrControl) {
		errs.add("routingKey", "must not contain spaces or control characters")
	}
	if c.URL != "" {
		errs.checkHTTPURL("url", c.URL)
	}
	return errs
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

type pagerdutyChannel struct {
	routingKey string
	ep         endpoint
}

func newPagerDuty(raw json.RawMessage, opts Options) (Channel, error) {
	var c pagerdutyConfig
	derrs := decodeConfig(raw, &c)
	if err := fieldErrors(derrs, c.validate()); err != nil {
		return nil, err
	}
	target := c.URL
	if target == "" {
		target = DefaultPagerDutyURL
	}
	red := newRedactor([]string{c.RoutingKey}, nil)
	return &pagerdutyChannel{
		routingKey: c.RoutingKey,
		ep:         newEndpoint(TypePagerDuty, target, false, "", opts.httpClient(), red),
	}, nil
}

type pagerdutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	EventAction string            `json:"event_action"`
	DedupKey    string            `json:"dedup_key"`
	Payload     *pagerdutyPayload `json:"payload,omitempty"`
	Client      string            `json:"client,omitempty"`
	ClientURL   string            `json:"client_url,omitempty"`
	Links       []pagerdutyLink   `json:"links,omitempty"`
}

type pagerdutyPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp"`
	Component     string         `json:"component,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details"`
}

type pagerdutyLink struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// pagerdutySeverity maps a message importance to an Events API severity.
func pagerdutySeverity(importance string) string {
	switch importance {
	case "critical", "warning", "info":
		return importance
	}
	return "error"
}

// trigger renders m as a trigger event for dedupKey.
func (p *pagerdutyChannel) trigger(m Message, dedupKey string) pagerdutyEvent {
	details := map[string]any{
		"status":         m.Status,
		"previousStatus": m.PreviousStatus,
		"checks":         checksOrEmpty(m.Checks),
		"body":           convertBold(m.Body, "", ""),
		"event":          m.Event,
		"system":         m.System,
		"inMaintenance":  m.InMaintenance,
	}
	if m.DownForSeconds > 0 {
		details["downFor"] = humanDuration(m.DownForSeconds)
		details["downForSeconds"] = m.DownForSeconds
	}
	severity := pagerdutySeverity(m.Importance)
	if m.Event == EventTest {
		severity = "info"
	}
	ev := pagerdutyEvent{
		RoutingKey:  p.routingKey,
		EventAction: "trigger",
		DedupKey:    dedupKey,
		Payload: &pagerdutyPayload{
			Summary:       truncateRunes(displayTitle(m), pagerdutySummaryMax),
			Source:        "checkflow",
			Severity:      severity,
			Timestamp:     timestamp(m).Format(time.RFC3339),
			Component:     systemName(m),
			Class:         m.Event,
			CustomDetails: details,
		},
		Client: "checkflow",
	}
	if u := linkURL(m); u != "" {
		ev.ClientURL = u
		ev.Links = []pagerdutyLink{{Href: u, Text: "View system"}}
	}
	return ev
}

func checksOrEmpty(c []CheckRef) []CheckRef {
	if c == nil {
		return []CheckRef{}
	}
	return c
}

func (p *pagerdutyChannel) resolve(dedupKey string) pagerdutyEvent {
	return pagerdutyEvent{RoutingKey: p.routingKey, EventAction: "resolve", DedupKey: dedupKey}
}

// events lists the Events API calls for m: recovery resolves the system's incident, a test
// triggers and resolves its own incident, everything else triggers the system's incident.
func (p *pagerdutyChannel) events(m Message) []pagerdutyEvent {
	systemKey := truncateBytes(m.System.ID, pagerdutyDedupKeyMax)
	if systemKey == "" {
		systemKey = truncateBytes(systemName(m), pagerdutyDedupKeyMax)
	}
	switch m.Event {
	case EventRecovery:
		return []pagerdutyEvent{p.resolve(systemKey)}
	case EventTest:
		key := truncateBytes("checkflow-test:"+m.ID, pagerdutyDedupKeyMax)
		return []pagerdutyEvent{p.trigger(m, key), p.resolve(key)}
	}
	return []pagerdutyEvent{p.trigger(m, systemKey)}
}

// Send posts the Events API v2 call(s) for m, stopping at the first failure (a retry repeats
// them all; PagerDuty deduplicates by dedup_key).
func (p *pagerdutyChannel) Send(ctx context.Context, m Message) error {
	for _, ev := range p.events(m) {
		body, err := json.Marshal(ev)
		if err != nil {
			return sendErrorf(p.ep.red, false, 0, "pagerduty: encoding event: %v", err)
		}
		if err := p.ep.postJSON(ctx, body, nil); err != nil {
			return err
		}
	}
	return nil
}

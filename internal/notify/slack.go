package notify

import (
	"context"
	"encoding/json"
	"strings"
)

// Slack Block Kit limits.
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
	slackContextMax = 10
)

type slackConfig struct {
	WebhookURL string `json:"webhookUrl"`
	Channel    string `json:"channel"`
	Username   string `json:"username"`
}

func slackFields() []fieldSpec {
	return []fieldSpec{
		{name: "webhookUrl", kind: "string", required: true, secret: true, format: "uri",
			description: "Slack incoming-webhook URL (https://hooks.slack.com/services/…)"},
		{name: "channel", kind: "string",
			description: "channel override (legacy webhooks only; app webhooks post to their own channel)"},
		{name: "username", kind: "string",
			description: "sender name override (legacy webhooks only)"},
	}
}

func (c *slackConfig) validate() fieldErrs {
	var errs fieldErrs
	if errs.requireString("webhookUrl", c.WebhookURL) {
		errs.checkHTTPURL("webhookUrl", c.WebhookURL)
	}
	return errs
}

type slackChannel struct {
	channel, username string
	ep                endpoint
}

func newSlack(raw json.RawMessage, opts Options) (Channel, error) {
	var c slackConfig
	derrs := decodeConfig(raw, &c)
	if err := fieldErrors(derrs, c.validate()); err != nil {
		return nil, err
	}
	red := newRedactor(nil, []string{c.WebhookURL})
	return &slackChannel{
		channel:  c.Channel,
		username: c.Username,
		ep:       newEndpoint(TypeSlack, c.WebhookURL, true, "the Slack webhook", opts.httpClient(), red),
	}, nil
}

type slackText struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Elements []any       `json:"elements,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
}

type slackButton struct {
	Type string    `json:"type"`
	Text slackText `json:"text"`
	URL  string    `json:"url"`
}

type slackPayload struct {
	Text     string       `json:"text"`
	Channel  string       `json:"channel,omitempty"`
	Username string       `json:"username,omitempty"`
	Blocks   []slackBlock `json:"blocks"`
}

// slackEscape escapes the characters Slack's mrkdwn treats as control sequences.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// payload renders m as Block Kit.
func (s *slackChannel) payload(m Message) slackPayload {
	title := displayTitle(m)
	p := slackPayload{Text: title, Channel: s.channel, Username: s.username}
	p.Blocks = append(p.Blocks, slackBlock{Type: "header",
		Text: &slackText{Type: "plain_text", Text: truncateRunes(title, slackHeaderMax), Emoji: true}})
	if body := strings.TrimSpace(m.Body); body != "" {
		text := convertBold(slackEscape(body), "*", "*")
		p.Blocks = append(p.Blocks, slackBlock{Type: "section",
			Text: &slackText{Type: "mrkdwn", Text: truncateRunes(text, slackSectionMax)}})
	}
	if len(m.Checks) > 0 {
		var lines []string
		for _, c := range m.Checks {
			lines = append(lines, "• "+slackEscape(checkName(c))+" — *"+slackEscape(orUnknown(c.Status))+"*")
		}
		p.Blocks = append(p.Blocks, slackBlock{Type: "section",
			Text: &slackText{Type: "mrkdwn", Text: truncateRunes(strings.Join(lines, "\n"), slackSectionMax)}})
	}
	var ctxElems []any
	for _, f := range facts(m) {
		if len(ctxElems) == slackContextMax {
			break
		}
		ctxElems = append(ctxElems, slackText{Type: "mrkdwn",
			Text: truncateRunes("*"+f.label+":* "+slackEscape(f.value), slackSectionMax)})
	}
	p.Blocks = append(p.Blocks, slackBlock{Type: "context", Elements: ctxElems})
	if u := linkURL(m); u != "" {
		p.Blocks = append(p.Blocks, slackBlock{Type: "actions", Elements: []any{
			slackButton{Type: "button", Text: slackText{Type: "plain_text", Text: "View system"}, URL: u},
		}})
	}
	return p
}

// Send posts m to the Slack incoming webhook.
func (s *slackChannel) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(s.payload(m))
	if err != nil {
		return sendErrorf(s.ep.red, false, 0, "slack: encoding message: %v", err)
	}
	return s.ep.postJSON(ctx, body, nil)
}

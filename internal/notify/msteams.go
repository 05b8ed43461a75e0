package notify

import (
	"context"
	"encoding/json"
	"strings"
)

type msteamsConfig struct {
	WebhookURL string `json:"webhookUrl"`
}

func msteamsFields() []fieldSpec {
	return []fieldSpec{
		{name: "webhookUrl", kind: "string", required: true, secret: true, format: "uri",
			description: "Microsoft Teams workflow (Power Automate) webhook URL"},
	}
}

func (c *msteamsConfig) validate() fieldErrs {
	var errs fieldErrs
	if errs.requireString("webhookUrl", c.WebhookURL) {
		errs.checkHTTPURL("webhookUrl", c.WebhookURL)
	}
	return errs
}

type msteamsChannel struct {
	ep endpoint
}

func newMSTeams(raw json.RawMessage, opts Options) (Channel, error) {
	var c msteamsConfig
	derrs := decodeConfig(raw, &c)
	if err := fieldErrors(derrs, c.validate()); err != nil {
		return nil, err
	}
	red := newRedactor(nil, []string{c.WebhookURL})
	return &msteamsChannel{
		ep: newEndpoint(TypeMSTeams, c.WebhookURL, true, "the Teams workflow webhook", opts.httpClient(), red),
	}, nil
}

type teamsPayload struct {
	Type        string            `json:"type"`
	Attachments []teamsAttachment `json:"attachments"`
}

type teamsAttachment struct {
	ContentType string    `json:"contentType"`
	ContentURL  *string   `json:"contentUrl"`
	Content     teamsCard `json:"content"`
}

type teamsCard struct {
	Schema  string        `json:"$schema"`
	Type    string        `json:"type"`
	Version string        `json:"version"`
	Body    []any         `json:"body"`
	Actions []teamsAction `json:"actions,omitempty"`
	MSTeams struct {
		Width string `json:"width"`
	} `json:"msteams"`
}

type teamsTextBlock struct {
	Type   string `json:"type"`
	Text   string `json:"text"`
	Weight string `json:"weight,omitempty"`
	Size   string `json:"size,omitempty"`
	Color  string `json:"color,omitempty"`
	Wrap   bool   `json:"wrap"`
}

type teamsFact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

type teamsFactSet struct {
	Type  string      `json:"type"`
	Facts []teamsFact `json:"facts"`
}

type teamsAction struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// teamsColor is the Adaptive Card colour of the title: attention (unhealthy), warning
// (degraded), good (recovery), default (test or unknown).
func teamsColor(m Message) string {
	switch severityKind(m) {
	case statusHealthy:
		return "good"
	case statusDegraded:
		return "warning"
	case statusUnhealthy:
		return "attention"
	}
	return "default"
}

func teamsPayloadFor(m Message) teamsPayload {
	card := teamsCard{
		Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
		Type:    "AdaptiveCard",
		Version: "1.4",
	}
	card.MSTeams.Width = "Full"
	card.Body = append(card.Body, teamsTextBlock{Type: "TextBlock", Text: displayTitle(m),
		Weight: "bolder", Size: "medium", Color: teamsColor(m), Wrap: true})
	if body := strings.TrimSpace(m.Body); body != "" {
		card.Body = append(card.Body, teamsTextBlock{Type: "TextBlock", Text: body, Wrap: true})
	}
	fs := teamsFactSet{Type: "FactSet"}
	for _, f := range facts(m) {
		if f.label != "Status" {
			fs.Facts = append(fs.Facts, teamsFact{f.label, f.value})
			continue
		}
		fs.Facts = append(fs.Facts, teamsFact{"Status", orUnknown(m.Status)})
		if m.PreviousStatus != "" {
			fs.Facts = append(fs.Facts, teamsFact{"Previous status", m.PreviousStatus})
		}
	}
	card.Body = append(card.Body, fs)
	if u := linkURL(m); u != "" {
		card.Actions = []teamsAction{{Type: "Action.OpenUrl", Title: "View system", URL: u}}
	}
	return teamsPayload{Type: "message", Attachments: []teamsAttachment{{
		ContentType: "application/vnd.microsoft.card.adaptive",
		Content:     card,
	}}}
}

// Send posts m as an Adaptive Card to the Teams workflow webhook.
func (t *msteamsChannel) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(teamsPayloadFor(m))
	if err != nil {
		return sendErrorf(t.ep.red, false, 0, "msteams: encoding message: %v", err)
	}
	return t.ep.postJSON(ctx, body, nil)
}

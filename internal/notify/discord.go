package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Discord embed limits and colours.
const (
	discordTitleMax       = 256
	discordDescriptionMax = 4096
	discordFieldNameMax   = 256
	discordFieldValueMax  = 1024
	discordFieldsMax      = 25

	discordGreen = 0x2EB67D
	discordAmber = 0xF2A900
	discordRed   = 0xE01E5A
	discordGrey  = 0x95A5A6
)

type discordConfig struct {
	WebhookURL string `json:"webhookUrl"`
	Username   string `json:"username"`
}

func discordFields() []fieldSpec {
	return []fieldSpec{
		{name: "webhookUrl", kind: "string", required: true, secret: true, format: "uri",
			description: "Discord webhook URL (https://discord.com/api/webhooks/<id>/<token>)"},
		{name: "username", kind: "string", description: "sender name override"},
	}
}

func (c *discordConfig) validate() fieldErrs {
	var errs fieldErrs
	if errs.requireString("webhookUrl", c.WebhookURL) {
		errs.checkHTTPURL("webhookUrl", c.WebhookURL)
	}
	return errs
}

type discordChannel struct {
	username string
	ep       endpoint
}

func newDiscord(raw json.RawMessage, opts Options) (Channel, error) {
	var c discordConfig
	derrs := decodeConfig(raw, &c)
	if err := fieldErrors(derrs, c.validate()); err != nil {
		return nil, err
	}
	red := newRedactor(nil, []string{c.WebhookURL})
	return &discordChannel{
		username: c.Username,
		ep:       newEndpoint(TypeDiscord, c.WebhookURL, true, "the Discord webhook", opts.httpClient(), red),
	}, nil
}

type discordField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline"`
}

type discordEmbed struct {
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	URL         string         `json:"url,omitempty"`
	Color       int            `json:"color"`
	Fields      []discordField `json:"fields,omitempty"`
	Timestamp   string         `json:"timestamp"`
	Footer      *discordFooter `json:"footer,omitempty"`
}

type discordFooter struct {
	Text string `json:"text"`
}

type discordPayload struct {
	Content  string         `json:"content,omitempty"`
	Username string         `json:"username,omitempty"`
	Embeds   []discordEmbed `json:"embeds"`
	// AllowedMentions is empty so names like "@everyone" in a message never ping anyone.
	AllowedMentions struct {
		Parse []string `json:"parse"`
	} `json:"allowed_mentions"`
}

// discordColor is the embed colour of m: green recovery, amber degraded, red unhealthy, grey
// test (or unknown status).
func discordColor(m Message) int {
	switch severityKind(m) {
	case statusHealthy:
		return discordGreen
	case statusDegraded:
		return discordAmber
	case statusUnhealthy:
		return discordRed
	}
	return discordGrey
}

func (d *discordChannel) payload(m Message) discordPayload {
	e := discordEmbed{
		Title:       truncateRunes(displayTitle(m), discordTitleMax),
		Description: truncateRunes(strings.TrimSpace(m.Body), discordDescriptionMax),
		URL:         linkURL(m),
		Color:       discordColor(m),
		Timestamp:   timestamp(m).Format(time.RFC3339),
		Footer:      &discordFooter{Text: "checkflow"},
	}
	add := func(name, value string, inline bool) {
		if value == "" {
			value = "—"
		}
		e.Fields = append(e.Fields, discordField{
			Name:   truncateRunes(name, discordFieldNameMax),
			Value:  truncateRunes(value, discordFieldValueMax),
			Inline: inline,
		})
	}
	for _, f := range facts(m) {
		add(f.label, f.value, f.label != "Checks")
	}
	for i, c := range m.Checks {
		if len(e.Fields) == discordFieldsMax-1 && len(m.Checks)-i > 1 {
			add("More checks", fmt.Sprintf("+%d more", len(m.Checks)-i), true)
			break
		}
		add(checkName(c), orUnknown(c.Status), true)
	}
	p := discordPayload{Username: d.username, Embeds: []discordEmbed{e}}
	p.AllowedMentions.Parse = []string{}
	return p
}

// Send posts m as one embed to the Discord webhook.
func (d *discordChannel) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(d.payload(m))
	if err != nil {
		return sendErrorf(d.ep.red, false, 0, "discord: encoding message: %v", err)
	}
	return d.ep.postJSON(ctx, body, nil)
}

// Package notify sends notifications through channels (webhook, Slack, Discord, Microsoft Teams,
// PagerDuty, email). It only talks to the outside world: what to send, when and to whom is decided
// in internal/health (policy) and the notifier workflow; where deliveries are recorded is
// internal/store. Every channel's endpoint is configurable, so tests point it at local fakes.
package notify

import (
	"context"
	"crypto/tls"
	"net/http"
	"time"
)

// Channel types.
const (
	TypeWebhook   = "webhook"
	TypeSlack     = "slack"
	TypeDiscord   = "discord"
	TypeMSTeams   = "msteams"
	TypePagerDuty = "pagerduty"
	TypeEmail     = "email"
)

// Event kinds: what a message is about. A channel subscribes to the first four (reminders go
// to channels with remindEvery; tests to the channel tested).
const (
	EventEscalation   = "escalation"
	EventDeEscalation = "de-escalation"
	EventRecovery     = "recovery"
	EventCheckFailed  = "check_failed"
	EventReminder     = "reminder"
	EventTest         = "test"
	// EventFlapping: a system started or stopped flapping (sent to the channels subscribed to
	// escalations; its transitions meanwhile are not sent one by one).
	EventFlapping = "flapping"
)

// SystemRef names the system a message is about.
type SystemRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// CheckRef is one check of the system and its evaluated status at the time of the message.
type CheckRef struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
}

// Message is one notification to one channel. Its JSON form is the webhook body.
type Message struct {
	// ID is the delivery id ("<event idempotency key>:<channel id>"): the same on every retry.
	ID             string    `json:"id"`
	Event          string    `json:"event"`
	System         SystemRef `json:"system"`
	PreviousStatus string    `json:"previousStatus"`
	Status         string    `json:"status"`
	OccurredAt     time.Time `json:"occurredAt"`
	Title          string    `json:"title"`
	Body           string    `json:"body"`
	// Importance is info, warning or critical (health.Importance*).
	Importance string     `json:"importance"`
	Checks     []CheckRef `json:"checks"`
	// InMaintenance says a maintenance window covers the system.
	InMaintenance bool `json:"inMaintenance"`
	// DownForSeconds is how long the system has not been healthy (reminders).
	DownForSeconds int64 `json:"downForSeconds,omitempty"`
	// URL links to the system (may be empty).
	URL string `json:"url,omitempty"`
}

// Channel sends messages to one configured destination.
type Channel interface {
	// Send delivers m once. A failure is a *SendError (retryable or not, with the receiver's
	// Retry-After when it gave one); its text never contains a secret of the channel's config.
	Send(ctx context.Context, m Message) error
}

// Options are what a channel needs from its environment.
type Options struct {
	// HTTPClient sends HTTP requests; default a client with a 10 s timeout.
	HTTPClient *http.Client
	// TLSConfig is used for SMTP STARTTLS/TLS (tests trust their own CA with it); default the
	// system roots with the configured host as server name.
	TLSConfig *tls.Config
}

// SendError is a failed send, classified.
type SendError struct {
	// Retryable: a later attempt may succeed (network errors, 408, 429, 5xx, SMTP 4xx).
	Retryable bool
	// RetryAfter is the wait the receiver asked for (429/503 Retry-After); 0 if none.
	RetryAfter time.Duration
	// StatusCode is the HTTP status or SMTP reply code, 0 if none.
	StatusCode int
	// Message says what failed, with secrets redacted.
	Message string

	// cause is context.Canceled or context.DeadlineExceeded when the caller's context ended the
	// send (nil otherwise), so errors.Is works; other causes are not kept because their texts may
	// embed secret URLs.
	cause error
}

// Error returns the message.
func (e *SendError) Error() string { return e.Message }

// Unwrap returns context.Canceled or context.DeadlineExceeded when the caller's context ended the
// send, nil otherwise.
func (e *SendError) Unwrap() error { return e.cause }

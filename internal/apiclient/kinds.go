package apiclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/checkflow/checkflow/internal/automation"
)

// listItems reads every page of a list endpoint answering {"items": [...]} (limit/offset).
func listItems[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	var all []T
	for offset := 0; ; offset += pageSize {
		var page struct {
			Items []T `json:"items"`
		}
		if err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s?limit=%d&offset=%d", path, pageSize, offset), nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if len(page.Items) < pageSize {
			return all, nil
		}
	}
}

// ---- notification channels -------------------------------------------------------------------

// Channel is a notification channel; its secret config values read "****".
type Channel struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Type        string          `json:"type"`
	Config      json.RawMessage `json:"config"`
	Systems     []string        `json:"systems"`
	Events      []string        `json:"events"`
	RemindEvery *string         `json:"remindEvery"`
	Enabled     bool            `json:"enabled"`
	Failing     bool            `json:"failing"`
	CreatedAt   time.Time       `json:"createdAt"`
	UpdatedAt   time.Time       `json:"updatedAt"`
}

// ChannelInput creates a channel, or replaces every field of one but its type (a PATCH with
// every field: RemindEvery nil turns reminders off).
type ChannelInput struct {
	Name        string          `json:"name"`
	Type        string          `json:"type,omitempty"`
	Config      json.RawMessage `json:"config"`
	Systems     []string        `json:"systems"`
	Events      []string        `json:"events"`
	RemindEvery *string         `json:"remindEvery"`
	Enabled     bool            `json:"enabled"`
}

// ListChannels returns every notification channel (all pages).
func (c *Client) ListChannels(ctx context.Context) ([]Channel, error) {
	return listItems[Channel](ctx, c, "/api/v1/channels")
}

// CreateChannel creates a notification channel.
func (c *Client) CreateChannel(ctx context.Context, in ChannelInput) (Channel, error) {
	var out Channel
	return out, c.do(ctx, http.MethodPost, "/api/v1/channels", in, &out)
}

// UpdateChannel replaces a channel's name, config, systems, events, reminder and enabled flag
// (the type cannot change: in.Type is not sent).
func (c *Client) UpdateChannel(ctx context.Context, id string, in ChannelInput) (Channel, error) {
	in.Type = ""
	var out Channel
	return out, c.do(ctx, http.MethodPatch, "/api/v1/channels/"+url.PathEscape(id), in, &out)
}

// DeleteChannel deletes a notification channel with its deliveries.
func (c *Client) DeleteChannel(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/channels/"+url.PathEscape(id), nil, nil)
}

// ---- maintenance windows ---------------------------------------------------------------------

// Maintenance is a maintenance window.
type Maintenance struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	Description string    `json:"description"`
	SystemIDs   []string  `json:"systemIds"`
	StartsAt    time.Time `json:"startsAt"`
	EndsAt      time.Time `json:"endsAt"`
	// State is scheduled, active or ended (server clock).
	State     string    `json:"state"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// MaintenanceInput creates a maintenance window or replaces every field of one.
type MaintenanceInput struct {
	Title       string    `json:"title"`
	Description string    `json:"description"`
	SystemIDs   []string  `json:"systemIds"`
	StartsAt    time.Time `json:"startsAt"`
	EndsAt      time.Time `json:"endsAt"`
}

// ListMaintenances returns every maintenance window, ended ones too (all pages).
func (c *Client) ListMaintenances(ctx context.Context) ([]Maintenance, error) {
	return listItems[Maintenance](ctx, c, "/api/v1/maintenances")
}

// CreateMaintenance schedules a maintenance window.
func (c *Client) CreateMaintenance(ctx context.Context, in MaintenanceInput) (Maintenance, error) {
	var out Maintenance
	return out, c.do(ctx, http.MethodPost, "/api/v1/maintenances", in, &out)
}

// UpdateMaintenance replaces every field of a maintenance window.
func (c *Client) UpdateMaintenance(ctx context.Context, id string, in MaintenanceInput) (Maintenance, error) {
	var out Maintenance
	return out, c.do(ctx, http.MethodPatch, "/api/v1/maintenances/"+url.PathEscape(id), in, &out)
}

// DeleteMaintenance deletes a maintenance window.
func (c *Client) DeleteMaintenance(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/maintenances/"+url.PathEscape(id), nil, nil)
}

// ---- automations -----------------------------------------------------------------------------

// Automation is an automation; webhook secrets read "****".
type Automation struct {
	ID       string `json:"id"`
	Revision int64  `json:"revision"`
	automation.Spec
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// ListAutomations returns every automation (all pages).
func (c *Client) ListAutomations(ctx context.Context) ([]Automation, error) {
	return listItems[Automation](ctx, c, "/api/v1/automations")
}

// CreateAutomation creates an automation.
func (c *Client) CreateAutomation(ctx context.Context, in automation.Spec) (Automation, error) {
	var out Automation
	return out, c.do(ctx, http.MethodPost, "/api/v1/automations", in, &out)
}

// UpdateAutomation replaces every field of an automation (its trigger and actions whole).
func (c *Client) UpdateAutomation(ctx context.Context, id string, in automation.Spec) (Automation, error) {
	var out Automation
	return out, c.do(ctx, http.MethodPatch, "/api/v1/automations/"+url.PathEscape(id), in, &out)
}

// DeleteAutomation deletes an automation with its occurrences and runs.
func (c *Client) DeleteAutomation(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/automations/"+url.PathEscape(id), nil, nil)
}

package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/checkflow/checkflow/internal/notify"
	"github.com/checkflow/checkflow/internal/store"
)

// Channel limits.
const (
	// minRemindEvery and maxRemindEvery bound a channel's reminder interval (the store's).
	minRemindEvery = time.Second
	maxRemindEvery = store.MaxRemindEverySeconds * time.Second
	// channelTestTimeout bounds the one send of POST /channels/{channelId}/test.
	channelTestTimeout = 15 * time.Second
	// deliveryRecordTimeout bounds recording a test delivery's outcome after the send.
	deliveryRecordTimeout = 10 * time.Second
	// defaultDeliveryLimit is the page size of GET /deliveries.
	defaultDeliveryLimit = 50
)

// ---- representation --------------------------------------------------------------------------

// channelDTO is a channel as the API shows it: x-secret config values masked.
type channelDTO struct {
	ID                  string          `json:"id"`
	Name                string          `json:"name"`
	Type                string          `json:"type"`
	Config              json.RawMessage `json:"config"`
	Systems             []string        `json:"systems"`
	Events              []string        `json:"events"`
	RemindEvery         *string         `json:"remindEvery"`
	Enabled             bool            `json:"enabled"`
	Failing             bool            `json:"failing"`
	FailingSince        *time.Time      `json:"failingSince"`
	ConsecutiveFailures int             `json:"consecutiveFailures"`
	LastError           *string         `json:"lastError"`
	LastErrorAt         *time.Time      `json:"lastErrorAt"`
	LastSuccessAt       *time.Time      `json:"lastSuccessAt"`
	CreatedAt           time.Time       `json:"createdAt"`
	UpdatedAt           time.Time       `json:"updatedAt"`
}

func channelOut(ch store.Channel) channelDTO {
	out := channelDTO{
		ID: ch.ID, Name: ch.Name, Type: ch.Type,
		Config:  maskChannelConfig(ch.Type, ch.Config),
		Systems: ch.Systems, Events: ch.Events, Enabled: ch.Enabled,
		Failing: ch.FailingSince != nil, FailingSince: ch.FailingSince, ConsecutiveFailures: ch.ConsecutiveFailures,
		LastError: ch.LastError, LastErrorAt: ch.LastErrorAt, LastSuccessAt: ch.LastSuccessAt,
		CreatedAt: ch.CreatedAt, UpdatedAt: ch.UpdatedAt,
	}
	if out.Systems == nil {
		out.Systems = []string{}
	}
	if out.Events == nil {
		out.Events = []string{}
	}
	if ch.RemindEverySeconds != nil {
		d := (time.Duration(*ch.RemindEverySeconds) * time.Second).String()
		out.RemindEvery = &d
	}
	return out
}

type channelList struct {
	Items []channelDTO `json:"items"`
}

// ---- validation ------------------------------------------------------------------------------

// validateName checks a required display name (1–200 characters).
func validateName(field, name string) []FieldError {
	switch {
	case strings.TrimSpace(name) == "":
		return []FieldError{{Field: field, Message: "must not be empty"}}
	case utf8.RuneCountInString(name) > 200:
		return []FieldError{{Field: field, Message: "must be at most 200 characters"}}
	}
	return nil
}

// validateChannelType reports an unknown channel type.
func validateChannelType(typ string) []FieldError {
	if !slices.Contains(notify.Types(), typ) {
		return []FieldError{{Field: "type", Message: "must be one of " + strings.Join(notify.Types(), ", ")}}
	}
	return nil
}

// validateChannelSystems checks the shape of a channel's systems: ["*"] or 1–1000 distinct
// system ids (whether they exist is checked by unknownSystems).
func validateChannelSystems(systems []string) []FieldError {
	if len(systems) == 0 {
		return []FieldError{{Field: "systems", Message: `must list system ids, or be ["*"] for every system`}}
	}
	if len(systems) > store.MaxChannelSystems {
		return []FieldError{{Field: "systems", Message: fmt.Sprintf("must list at most %d system ids", store.MaxChannelSystems)}}
	}
	var fe []FieldError
	seen := map[string]bool{}
	for i, id := range systems {
		field := fmt.Sprintf("systems[%d]", i)
		switch {
		case id == store.AllSystems && len(systems) > 1:
			fe = append(fe, FieldError{Field: field, Message: `"*" (every system) cannot be combined with system ids`})
		case strings.TrimSpace(id) == "":
			fe = append(fe, FieldError{Field: field, Message: "must not be empty"})
		case seen[id]:
			fe = append(fe, FieldError{Field: field, Message: "is listed twice"})
		}
		seen[id] = true
	}
	return fe
}

// unknownSystems names every listed id (but "*") that is no system, under field[i].
func (s *Server) unknownSystems(ctx context.Context, field string, ids []string) ([]FieldError, error) {
	var lookup []string
	for _, id := range ids {
		if id != store.AllSystems && strings.TrimSpace(id) != "" {
			lookup = append(lookup, id)
		}
	}
	if len(lookup) == 0 {
		return nil, nil
	}
	exists, err := s.store.ExistingSystems(ctx, lookup)
	if err != nil {
		return nil, err
	}
	var fe []FieldError
	for i, id := range ids {
		if id != store.AllSystems && strings.TrimSpace(id) != "" && !exists[id] {
			fe = append(fe, FieldError{Field: fmt.Sprintf("%s[%d]", field, i), Message: fmt.Sprintf("unknown system %q", id)})
		}
	}
	return fe, nil
}

// validateChannelEvents checks a channel's events: 1–4 distinct subscribable events.
func validateChannelEvents(events []string) []FieldError {
	if len(events) == 0 {
		return []FieldError{{Field: "events", Message: "must list at least one event: " + strings.Join(store.ChannelEvents(), ", ")}}
	}
	var fe []FieldError
	seen := map[string]bool{}
	for i, ev := range events {
		field := fmt.Sprintf("events[%d]", i)
		switch {
		case !slices.Contains(store.ChannelEvents(), ev):
			fe = append(fe, FieldError{Field: field, Message: "must be one of " + strings.Join(store.ChannelEvents(), ", ")})
		case seen[ev]:
			fe = append(fe, FieldError{Field: field, Message: "is listed twice"})
		}
		seen[ev] = true
	}
	return fe
}

// parseRemindEvery parses a reminder interval (a Go duration of whole seconds, 1s–168h).
func parseRemindEvery(v string) (*int, []FieldError) {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return nil, []FieldError{{Field: "remindEvery", Message: `must be a duration such as "30m", "1h30m" or "24h"`}}
	case d < minRemindEvery || d > maxRemindEvery:
		return nil, []FieldError{{Field: "remindEvery", Message: "must be between 1s and 168h (7 days)"}}
	case d%time.Second != 0:
		return nil, []FieldError{{Field: "remindEvery", Message: "must be a whole number of seconds"}}
	}
	n := int(d / time.Second)
	return &n, nil
}

// channelConfigErrors validates a plain channel config with the channel type's validator
// (fields "config.<key>") and reports keys its schema does not declare.
func channelConfigErrors(typ string, plain json.RawMessage) []FieldError {
	var fe []FieldError
	if err := notify.Validate(typ, plain); err != nil {
		fields, ok := validationFields(err)
		if !ok {
			fields = []FieldError{{Field: "config", Message: "is not valid"}}
		}
		fe = append(fe, fields...)
	}
	for _, f := range unknownKeys(notify.ConfigSchema(typ), plain, "config") {
		if !slices.ContainsFunc(fe, func(e FieldError) bool { return e.Field == f.Field }) {
			fe = append(fe, f)
		}
	}
	return fe
}

// ---- channels --------------------------------------------------------------------------------

func (s *Server) listChannels(c echo.Context) error {
	q := newQuery(c)
	page := q.page(store.DefaultListLimit)
	if err := q.finish(); err != nil {
		return err
	}
	list, err := s.store.ListChannels(c.Request().Context(), page)
	if err != nil {
		return err
	}
	out := channelList{Items: make([]channelDTO, len(list))}
	for i, ch := range list {
		out.Items[i] = channelOut(ch)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getChannel(c echo.Context) error {
	id, err := pathParam(c, "channelId")
	if err != nil {
		return err
	}
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	ch, err := s.store.GetChannel(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, channelOut(ch))
}

type channelCreateBody struct {
	Name        *string         `json:"name"`
	Type        *string         `json:"type"`
	Config      json.RawMessage `json:"config"`
	Systems     *[]string       `json:"systems"`
	Events      *[]string       `json:"events"`
	RemindEvery *string         `json:"remindEvery"`
	Enabled     *bool           `json:"enabled"`
}

func (s *Server) createChannel(c echo.Context) error {
	var b channelCreateBody
	if _, err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	var fe []FieldError
	in := store.ChannelInput{Systems: []string{store.AllSystems}, Events: store.DefaultChannelEvents(), Enabled: true}
	if b.Name == nil {
		fe = append(fe, FieldError{Field: "name", Message: "is required"})
	} else {
		in.Name = *b.Name
		fe = append(fe, validateName("name", in.Name)...)
	}
	typeOK := false
	if b.Type == nil {
		fe = append(fe, FieldError{Field: "type", Message: "is required"})
	} else if errs := validateChannelType(*b.Type); len(errs) > 0 {
		fe = append(fe, errs...)
	} else {
		in.Type, typeOK = *b.Type, true
	}
	if b.Systems != nil {
		in.Systems = *b.Systems
		fe = append(fe, validateChannelSystems(in.Systems)...)
	}
	if b.Events != nil {
		in.Events = *b.Events
		fe = append(fe, validateChannelEvents(in.Events)...)
	}
	if b.RemindEvery != nil {
		var errs []FieldError
		in.RemindEverySeconds, errs = parseRemindEvery(*b.RemindEvery)
		fe = append(fe, errs...)
	}
	if b.Enabled != nil {
		in.Enabled = *b.Enabled
	}
	if len(b.Config) == 0 || string(b.Config) == "null" {
		b.Config = json.RawMessage("{}")
	}
	if typeOK {
		plain, sealed, errs := s.channelConfig(in.Type, b.Config, nil)
		if len(errs) == 0 {
			errs = channelConfigErrors(in.Type, plain)
		}
		fe = append(fe, errs...)
		in.Config = sealed
	}
	ctx := c.Request().Context()
	unknown, err := s.unknownSystems(ctx, "systems", in.Systems)
	if err != nil {
		return err
	}
	if fe = append(fe, unknown...); len(fe) > 0 {
		return invalidFields(fe...)
	}
	ch, err := s.store.CreateChannel(ctx, in)
	if err != nil {
		return err
	}
	// Channels are read by the notifiers at each delivery: no workflow to tell.
	return c.JSON(http.StatusCreated, channelOut(ch))
}

type channelPatchBody struct {
	Name        opt[string]          `json:"name"`
	Type        opt[string]          `json:"type"`
	Config      opt[json.RawMessage] `json:"config"`
	Systems     opt[[]string]        `json:"systems"`
	Events      opt[[]string]        `json:"events"`
	RemindEvery opt[string]          `json:"remindEvery"`
	Enabled     opt[bool]            `json:"enabled"`
}

func (s *Server) updateChannel(c echo.Context) error {
	id, err := pathParam(c, "channelId")
	if err != nil {
		return err
	}
	var b channelPatchBody
	if _, err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	var fe []FieldError
	notNull(&fe, "name", b.Name)
	notNull(&fe, "type", b.Type)
	notNull(&fe, "config", b.Config)
	notNull(&fe, "systems", b.Systems)
	notNull(&fe, "events", b.Events)
	notNull(&fe, "enabled", b.Enabled)
	if len(fe) > 0 {
		return invalidFields(fe...)
	}
	ctx := c.Request().Context()
	cur, err := s.store.GetChannel(ctx, id)
	if err != nil {
		return err
	}
	if err := s.gitOpsLock(ctx, store.ProvenanceKindNotificationChannel, cur.ID); err != nil {
		return err
	}
	in := store.ChannelInput{Name: cur.Name, Type: cur.Type, Config: cur.Config, Systems: cur.Systems, Events: cur.Events,
		RemindEverySeconds: cur.RemindEverySeconds, Enabled: cur.Enabled}
	if b.Type.Set && b.Type.Value != cur.Type {
		fe = append(fe, FieldError{Field: "type", Message: fmt.Sprintf("cannot be changed (the channel is a %s channel); create a new channel instead", cur.Type)})
	}
	if b.Name.Set {
		in.Name = b.Name.Value
		fe = append(fe, validateName("name", in.Name)...)
	}
	if b.Systems.Set {
		in.Systems = b.Systems.Value
		fe = append(fe, validateChannelSystems(in.Systems)...)
	}
	if b.Events.Set {
		in.Events = b.Events.Value
		fe = append(fe, validateChannelEvents(in.Events)...)
	}
	if b.RemindEvery.Set {
		in.RemindEverySeconds = nil
		if !b.RemindEvery.Null {
			var errs []FieldError
			in.RemindEverySeconds, errs = parseRemindEvery(b.RemindEvery.Value)
			fe = append(fe, errs...)
		}
	}
	if b.Enabled.Set {
		in.Enabled = b.Enabled.Value
	}
	if b.Config.Set {
		// The whole config is replaced; secrets sent back as "****" keep their stored value.
		plain, sealed, errs := s.channelConfig(cur.Type, b.Config.Value, cur.Config)
		if len(errs) == 0 {
			errs = channelConfigErrors(cur.Type, plain)
		}
		fe = append(fe, errs...)
		in.Config = sealed
	}
	if b.Systems.Set {
		unknown, err := s.unknownSystems(ctx, "systems", in.Systems)
		if err != nil {
			return err
		}
		fe = append(fe, unknown...)
	}
	if len(fe) > 0 {
		return invalidFields(fe...)
	}
	ch, err := s.store.UpdateChannel(ctx, id, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, channelOut(ch))
}

func (s *Server) deleteChannel(c echo.Context) error {
	id, err := pathParam(c, "channelId")
	if err != nil {
		return err
	}
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	cur, err := s.store.GetChannel(ctx, id)
	if err != nil {
		return err
	}
	if err := s.gitOpsLock(ctx, store.ProvenanceKindNotificationChannel, cur.ID); err != nil {
		return err
	}
	if err := s.store.DeleteChannel(ctx, cur.ID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// ---- channel test ----------------------------------------------------------------------------

// channelTestResult is the outcome of one test notification.
type channelTestResult struct {
	DeliveryID string `json:"deliveryId"`
	Status     string `json:"status"`
	Error      string `json:"error,omitempty"`
	Retryable  *bool  `json:"retryable,omitempty"`
	DurationMs int64  `json:"durationMs"`
}

// testChannel sends one test notification through a channel, synchronously, and records it
// as a delivery (system null, event "test"). The channel's failure state is left alone: a
// test says whether the channel works now, it is not a notification that failed.
func (s *Server) testChannel(c echo.Context) error {
	id, err := pathParam(c, "channelId")
	if err != nil {
		return err
	}
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	ch, err := s.store.GetChannel(ctx, id)
	if err != nil {
		return err
	}
	plain, err := s.openChannelConfig(ch.Type, ch.Config)
	if err != nil {
		s.log.Error("open the config of a notification channel", "channelId", ch.ID, "err", err)
		return newProblem(http.StatusInternalServerError, ProblemInternal, "the channel's secrets could not be opened with the server's secret key")
	}
	channel, err := notify.New(ch.Type, plain, s.cfg.NotifyOptions)
	if err != nil {
		if fields, ok := validationFields(err); ok {
			p := invalidFields(fields...)
			p.Detail = "the stored channel config is not valid; fix it with PATCH: " + p.Detail
			return p
		}
		return fmt.Errorf("build %s channel %s: %w", ch.Type, ch.ID, err)
	}
	now := s.now().UTC()
	msg := notify.Message{
		ID:         "test:" + uuid.NewString() + ":" + ch.ID,
		Event:      notify.EventTest,
		System:     notify.SystemRef{ID: "checkflow-test", Name: "checkflow test"},
		Status:     "healthy",
		Title:      "checkflow test notification",
		Body:       fmt.Sprintf("This is a test notification from checkflow: the channel %q works.", ch.Name),
		Importance: "info",
		Checks:     []notify.CheckRef{},
		OccurredAt: now,
	}
	payload, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode test message: %w", err)
	}
	if _, err := s.store.CreateDeliveries(ctx, []store.DeliveryInput{{ID: msg.ID, ChannelID: ch.ID, Event: notify.EventTest, Payload: payload}}); err != nil {
		return err
	}
	if _, err := s.store.StartDeliveryAttempt(ctx, msg.ID, now); err != nil {
		return err
	}

	// The channel type's rate limit (Slack: one message a second) applies to tests too; the
	// wait counts against the timeout but not in durationMs.
	sctx, cancel := context.WithTimeout(ctx, channelTestTimeout)
	var elapsed time.Duration
	err = s.limiter.Wait(sctx, ch.ID, ch.Type)
	if err == nil {
		start := time.Now()
		err = channel.Send(sctx, msg)
		elapsed = time.Since(start)
	}
	cancel()

	// The send happened: record it even if the client went away.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), deliveryRecordTimeout)
	defer rcancel()
	out := channelTestResult{DeliveryID: msg.ID, Status: store.DeliverySent, DurationMs: elapsed.Milliseconds()}
	at := s.now().UTC()
	if err == nil {
		if _, err := s.store.MarkDeliverySent(rctx, msg.ID, at); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, out)
	}
	text := sendErrorText(err)
	text = scrub(text, plainSecrets(ch.Type, plain))
	retryable := notify.Retryable(err)
	out.Status, out.Error, out.Retryable = store.DeliveryFailed, text, &retryable
	if err := s.store.RecordDeliveryError(rctx, msg.ID, text, at, true); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// sendErrorText describes a failed test send (notify redacts secrets from its errors).
func sendErrorText(err error) string {
	var se *notify.SendError
	switch {
	case errors.As(err, &se):
		return se.Message
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %v", channelTestTimeout)
	case errors.Is(err, context.Canceled):
		return "the request was cancelled"
	}
	return err.Error()
}

// ---- deliveries ------------------------------------------------------------------------------

// deliveryDTO is one delivery as the API lists it (without its payload).
type deliveryDTO struct {
	ID        string     `json:"id"`
	ChannelID string     `json:"channelId"`
	SystemID  *string    `json:"systemId"`
	Event     string     `json:"event"`
	Status    string     `json:"status"`
	Attempts  int        `json:"attempts"`
	LastError *string    `json:"lastError"`
	CreatedAt time.Time  `json:"createdAt"`
	SentAt    *time.Time `json:"sentAt"`
}

type deliveryList struct {
	Items []deliveryDTO `json:"items"`
	// NextCursor continues the listing (pass it as cursor); absent on the last page.
	NextCursor string `json:"nextCursor,omitempty"`
}

func (s *Server) listDeliveries(c echo.Context) error {
	q := newQuery(c)
	f := store.DeliveryFilter{
		ChannelID: q.str("channelId"),
		SystemID:  q.str("systemId"),
		Status:    q.oneOf("status", store.DeliveryPending, store.DeliverySent, store.DeliveryFailed),
		Cursor:    q.str("cursor"),
		Limit:     q.integer("limit", defaultDeliveryLimit, 1, store.MaxListLimit),
	}
	if f.ChannelID != "" && !isUUID(f.ChannelID) {
		q.fail("channelId", "must be a channel id (a UUID)")
	}
	if err := q.finish(); err != nil {
		return err
	}
	list, next, err := s.store.ListDeliveries(c.Request().Context(), f)
	if err != nil {
		return err
	}
	out := deliveryList{Items: make([]deliveryDTO, len(list)), NextCursor: next}
	for i, d := range list {
		out.Items[i] = deliveryDTO{ID: d.ID, ChannelID: d.ChannelID, SystemID: d.SystemID, Event: d.Event, Status: d.Status,
			Attempts: d.Attempts, LastError: d.LastError, CreatedAt: d.CreatedAt, SentAt: d.SentAt}
	}
	return c.JSON(http.StatusOK, out)
}

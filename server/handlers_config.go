package server

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
)

// ---- pagination ------------------------------------------------------------------------------

func (q *query) page(defaultLimit int) store.Page {
	return store.Page{
		Limit:  q.integer("limit", defaultLimit, 1, store.MaxListLimit),
		Offset: q.integer("offset", 0, 0, 1<<31-1),
	}
}

// ---- systems ---------------------------------------------------------------------------------

type systemList struct {
	Systems []store.System `json:"systems"`
	Total   int            `json:"total"`
	Limit   int            `json:"limit"`
	Offset  int            `json:"offset"`
}

func (s *Server) listSystems(c echo.Context) error {
	q := newQuery(c)
	page := q.page(store.DefaultListLimit)
	if err := q.finish(); err != nil {
		return err
	}
	systems, total, err := s.store.ListSystems(c.Request().Context(), page)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, systemList{Systems: systems, Total: total, Limit: page.Limit, Offset: page.Offset})
}

type systemCreateBody struct {
	ID          *string            `json:"id"`
	Name        *string            `json:"name"`
	Description *string            `json:"description"`
	Labels      *map[string]string `json:"labels"`
}

func (s *Server) createSystem(c echo.Context) error {
	var b systemCreateBody
	if _, err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	var fe []FieldError
	if b.ID == nil {
		fe = append(fe, FieldError{Field: "id", Message: "is required"})
	}
	if b.Name == nil {
		fe = append(fe, FieldError{Field: "name", Message: "is required"})
	}
	if len(fe) > 0 {
		return invalidFields(fe...)
	}
	in := store.SystemInput{ID: *b.ID, Name: *b.Name}
	if b.Description != nil {
		in.Description = *b.Description
	}
	if b.Labels != nil {
		in.Labels = *b.Labels
	}
	sys, err := s.store.CreateSystem(c.Request().Context(), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, sys)
}

func (s *Server) getSystem(c echo.Context) error {
	id, err := pathParam(c, "systemId")
	if err != nil {
		return err
	}
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	sys, err := s.store.GetSystem(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sys)
}

type systemPatchBody struct {
	Name        opt[string]            `json:"name"`
	Description opt[string]            `json:"description"`
	Labels      opt[map[string]string] `json:"labels"`
}

func (s *Server) updateSystem(c echo.Context) error {
	id, err := pathParam(c, "systemId")
	if err != nil {
		return err
	}
	var b systemPatchBody
	if _, err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	var fe []FieldError
	notNull(&fe, "name", b.Name)
	notNull(&fe, "description", b.Description)
	notNull(&fe, "labels", b.Labels)
	if len(fe) > 0 {
		return invalidFields(fe...)
	}
	ctx := c.Request().Context()
	if err := s.gitOpsLock(ctx, store.ProvenanceKindSystem, id); err != nil {
		return err
	}
	var patch store.SystemPatch
	if b.Name.Set {
		patch.Name = &b.Name.Value
	}
	if b.Description.Set {
		patch.Description = &b.Description.Value
	}
	if b.Labels.Set {
		patch.Labels = &b.Labels.Value
	}
	sys, err := s.store.UpdateSystem(ctx, id, patch)
	if err != nil {
		return err
	}
	// The entity shows the system's name (notifications, Temporal UI).
	if err := s.notify(ctx, id); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sys)
}

func (s *Server) deleteSystem(c echo.Context) error {
	id, err := pathParam(c, "systemId")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.gitOpsLock(ctx, store.ProvenanceKindSystem, id); err != nil {
		return err
	}
	if err := s.store.DeleteSystem(ctx, id); err != nil {
		return err
	}
	// The entity reloads, finds no system and ends.
	if err := s.notify(ctx, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// ---- strategies ------------------------------------------------------------------------------

type strategyList struct {
	Strategies []checks.StrategyInfo `json:"strategies"`
}

type collectorList struct {
	Collectors []checks.CollectorInfo `json:"collectors"`
}

func (s *Server) listStrategies(c echo.Context) error {
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, strategyList{Strategies: s.checks.Strategies()})
}

// listCollectors answers the collectors of a strategy; an unknown strategy has none (RO-5).
func (s *Server) listCollectors(c echo.Context) error {
	id, err := pathParam(c, "strategyId")
	if err != nil {
		return err
	}
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	if _, ok := s.checks.Strategy(id); !ok {
		return notFoundProblem(fmt.Sprintf("unknown strategy %q (GET /api/v1/strategies lists them)", id))
	}
	return c.JSON(http.StatusOK, collectorList{Collectors: s.checks.Collectors(id)})
}

// ---- checks (health check configurations) ----------------------------------------------------

// checkDTO is a configuration as the API shows it: x-secret config fields masked.
type checkDTO struct {
	ID              string          `json:"id"`
	Name            string          `json:"name"`
	StrategyID      string          `json:"strategyId"`
	Config          json.RawMessage `json:"config"`
	Collectors      json.RawMessage `json:"collectors"`
	IntervalSeconds int             `json:"intervalSeconds"`
	Paused          bool            `json:"paused"`
	CreatedAt       time.Time       `json:"createdAt"`
	UpdatedAt       time.Time       `json:"updatedAt"`
	// PingToken and PingURL are set for heartbeat checks: the credential of the ping endpoint.
	PingToken string `json:"pingToken,omitempty"`
	PingURL   string `json:"pingUrl,omitempty"`
}

// checkOut is the API's view of a configuration; base is the URL the caller reached the API at
// (the ping URL of a heartbeat check starts with it).
func (s *Server) checkOut(c store.Configuration, base string) checkDTO {
	collectors := c.Collectors
	if len(collectors) == 0 {
		collectors = json.RawMessage("[]")
	}
	dto := checkDTO{
		ID: c.ID, Name: c.Name, StrategyID: c.StrategyID,
		Config:          s.secrets.maskConfig(c.StrategyID, c.Config),
		Collectors:      s.secrets.maskCollectors(collectors),
		IntervalSeconds: c.IntervalSeconds, Paused: c.Paused, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		PingToken: s.openPingToken(c),
	}
	if dto.PingToken != "" {
		dto.PingURL = base + v1 + "/ping/" + dto.PingToken
	}
	return dto
}

type checkList struct {
	Configurations []checkDTO `json:"configurations"`
	Total          int        `json:"total"`
	Limit          int        `json:"limit"`
	Offset         int        `json:"offset"`
}

func (s *Server) listChecks(c echo.Context) error {
	q := newQuery(c)
	page := q.page(store.DefaultListLimit)
	if err := q.finish(); err != nil {
		return err
	}
	list, total, err := s.store.ListConfigurations(c.Request().Context(), page)
	if err != nil {
		return err
	}
	out := checkList{Configurations: make([]checkDTO, len(list)), Total: total, Limit: page.Limit, Offset: page.Offset}
	for i, cfg := range list {
		out.Configurations[i] = s.checkOut(cfg, requestBase(c))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getCheck(c echo.Context) error {
	id, err := pathParam(c, "checkId")
	if err != nil {
		return err
	}
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	cfg, err := s.store.GetConfiguration(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.checkOut(cfg, requestBase(c)))
}

type checkCreateBody struct {
	Name            *string                 `json:"name"`
	StrategyID      *string                 `json:"strategyId"`
	Config          json.RawMessage         `json:"config"`
	Collectors      []checks.CollectorEntry `json:"collectors"`
	IntervalSeconds *int                    `json:"intervalSeconds"`
	Paused          *bool                   `json:"paused"`
}

// collectorEntries fills missing instance ids (reference: a UUID per entry) and marshals the
// collectors array as stored; nil stays nil (no collectors).
func collectorEntries(entries []checks.CollectorEntry) (json.RawMessage, []checks.CollectorEntry) {
	if entries == nil {
		return nil, nil
	}
	out := make([]checks.CollectorEntry, len(entries))
	for i, e := range entries {
		if strings.TrimSpace(e.ID) == "" {
			e.ID = uuid.NewString()
		}
		if len(e.Config) == 0 || string(e.Config) == "null" {
			e.Config = json.RawMessage("{}")
		}
		out[i] = e
	}
	raw, _ := json.Marshal(out) // plain structs with raw JSON already validated
	return raw, out
}

// validateCheck runs the strategy registry's validation and checks the interval bounds.
func (s *Server) validateCheck(strategyID string, config json.RawMessage, collectors []checks.CollectorEntry, interval int) []FieldError {
	var fe []FieldError
	if interval < 1 || interval > 31536000 {
		fe = append(fe, FieldError{Field: "intervalSeconds", Message: "must be an integer between 1 and 31536000"})
	}
	if err := s.checks.Validate(strategyID, config, collectors); err != nil {
		if fields, ok := validationFields(err); ok {
			fe = append(fe, fields...)
		} else {
			fe = append(fe, FieldError{Field: "config", Message: err.Error()})
		}
	}
	return fe
}

func (s *Server) createCheck(c echo.Context) error {
	var b checkCreateBody
	if _, err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	var fe []FieldError
	if b.Name == nil || strings.TrimSpace(*b.Name) == "" {
		fe = append(fe, FieldError{Field: "name", Message: "is required"})
	}
	if b.StrategyID == nil || *b.StrategyID == "" {
		fe = append(fe, FieldError{Field: "strategyId", Message: "is required"})
	}
	if b.IntervalSeconds == nil {
		fe = append(fe, FieldError{Field: "intervalSeconds", Message: "is required"})
	}
	if len(fe) > 0 {
		return invalidFields(fe...)
	}
	if len(b.Config) == 0 || string(b.Config) == "null" {
		b.Config = json.RawMessage("{}")
	}
	collectorsRaw, entries := collectorEntries(b.Collectors)
	fe = s.validateCheck(*b.StrategyID, b.Config, entries, *b.IntervalSeconds)
	fe = append(fe, s.unknownConfigKeys(*b.StrategyID, b.Config, entries)...)
	unknownSecrets, err := s.unknownSecretFields(c.Request().Context(), entries)
	if err != nil {
		return err
	}
	fe = append(fe, unknownSecrets...)
	fe = append(fe, rejectMasks(b.Config, s.secrets.strategies[*b.StrategyID], "config")...)
	for i, e := range entries {
		fe = append(fe, rejectMasks(e.Config, s.secrets.collectors[e.CollectorID], fmt.Sprintf("collectors[%d].config", i))...)
	}
	if len(fe) > 0 {
		return invalidFields(fe...)
	}
	var sealed []checks.CollectorEntry
	b.Config, sealed, fe = s.sealCheck(*b.StrategyID, b.Config, entries)
	if len(fe) > 0 {
		return invalidFields(fe...)
	}
	if entries != nil {
		collectorsRaw, _ = json.Marshal(sealed)
	}
	in := store.ConfigurationInput{Name: *b.Name, StrategyID: *b.StrategyID, Config: b.Config, Collectors: collectorsRaw, IntervalSeconds: *b.IntervalSeconds}
	if s.isHeartbeat(*b.StrategyID) {
		if in.PingToken, err = s.newPingToken(); err != nil {
			return err
		}
	}
	if b.Paused != nil {
		in.Paused = *b.Paused
	}
	cfg, err := s.store.CreateConfiguration(c.Request().Context(), in)
	if err != nil {
		return err
	}
	// A new configuration is assigned to no system yet: no entity to tell.
	return c.JSON(http.StatusCreated, s.checkOut(cfg, requestBase(c)))
}

type checkPatchBody struct {
	Name            opt[string]                  `json:"name"`
	StrategyID      opt[string]                  `json:"strategyId"`
	Config          opt[json.RawMessage]         `json:"config"`
	Collectors      opt[[]checks.CollectorEntry] `json:"collectors"`
	IntervalSeconds opt[int]                     `json:"intervalSeconds"`
	Paused          opt[bool]                    `json:"paused"`
}

// storedCollector finds a stored collector entry by instance id.
func storedCollector(stored json.RawMessage, id string) (checks.CollectorEntry, bool) {
	var entries []checks.CollectorEntry
	if len(stored) == 0 || json.Unmarshal(stored, &entries) != nil {
		return checks.CollectorEntry{}, false
	}
	for _, e := range entries {
		if e.ID == id {
			return e, true
		}
	}
	return checks.CollectorEntry{}, false
}

func (s *Server) updateCheck(c echo.Context) error {
	id, err := pathParam(c, "checkId")
	if err != nil {
		return err
	}
	var b checkPatchBody
	if _, err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	var fe []FieldError
	notNull(&fe, "name", b.Name)
	notNull(&fe, "strategyId", b.StrategyID)
	notNull(&fe, "config", b.Config)
	notNull(&fe, "intervalSeconds", b.IntervalSeconds)
	if b.Paused.Set {
		fe = append(fe, FieldError{Field: "paused", Message: "use POST /api/v1/checks/{checkId}/pause or /resume"})
	}
	if b.Name.Set && !b.Name.Null && strings.TrimSpace(b.Name.Value) == "" {
		fe = append(fe, FieldError{Field: "name", Message: "must not be empty"})
	}
	if len(fe) > 0 {
		return invalidFields(fe...)
	}
	ctx := c.Request().Context()
	if err := s.gitOpsLock(ctx, store.ProvenanceKindHealthcheck, id); err != nil {
		return err
	}
	cur, err := s.store.GetConfiguration(ctx, id)
	if err != nil {
		return err
	}
	// The configuration as it would be after the patch, secrets restored where "****" came back.
	strategy, config, interval := cur.StrategyID, cur.Config, cur.IntervalSeconds
	if b.StrategyID.Set {
		strategy = b.StrategyID.Value
	}
	if b.IntervalSeconds.Set {
		interval = b.IntervalSeconds.Value
	}
	if b.Config.Set {
		var errs []FieldError
		config, errs = restoreObject(b.Config.Value, cur.Config, s.secrets.strategies[strategy], "config")
		fe = append(fe, errs...)
	}
	var entries []checks.CollectorEntry
	var collectorsRaw json.RawMessage
	if b.Collectors.Set {
		collectorsRaw, entries = collectorEntries(b.Collectors.Value)
		for i := range entries {
			old, _ := storedCollector(cur.Collectors, entries[i].ID)
			var errs []FieldError
			entries[i].Config, errs = restoreObject(entries[i].Config, old.Config, s.secrets.collectors[entries[i].CollectorID], fmt.Sprintf("collectors[%d].config", i))
			fe = append(fe, errs...)
		}
		if entries != nil {
			collectorsRaw, _ = json.Marshal(entries)
		}
	} else if len(cur.Collectors) > 0 {
		if err := json.Unmarshal(cur.Collectors, &entries); err != nil {
			return fmt.Errorf("stored collectors of %s: %w", id, err)
		}
	}
	fe = append(fe, s.validateCheck(strategy, config, entries, interval)...)
	// Unknown keys are reported in what was sent, not in what was stored before.
	var sentConfig json.RawMessage
	var sentEntries []checks.CollectorEntry
	if b.Config.Set {
		sentConfig = config
	}
	if b.Collectors.Set {
		sentEntries = entries
	}
	fe = append(fe, s.unknownConfigKeys(strategy, sentConfig, sentEntries)...)
	unknownSecrets, err := s.unknownSecretFields(ctx, sentEntries)
	if err != nil {
		return err
	}
	fe = append(fe, unknownSecrets...)
	if len(fe) > 0 {
		return invalidFields(fe...)
	}
	// Seal what was sent (stored values restored from "****" are sealed already).
	var sealedEntries []checks.CollectorEntry
	var sealErrs []FieldError
	config, sealedEntries, sealErrs = s.sealCheck(strategy, config, sentEntries)
	if len(sealErrs) > 0 {
		return invalidFields(sealErrs...)
	}
	if b.Collectors.Set && sealedEntries != nil {
		collectorsRaw, _ = json.Marshal(sealedEntries)
	}
	patch := store.ConfigurationPatch{}
	if b.Name.Set {
		patch.Name = &b.Name.Value
	}
	if b.StrategyID.Set {
		patch.StrategyID = &b.StrategyID.Value
	}
	if b.Config.Set {
		patch.Config = config
	}
	if b.Collectors.Set {
		patch.Collectors = store.Some(collectorsRaw)
	}
	if b.IntervalSeconds.Set {
		patch.IntervalSeconds = &b.IntervalSeconds.Value
	}
	if s.isHeartbeat(strategy) && cur.PingTokenSealed == "" {
		tok, err := s.newPingToken()
		if err != nil {
			return err
		}
		patch.PingToken = &tok
	}
	cfg, err := s.store.UpdateConfiguration(ctx, id, patch)
	if err != nil {
		return err
	}
	if err := s.notifyConfiguration(ctx, cfg.ID); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.checkOut(cfg, requestBase(c)))
}

// notifyConfiguration signals every system the configuration is assigned to.
func (s *Server) notifyConfiguration(ctx context.Context, configurationID string) error {
	systems, err := s.store.ConfigurationSystems(ctx, configurationID)
	if err != nil {
		return err
	}
	return s.notify(ctx, systems...)
}

func (s *Server) deleteCheck(c echo.Context) error {
	id, err := pathParam(c, "checkId")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.gitOpsLock(ctx, store.ProvenanceKindHealthcheck, id); err != nil {
		return err
	}
	systems, err := s.store.DeleteConfiguration(ctx, id)
	if err != nil {
		return err
	}
	if err := s.notify(ctx, systems...); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) pauseCheck(c echo.Context) error { return s.setPaused(c, true) }

func (s *Server) resumeCheck(c echo.Context) error { return s.setPaused(c, false) }

func (s *Server) setPaused(c echo.Context, paused bool) error {
	id, err := pathParam(c, "checkId")
	if err != nil {
		return err
	}
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.gitOpsLock(ctx, store.ProvenanceKindHealthcheck, id); err != nil {
		return err
	}
	cfg, err := s.store.SetConfigurationPaused(ctx, id, paused)
	if err != nil {
		return err
	}
	if err := s.notifyConfiguration(ctx, cfg.ID); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.checkOut(cfg, requestBase(c)))
}

// unknownConfigKeys reports keys of schema-described config objects that the schema does not
// declare (typos would otherwise be stored and silently ignored). An empty config is skipped.
func (s *Server) unknownConfigKeys(strategyID string, config json.RawMessage, collectors []checks.CollectorEntry) []FieldError {
	var fe []FieldError
	if st, ok := s.checks.Strategy(strategyID); ok {
		info := st.Info()
		if len(config) > 0 {
			for _, f := range unknownKeys(info.ConfigSchema, config, "config") {
				f.Message += collectorFieldHint(info.Collectors, strings.TrimPrefix(f.Field, "config."))
				fe = append(fe, f)
			}
		}
		byID := map[string]json.RawMessage{}
		for _, ci := range info.Collectors {
			for _, id := range append([]string{ci.ID}, ci.Aliases...) {
				byID[id] = ci.ConfigSchema
			}
		}
		for i, e := range collectors {
			if schema, ok := byID[e.CollectorID]; ok {
				fe = append(fe, unknownKeys(schema, e.Config, fmt.Sprintf("collectors[%d].config", i))...)
			}
		}
	}
	return fe
}

// collectorFieldHint points a strategy-config key that belongs to a collector's config (the
// url of an HTTP check) to where it goes: "; url belongs in collectors[].config.url (the
// \"request\" collector), e.g. …". It is "" for any other key.
func collectorFieldHint(collectors []checks.CollectorInfo, key string) string {
	for _, ci := range collectors {
		var sch struct {
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if json.Unmarshal(ci.ConfigSchema, &sch) != nil {
			continue
		}
		if _, ok := sch.Properties[key]; ok {
			return fmt.Sprintf(`; %s belongs in collectors[].config.%s (the %q collector), e.g. "collectors": [{"collectorId": %q, "config": {%q: …}}]`,
				key, key, ci.ID, ci.ID, key)
		}
	}
	return ""
}

func unknownKeys(schemaRaw, value json.RawMessage, prefix string) []FieldError {
	var schema map[string]any
	if json.Unmarshal(schemaRaw, &schema) != nil {
		return nil
	}
	v, ok := decodeGeneric(value)
	if !ok {
		return nil
	}
	var fe []FieldError
	var walk func(schema map[string]any, v any, path string)
	walk = func(schema map[string]any, v any, path string) {
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		props, hasProps := schema["properties"].(map[string]any)
		if !hasProps {
			return // a map (additionalProperties) or a free-form object
		}
		for _, k := range sortedKeys(obj) {
			ps, known := props[k].(map[string]any)
			if !known {
				fe = append(fe, FieldError{Field: path + "." + k, Message: "unknown field"})
				continue
			}
			walk(ps, obj[k], path+"."+k)
		}
	}
	walk(schema, v, prefix)
	return fe
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// ---- settings --------------------------------------------------------------------------------

func (s *Server) getNotificationDefaults(c echo.Context) error {
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	p, err := s.store.GetNotificationDefaults(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

type notificationPolicyBody struct {
	SuppressDeEscalations *bool `json:"suppressDeEscalations"`
}

// putNotificationDefaults stores the platform default policy and signals every system with
// enabled checks (their entities resolve the policy when they load).
func (s *Server) putNotificationDefaults(c echo.Context) error {
	var b notificationPolicyBody
	if _, err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	if b.SuppressDeEscalations == nil {
		return invalidField("suppressDeEscalations", "is required")
	}
	ctx := c.Request().Context()
	p := health.NotificationPolicy{SuppressDeEscalations: *b.SuppressDeEscalations}
	if err := s.store.SetNotificationDefaults(ctx, p); err != nil {
		return err
	}
	systems, err := s.store.ListSystemsWithEnabledChecks(ctx)
	if err != nil {
		return err
	}
	if err := s.notify(ctx, systems...); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/checkflow/checkflow/internal/automation"
	"github.com/checkflow/checkflow/internal/secretbox"
	"github.com/checkflow/checkflow/internal/store"
)

// Automations (issue 13): "when these events happen (this often), do that". Bodies are parsed
// and compiled by automation.Compiler.Parse (strict: unknown fields, wrong types, invalid
// values and CEL errors with their line:column are 422s naming the field), the actions'
// references (channels, systems, checks) must exist, webhook secrets are sealed before they
// are stored and read "****". Every committed write signals the automation's workflow
// (AutomationChanged).

// automationFields are the top-level fields of an automation body.
var automationFields = []string{"name", "enabled", "trigger", "cooldownSeconds", "actions"}

// ---- representation --------------------------------------------------------------------------

// automationDTO is an automation as the API shows it: secret action config values masked.
type automationDTO struct {
	ID              string              `json:"id"`
	Revision        int64               `json:"revision"`
	Name            string              `json:"name"`
	Enabled         bool                `json:"enabled"`
	Trigger         automation.Trigger  `json:"trigger"`
	CooldownSeconds int                 `json:"cooldownSeconds"`
	Actions         []automation.Action `json:"actions"`
	CreatedAt       time.Time           `json:"createdAt"`
	UpdatedAt       time.Time           `json:"updatedAt"`
}

func automationOut(a store.Automation) automationDTO {
	actions := make([]automation.Action, len(a.Actions))
	for i, act := range a.Actions {
		actions[i] = automation.Action{Type: act.Type, Config: maskActionConfig(act.Type, act.Config)}
	}
	return automationDTO{
		ID: a.ID, Revision: a.Revision, Name: a.Name, Enabled: a.Enabled, Trigger: a.Trigger,
		CooldownSeconds: a.CooldownSeconds, Actions: actions, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
}

// actionSecretPaths lists the secret config keys of an action type as paths for the mask
// helpers.
func actionSecretPaths(t automation.ActionType) [][]string {
	var out [][]string
	for _, k := range automation.SecretConfigKeys(t) {
		out = append(out, []string{k})
	}
	return out
}

// maskActionConfig replaces every present, non-empty secret value of an action config with
// "****" (like maskChannelConfig).
func maskActionConfig(t automation.ActionType, cfg json.RawMessage) json.RawMessage {
	if len(cfg) == 0 {
		return json.RawMessage("{}")
	}
	return maskObject(cfg, actionSecretPaths(t))
}

type automationList struct {
	Items []automationDTO `json:"items"`
}

type automationFireList struct {
	Items []store.Fire `json:"items"`
}

// ---- secrets ---------------------------------------------------------------------------------

// restoreActionSecrets applies "a PATCH without the secret keeps the stored one" to the actions
// array of a PATCH: action i of the patch that leaves a secret key out or sends "****" gets the
// secret of the stored action i when that action has the same type and a secret (actions are
// matched by position). It returns the actions document to parse and the indexes of the actions
// that got a stored (sealed) secret. A "****" with nothing stored stays, for sealActionSecrets to
// report; a document of the wrong shape is returned as it is, for the parser to report.
func restoreActionSecrets(raw json.RawMessage, stored []automation.Action) (json.RawMessage, map[int]bool) {
	restored := map[int]bool{}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return raw, restored
	}
	changed := false
	for i, item := range list {
		m, ok := objectMembers(item)
		if !ok {
			continue
		}
		typ, _ := jsonString(m["type"])
		keys := automation.SecretConfigKeys(automation.ActionType(typ))
		cfg, ok := objectMembers(m["config"])
		if len(keys) == 0 || !ok || i >= len(stored) || string(stored[i].Type) != typ {
			continue
		}
		prev, _ := objectMembers(stored[i].Config)
		touched := false
		for _, k := range keys {
			v, present := cfg[k]
			if str, isStr := jsonString(v); present && (!isStr || str != secretMask) {
				continue // a new value, "" or null (no secret), or a wrong type for the parser
			}
			if old, ok := prev[k]; ok && !emptySecret(old) {
				cfg[k] = old
				touched = true
			}
		}
		if touched {
			m["config"], _ = json.Marshal(cfg)
			list[i], _ = json.Marshal(m)
			restored[i], changed = true, true
		}
	}
	if !changed {
		return raw, restored
	}
	out, err := json.Marshal(list)
	if err != nil {
		return raw, restored
	}
	return out, restored
}

// sealActionSecrets returns actions with every secret config value sealed for storage. The
// secrets of the actions in kept came from the stored automation and are sealed already; any
// other secret is sealed now, except a value that is sealed already (an export of this
// installation), which must open with the server's key. "****" (nothing stored to stand for)
// and a secret without a secret key are field errors "actions[i].config.<key>".
func (s *Server) sealActionSecrets(actions []automation.Action, kept map[int]bool) ([]automation.Action, []FieldError) {
	out := slices.Clone(actions)
	var fe []FieldError
	for i, a := range out {
		keys := automation.SecretConfigKeys(a.Type)
		if len(keys) == 0 || kept[i] {
			continue
		}
		cfg, ok := objectMembers(a.Config)
		if !ok {
			continue
		}
		touched := false
		for _, k := range keys {
			field := fmt.Sprintf("actions[%d].config.%s", i, k)
			str, isStr := jsonString(cfg[k])
			switch {
			case !isStr || str == "":
				continue
			case str == secretMask:
				fe = append(fe, FieldError{Field: field, Message: `"****" stands for a stored secret, but none is stored; send the real value`})
			case secretbox.IsSealed(str):
				if s.box == nil {
					fe = append(fe, secretOpenError(field, secretbox.ErrNoKey))
				} else if _, err := s.box.Open(str); err != nil {
					fe = append(fe, secretOpenError(field, err))
				}
			case s.box == nil:
				fe = append(fe, FieldError{Field: field, Message: "storing a secret needs a secret key; start the server with --secret-key / CHECKFLOW_SECRET_KEY"})
			default:
				sealed, err := s.box.Seal(str)
				if err != nil {
					fe = append(fe, FieldError{Field: field, Message: "could not be encrypted"})
					continue
				}
				cfg[k], _ = json.Marshal(sealed)
				touched = true
			}
		}
		if touched {
			raw, err := json.Marshal(cfg)
			if err != nil {
				fe = append(fe, FieldError{Field: fmt.Sprintf("actions[%d].config", i), Message: "could not be encoded"})
				continue
			}
			out[i].Config = raw
		}
	}
	return out, fe
}

// ---- references ------------------------------------------------------------------------------

// unknownActionRefs names every channel, system and check an action refers to that does not
// exist: "actions[i].config.channelId", ".systemId", ".configurationId". (Whether the check is
// assigned to the system is the action's business when it runs, as in the reference.)
func (s *Server) unknownActionRefs(ctx context.Context, actions []automation.Action) ([]FieldError, error) {
	type ref struct {
		field, id string
	}
	var channels, systems, checks []ref
	for i, a := range actions {
		path := fmt.Sprintf("actions[%d].config.", i)
		switch a.Type {
		case automation.ActionNotify:
			c, err := a.NotifyConfig()
			if err == nil {
				channels = append(channels, ref{path + "channelId", c.ChannelID})
			}
		case automation.ActionRunCheck:
			c, err := a.RunCheckConfig()
			if err == nil {
				systems = append(systems, ref{path + "systemId", c.SystemID})
				checks = append(checks, ref{path + "configurationId", c.ConfigurationID})
			}
		case automation.ActionSetAssignmentEnabled:
			c, err := a.SetAssignmentEnabledConfig()
			if err == nil {
				systems = append(systems, ref{path + "systemId", c.SystemID})
				checks = append(checks, ref{path + "configurationId", c.ConfigurationID})
			}
		}
	}
	ids := func(refs []ref) []string {
		out := make([]string, len(refs))
		for i, r := range refs {
			out[i] = r.id
		}
		return out
	}
	var fe []FieldError
	for _, kind := range []struct {
		refs   []ref
		lookup func(context.Context, []string) (map[string]bool, error)
		what   string
	}{
		{channels, s.store.ExistingChannels, "notification channel"},
		{systems, s.store.ExistingSystems, "system"},
		{checks, s.store.ExistingConfigurations, "check"},
	} {
		if len(kind.refs) == 0 {
			continue
		}
		exists, err := kind.lookup(ctx, ids(kind.refs))
		if err != nil {
			return nil, err
		}
		for _, r := range kind.refs {
			if !exists[r.id] {
				fe = append(fe, FieldError{Field: r.field, Message: fmt.Sprintf("unknown %s %q", kind.what, r.id)})
			}
		}
	}
	return fe, nil
}

// ---- CRUD ------------------------------------------------------------------------------------

func (s *Server) listAutomations(c echo.Context) error {
	q := newQuery(c)
	page := q.page(store.DefaultListLimit)
	f := store.AutomationFilter{Event: q.oneOf("event", automation.EventTypes()...)}
	if err := q.finish(); err != nil {
		return err
	}
	list, err := s.store.ListAutomations(c.Request().Context(), f, page)
	if err != nil {
		return err
	}
	out := automationList{Items: make([]automationDTO, len(list))}
	for i, a := range list {
		out.Items[i] = automationOut(a)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getAutomation(c echo.Context) error {
	id, err := pathParam(c, "automationId")
	if err != nil {
		return err
	}
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	a, err := s.store.GetAutomation(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, automationOut(a))
}

// prepareAutomation turns a parsed and compiled automation into the spec to store: secrets
// sealed (kept: the actions whose secrets are the stored ones) and, when checkRefs, the
// actions' references looked up; their errors are reported together.
func (s *Server) prepareAutomation(ctx context.Context, a *automation.Automation, kept map[int]bool, checkRefs bool) (automation.Spec, error) {
	spec := a.Spec()
	var fe []FieldError
	spec.Actions, fe = s.sealActionSecrets(spec.Actions, kept)
	if checkRefs {
		unknown, err := s.unknownActionRefs(ctx, spec.Actions)
		if err != nil {
			return automation.Spec{}, err
		}
		fe = append(fe, unknown...)
	}
	if len(fe) > 0 {
		return automation.Spec{}, invalidFields(fe...)
	}
	return spec, nil
}

func (s *Server) createAutomation(c echo.Context) error {
	body, err := readJSONDocument(c)
	if err != nil {
		return err
	}
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	a, err := s.compiler.Parse(body)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	spec, err := s.prepareAutomation(ctx, a, nil, true)
	if err != nil {
		return err
	}
	created, err := s.store.CreateAutomation(ctx, spec)
	if err != nil {
		return err
	}
	if err := s.notifyAutomation(ctx, created.ID, false); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, automationOut(created))
}

// updateAutomation merges a PATCH into the stored automation — every top-level field sent
// replaces the stored one whole, absent fields keep theirs — and parses, compiles and validates
// the result as a new automation. Webhook secrets left out of (or sent as "****" in) a sent
// action keep the stored action's at the same position. The references of the actions are
// looked up when actions is sent (a channel deleted since does not block renaming or disabling
// the automation).
func (s *Server) updateAutomation(c echo.Context) error {
	id, err := pathParam(c, "automationId")
	if err != nil {
		return err
	}
	body, err := readJSONDocument(c)
	if err != nil {
		return err
	}
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	patch, ok := objectMembers(body)
	if !ok {
		return invalidField("", "must be a JSON object")
	}
	var fe []FieldError
	for _, k := range slices.Sorted(maps.Keys(patch)) {
		switch {
		case !slices.Contains(automationFields, k):
			fe = append(fe, FieldError{Field: k, Message: "unknown field"})
		case bytes.Equal(bytes.TrimSpace(patch[k]), []byte("null")):
			fe = append(fe, FieldError{Field: k, Message: "must not be null"})
		}
	}
	if len(fe) > 0 {
		return invalidFields(fe...)
	}
	ctx := c.Request().Context()
	cur, err := s.store.GetAutomation(ctx, id)
	if err != nil {
		return err
	}
	if err := s.gitOpsLock(ctx, store.ProvenanceKindAutomation, cur.ID); err != nil {
		return err
	}
	storedDoc, err := json.Marshal(cur.Spec)
	if err != nil {
		return fmt.Errorf("encode automation %s: %w", cur.ID, err)
	}
	doc, ok := objectMembers(storedDoc)
	if !ok {
		return fmt.Errorf("encode automation %s: not an object", cur.ID)
	}
	kept := map[int]bool{}
	_, actionsSent := patch["actions"]
	for k, v := range patch {
		doc[k] = v
	}
	if actionsSent {
		doc["actions"], kept = restoreActionSecrets(patch["actions"], cur.Actions)
	} else {
		for i := range cur.Actions {
			kept[i] = true
		}
	}
	merged, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode the patched automation %s: %w", cur.ID, err)
	}
	a, err := s.compiler.Parse(merged)
	if err != nil {
		return err
	}
	spec, err := s.prepareAutomation(ctx, a, kept, actionsSent)
	if err != nil {
		return err
	}
	updated, err := s.store.UpdateAutomation(ctx, cur.ID, spec)
	if err != nil {
		return err
	}
	if err := s.notifyAutomation(ctx, updated.ID, false); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, automationOut(updated))
}

func (s *Server) deleteAutomation(c echo.Context) error {
	id, err := pathParam(c, "automationId")
	if err != nil {
		return err
	}
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	cur, err := s.store.GetAutomation(ctx, id)
	if err != nil {
		return err
	}
	if err := s.gitOpsLock(ctx, store.ProvenanceKindAutomation, cur.ID); err != nil {
		return err
	}
	if err := s.store.DeleteAutomation(ctx, cur.ID); err != nil {
		return err
	}
	if err := s.notifyAutomation(ctx, cur.ID, true); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// notifyAutomation signals the workflow of an automation after a committed write, like
// notifyMaintenance: within the notify deadline (and notifySignalTimeout), even if the client
// went away; a failure is logged and answered 503 entity-unreachable saying the change was
// saved.
func (s *Server) notifyAutomation(ctx context.Context, automationID string, deleted bool) error {
	saved := "the change was saved"
	retry := "repeat the request to retry"
	if deleted {
		saved = "the automation was deleted"
		retry = "it finds the automation gone when it next reloads it"
	}
	if s.entities == nil {
		return unavailable(ProblemEntityUnreachable, saved+", but no Temporal client is configured to notify the automation's workflow", entityRetryAfter)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(s.timeouts.Notify, notifySignalTimeout))
	defer cancel()
	if err := s.entities.AutomationChanged(ctx, automationID); err != nil {
		s.log.Error("notify an automation's workflow after a change", "automationId", automationID, "err", err)
		return unavailable(ProblemEntityUnreachable, fmt.Sprintf("%s, but the workflow of automation %s could not be notified; %s", saved, automationID, retry), entityRetryAfter)
	}
	return nil
}

// ---- runs ------------------------------------------------------------------------------------

// listAutomationRuns lists an automation's fires (one row per action of a fire, with its
// outcome), newest first.
func (s *Server) listAutomationRuns(c echo.Context) error {
	id, err := pathParam(c, "automationId")
	if err != nil {
		return err
	}
	q := newQuery(c)
	page := q.page(store.DefaultListLimit)
	if err := q.finish(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	cur, err := s.store.GetAutomation(ctx, id)
	if err != nil {
		return err
	}
	fires, err := s.store.ListFires(ctx, cur.ID, page)
	if err != nil {
		return err
	}
	if fires == nil {
		fires = []store.Fire{}
	}
	return c.JSON(http.StatusOK, automationFireList{Items: fires})
}

// ---- :test -----------------------------------------------------------------------------------

type automationTestEvent struct {
	Type    *string         `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

type automationTestBody struct {
	Event    *automationTestEvent `json:"event"`
	EventKey *string              `json:"eventKey"`
}

// automationTestResult is what POST /automations/{id}:test answers.
type automationTestResult struct {
	Matched           bool   `json:"matched"`
	PartitionKey      string `json:"partitionKey"`
	PartitionFallback string `json:"partitionFallback,omitempty"`
	FilterError       string `json:"filterError,omitempty"`
	// At is the time the event is evaluated at: the event's time, or the server's clock for a
	// sample.
	At time.Time `json:"at"`
	// Gate is the window gate's and cooldown's decision (null when the event did not match).
	Gate *automation.GateDecision `json:"gate"`
}

// testAutomation evaluates an automation's trigger and gate against a sample event or a past
// outbox event without recording or doing anything: the filter and partition key
// (Automation.Match), then the gate (Automation.Decide) over the occurrences stored for the
// partition in the window — read, never written — without cooldown state, which lives in the
// automation's workflow.
func (s *Server) testAutomation(c echo.Context) error {
	id, err := pathParam(c, "automationId")
	if err != nil {
		return err
	}
	var b automationTestBody
	if _, err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	switch {
	case b.Event != nil && b.EventKey != nil:
		return invalidField("eventKey", "send either event (a sample) or eventKey (a past event), not both")
	case b.Event == nil && b.EventKey == nil:
		return invalidField("event", "send either event (a sample) or eventKey (a past event)")
	}
	ctx := c.Request().Context()
	cur, err := s.store.GetAutomation(ctx, id)
	if err != nil {
		return err
	}
	a, err := s.compiler.Compile(cur.Spec)
	if err != nil {
		if fields, ok := validationFields(err); ok {
			p := invalidFields(fields...)
			p.Detail = "the stored automation is not valid; fix it with PATCH: " + p.Detail
			return p
		}
		return err
	}
	var ev automation.Event
	if b.EventKey != nil {
		ev, err = s.pastEvent(ctx, *b.EventKey)
	} else {
		ev, err = s.sampleEvent(*b.Event, cur.Trigger.Event)
	}
	if err != nil {
		return err
	}
	m, err := a.Match(ev)
	out := automationTestResult{Matched: m.Matched, PartitionKey: m.PartitionKey, PartitionFallback: m.PartitionFallback, At: ev.At}
	if err != nil {
		var ee *automation.EvalError
		if !errors.As(err, &ee) {
			return err
		}
		out.FilterError = fmt.Sprintf("%s: %v", ee.Field, ee.Err)
	}
	if m.Matched {
		prior, err := s.priorOccurrences(ctx, a, cur.ID, m.PartitionKey, ev)
		if err != nil {
			return err
		}
		gate := a.Decide(ev.At, prior, nil)
		out.Gate = &gate
	}
	return c.JSON(http.StatusOK, out)
}

// pastEvent reads an outbox event by its idempotency key (422 on eventKey when there is none).
func (s *Server) pastEvent(ctx context.Context, key string) (automation.Event, error) {
	if strings.TrimSpace(key) == "" {
		return automation.Event{}, invalidField("eventKey", "must not be empty")
	}
	row, err := s.store.EventByKey(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return automation.Event{}, invalidField("eventKey", "no event has this key (see GET /api/v1/events)")
	}
	if err != nil {
		return automation.Event{}, err
	}
	payload, err := automation.DecodePayload(row.Payload)
	if err != nil {
		return automation.Event{}, fmt.Errorf("event %s: %w", key, err)
	}
	return automation.Event{Key: row.IdempotencyKey, Type: row.Type, Payload: payload, At: row.CreatedAt}, nil
}

// sampleEvent checks a sample event (type defaulting to the trigger's) against its payload
// schema (422 naming event.type or event.payload.<field>); it happens now.
func (s *Server) sampleEvent(in automationTestEvent, triggerEvent string) (automation.Event, error) {
	typ := triggerEvent
	if in.Type != nil {
		typ = *in.Type
	}
	def, ok := automation.LookupEvent(typ)
	if !ok {
		return automation.Event{}, invalidField("event.type", "must be one of "+strings.Join(automation.EventTypes(), ", "))
	}
	if len(bytes.TrimSpace(in.Payload)) == 0 || bytes.Equal(bytes.TrimSpace(in.Payload), []byte("null")) {
		return automation.Event{}, invalidField("event.payload", "is required")
	}
	payload, err := automation.DecodePayload(in.Payload)
	if err != nil {
		return automation.Event{}, invalidField("event.payload", "must be a JSON object")
	}
	if err := def.ValidatePayload(payload); err != nil {
		fields, ok := validationFields(err)
		if !ok {
			return automation.Event{}, err
		}
		return automation.Event{}, invalidFields(prefixed("event", fields)...)
	}
	// Stored event and occurrence times have PostgreSQL's microsecond precision; so does a sample's.
	return automation.Event{Type: typ, Payload: payload, At: s.now().UTC().Truncate(time.Microsecond)}, nil
}

// priorOccurrences reads the partition's occurrences the gate would count for ev: at most
// Automation.PriorLimit newest ones between the window's start and ev.At (later ones did not
// exist when ev happened), ev itself excluded — what the workflow's RecordOccurrence returns,
// read with ListOccurrences and CountOccurrences only (nothing is recorded).
func (s *Server) priorOccurrences(ctx context.Context, a *automation.Automation, automationID, partitionKey string, ev automation.Event) ([]time.Time, error) {
	if !a.HasWindow() {
		return nil, nil
	}
	at := ev.At.Truncate(time.Microsecond) // PostgreSQL's precision
	// Occurrences after ev come first in the newest-first list: read past them.
	later, err := s.store.CountOccurrences(ctx, automationID, partitionKey, at.Add(time.Microsecond))
	if err != nil {
		return nil, err
	}
	list, err := s.store.ListOccurrences(ctx, automationID, partitionKey, a.WindowStart(at), a.PriorLimit()+later+1)
	if err != nil {
		return nil, err
	}
	var prior []time.Time
	for _, o := range list {
		// The store reads the key "*" as every partition; the gate counts one. (For a partition
		// really called "*", other partitions may still crowd the list: a rare, preview-only
		// imprecision.)
		if o.PartitionKey != partitionKey || o.At.After(at) || (ev.Key != "" && o.EventKey == ev.Key) {
			continue
		}
		prior = append(prior, o.At)
		if len(prior) == a.PriorLimit() {
			break
		}
	}
	return prior, nil
}

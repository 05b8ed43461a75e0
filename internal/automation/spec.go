package automation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/checkflow/checkflow/internal/health"
)

// Limits of an automation.
const (
	// MaxNameLength is the longest name, in characters.
	MaxNameLength = 200
	// MaxExpressionLength is the longest filter or partitionBy expression, in characters.
	MaxExpressionLength = 4096
	// MaxActions is the most actions an automation may run per fire.
	MaxActions = 20
	// MaxCooldownSeconds is the longest cooldown (7 days).
	MaxCooldownSeconds = 7 * 24 * 3600
)

// Spec is an automation as configured: the body of POST /api/v1/automations and what the store
// keeps. Its JSON form is the API's:
//
//	{"name": "restart on flapping", "enabled": true,
//	 "trigger": {"event": "healthcheck.system_health_changed",
//	             "filter": "trigger.payload.newStatus != \"healthy\"",
//	             "window": {"count": 3, "minutes": 60, "refire": "once", "partitionBy": "trigger.payload.systemId"}},
//	 "cooldownSeconds": 600,
//	 "actions": [{"type": "webhook", "config": {"url": "https://hooks.example.com/x", "secret": "…"}}]}
//
// Parse decodes and validates that body strictly; Validate checks a Spec built in Go;
// Compiler.Compile additionally compiles and type-checks the CEL expressions.
type Spec struct {
	// Name is shown in lists and notifications (1–200 characters).
	Name string `json:"name"`
	// Enabled automations receive events (Parse defaults it to true).
	Enabled bool `json:"enabled"`
	// Trigger says which events count.
	Trigger Trigger `json:"trigger"`
	// CooldownSeconds suppresses fires of the same partition for this long after a fire
	// (0 = none, at most MaxCooldownSeconds).
	CooldownSeconds int `json:"cooldownSeconds"`
	// Actions run, in order, on every fire (1–MaxActions).
	Actions []Action `json:"actions"`
}

// Trigger selects the events an automation reacts to.
type Trigger struct {
	// Event is one of EventTypes().
	Event string `json:"event"`
	// Filter is an optional CEL expression over trigger.event and trigger.payload that must be
	// true for the event to count ("" = every event of the type).
	Filter string `json:"filter,omitempty"`
	// Window is the optional windowed-count gate of reference §8.4: fire when Count matching
	// events of one partition happened within Minutes; PartitionBy is a CEL expression whose
	// value is the partition (default: the payload's systemId).
	Window *health.WindowConfig `json:"window,omitempty"`
}

// ActionType is the kind of an action.
type ActionType string

// Action types.
const (
	// ActionNotify sends a message through a notification channel (NotifyConfig).
	ActionNotify ActionType = "notify"
	// ActionRunCheck runs a check of a system now (RunCheckConfig; reference healthcheck.run_now).
	ActionRunCheck ActionType = "run_check"
	// ActionSetAssignmentEnabled enables or disables an assignment (SetAssignmentEnabledConfig;
	// reference healthcheck.enable_assignment / disable_assignment).
	ActionSetAssignmentEnabled ActionType = "set_assignment_enabled"
	// ActionWebhook POSTs the event to a URL, signed like notification webhooks (WebhookConfig).
	ActionWebhook ActionType = "webhook"
)

// ActionTypes lists the action types.
func ActionTypes() []ActionType {
	return []ActionType{ActionNotify, ActionRunCheck, ActionSetAssignmentEnabled, ActionWebhook}
}

// Action is one step of a fire: its type and its type's config (see the *Config types; Parse
// stores the config re-encoded, with only the type's fields).
type Action struct {
	Type   ActionType      `json:"type"`
	Config json.RawMessage `json:"config"`
}

// Parse decodes an automation body strictly and validates it (everything but the CEL
// expressions, which Compiler.Compile checks): unknown fields are errors, every value must
// have its type, enabled defaults to true, window.refire to "every", filter and partitionBy are
// trimmed, and each action's config is re-encoded with only its type's fields. Errors are a
// *ValidationError naming every invalid field.
func Parse(raw []byte) (Spec, error) {
	spec, errs := parse(raw)
	if err := errs.err(); err != nil {
		return Spec{}, err
	}
	return spec, nil
}

// parse decodes raw and validates the values; it returns what it could decode along with every
// error (no error on a field whose decoding failed is repeated by the value checks).
func parse(raw []byte) (Spec, fieldErrs) {
	var errs fieldErrs
	top, ok := readObject(raw, "", &errs)
	if !ok {
		return Spec{}, errs
	}
	top.allow("name", "enabled", "trigger", "cooldownSeconds", "actions")
	spec := Spec{Enabled: true}
	spec.Name, _ = top.str("name", true)
	if b, ok := top.boolean("enabled"); ok {
		spec.Enabled = b
	}
	if n, ok := top.integer("cooldownSeconds"); ok {
		spec.CooldownSeconds = n
	}
	if tr, ok := top.object("trigger", true); ok {
		tr.allow("event", "filter", "window")
		spec.Trigger.Event, _ = tr.str("event", true)
		if f, ok := tr.str("filter", false); ok {
			spec.Trigger.Filter = strings.TrimSpace(f)
			if spec.Trigger.Filter == "" {
				errs.add("trigger.filter", "must not be empty (omit it to count every event)")
			}
		}
		if w, ok := tr.object("window", false); ok {
			w.allow("count", "minutes", "refire", "partitionBy")
			if len(w.errs()) == 0 {
				wc, err := health.ParseWindowConfig(w.raw)
				if err != nil {
					errs.addHealth("trigger.window", err)
				} else {
					spec.Trigger.Window = &wc
				}
			}
		}
	}
	if list, ok := top.array("actions", true); ok {
		for i, item := range list {
			path := fmt.Sprintf("actions[%d]", i)
			a, ok := readObject(item, path, &errs)
			if !ok {
				continue
			}
			a.allow("type", "config")
			typ, _ := a.str("type", true)
			act := Action{Type: ActionType(typ)}
			if cfg, ok := a.object("config", true); ok && slices.Contains(ActionTypes(), act.Type) {
				if v, ok := decodeActionConfig(act.Type, cfg.raw, path+".config", &errs); ok {
					act.Config, _ = json.Marshal(v)
				}
			}
			spec.Actions = append(spec.Actions, act)
		}
	}
	decoded := errs
	for _, fe := range spec.validate() {
		if !relatedField(decoded, fe.Field) {
			errs = append(errs, fe)
		}
	}
	return spec, errs
}

// relatedField reports whether errs has an error on field, on one of its parents or on one of
// its children.
func relatedField(errs fieldErrs, field string) bool {
	within := func(child, parent string) bool {
		return strings.HasPrefix(child, parent+".") || strings.HasPrefix(child, parent+"[")
	}
	for _, e := range errs {
		if e.Field == field || within(field, e.Field) || within(e.Field, field) {
			return true
		}
	}
	return false
}

// Validate checks the values of a Spec (everything but compiling the CEL expressions):
// name 1–200 characters; a known trigger event; filter and partitionBy not blank and at most
// MaxExpressionLength characters; window bounds (reference §8.4); cooldownSeconds 0–7 days;
// 1–MaxActions actions of known types whose configs are valid for their type. Errors are a
// *ValidationError.
func (s Spec) Validate() error {
	return s.validate().err()
}

func (s Spec) validate() fieldErrs {
	var errs fieldErrs
	if n := utf8.RuneCountInString(s.Name); strings.TrimSpace(s.Name) == "" || n > MaxNameLength {
		errs.add("name", "must be 1 to %d characters", MaxNameLength)
	}
	if _, ok := LookupEvent(s.Trigger.Event); !ok {
		errs.add("trigger.event", "must be one of %s", strings.Join(EventTypes(), ", "))
	}
	checkExpr := func(field, src string) {
		switch {
		case strings.TrimSpace(src) == "":
			errs.add(field, "must not be empty")
		case utf8.RuneCountInString(src) > MaxExpressionLength:
			errs.add(field, "must be at most %d characters", MaxExpressionLength)
		}
	}
	if s.Trigger.Filter != "" {
		checkExpr("trigger.filter", s.Trigger.Filter)
	}
	if w := s.Trigger.Window; w != nil {
		if err := w.Validate(); err != nil {
			errs.addHealth("trigger.window", err)
		}
		if w.PartitionBy != "" {
			checkExpr("trigger.window.partitionBy", w.PartitionBy)
		}
	}
	if s.CooldownSeconds < 0 || s.CooldownSeconds > MaxCooldownSeconds {
		errs.add("cooldownSeconds", "must be an integer between 0 and %d", MaxCooldownSeconds)
	}
	if len(s.Actions) == 0 || len(s.Actions) > MaxActions {
		errs.add("actions", "must list 1 to %d actions", MaxActions)
	}
	for i, a := range s.Actions {
		path := fmt.Sprintf("actions[%d]", i)
		if !slices.Contains(ActionTypes(), a.Type) {
			errs.add(path+".type", "must be one of notify, run_check, set_assignment_enabled, webhook")
			continue
		}
		decodeActionConfig(a.Type, a.Config, path+".config", &errs)
	}
	return errs
}

// ---- strict JSON reading with field paths -----------------------------------------------------

// object is a decoded JSON object being read key by key.
type object struct {
	path string
	raw  json.RawMessage
	m    map[string]json.RawMessage
	all  *fieldErrs
	n    int // len(*all) when the object was read
}

// readObject decodes raw as a JSON object; a non-object is an error on path.
func readObject(raw json.RawMessage, path string, errs *fieldErrs) (*object, bool) {
	var m map[string]json.RawMessage
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(trimmed, &m) != nil {
		field := path
		errs.add(field, "must be a JSON object")
		return nil, false
	}
	return &object{path: path, raw: trimmed, m: m, all: errs, n: len(*errs)}, true
}

func (o *object) field(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

// errs returns the errors added since the object was read.
func (o *object) errs() fieldErrs { return (*o.all)[o.n:] }

// allow reports every key outside keys as an unknown field (sorted).
func (o *object) allow(keys ...string) {
	var unknown []string
	for k := range o.m {
		if !slices.Contains(keys, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		o.all.add(o.field(k), "unknown field")
	}
}

// value returns the raw value of key; absent and null are "not present" (an error when required).
func (o *object) value(key string, required bool) (json.RawMessage, bool) {
	v, ok := o.m[key]
	if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		if required {
			o.all.add(o.field(key), "is required")
		}
		return nil, false
	}
	return v, true
}

func (o *object) str(key string, required bool) (string, bool) {
	v, ok := o.value(key, required)
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		o.all.add(o.field(key), "must be a string")
		return "", false
	}
	return s, true
}

func (o *object) boolean(key string) (bool, bool) {
	v, ok := o.value(key, false)
	if !ok {
		return false, false
	}
	var b bool
	if json.Unmarshal(v, &b) != nil {
		o.all.add(o.field(key), "must be a boolean")
		return false, false
	}
	return b, true
}

func (o *object) requiredBool(key string) (bool, bool) {
	if _, ok := o.value(key, true); !ok {
		return false, false
	}
	return o.boolean(key)
}

func (o *object) integer(key string) (int, bool) {
	v, ok := o.value(key, false)
	if !ok {
		return 0, false
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	// json.Number also takes a quoted number ("10"): a string is not an integer.
	if t := bytes.TrimSpace(v); len(t) > 0 && t[0] == '"' || dec.Decode(&n) != nil {
		o.all.add(o.field(key), "must be an integer")
		return 0, false
	}
	i, err := n.Int64()
	if err != nil || i < -1<<31 || i > 1<<31-1 {
		o.all.add(o.field(key), "must be an integer")
		return 0, false
	}
	return int(i), true
}

func (o *object) object(key string, required bool) (*object, bool) {
	v, ok := o.value(key, required)
	if !ok {
		return nil, false
	}
	return readObject(v, o.field(key), o.all)
}

func (o *object) array(key string, required bool) ([]json.RawMessage, bool) {
	v, ok := o.value(key, required)
	if !ok {
		return nil, false
	}
	var list []json.RawMessage
	if json.Unmarshal(v, &list) != nil {
		o.all.add(o.field(key), "must be an array")
		return nil, false
	}
	return list, true
}

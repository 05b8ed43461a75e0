package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/checkflow/checkflow/internal/automation"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/notify"
	"github.com/checkflow/checkflow/internal/store"
)

// The kinds NotificationChannel, MaintenanceWindow and Automation:
//
//	apiVersion: checkflow.io/v1alpha1
//	kind: NotificationChannel
//	metadata:
//	  name: ops-slack             # the channel's name on the server (its identity)
//	spec:
//	  type: slack                 # webhook, slack, discord, msteams, pagerduty, email
//	  config:
//	    webhookUrl: {secretRef: OPS_SLACK_WEBHOOK_URL}   # secret fields only by reference
//	  systems: [payments]         # system ids, or ["*"] (the default: every system)
//	  events: [escalation, recovery]   # default: escalation, de-escalation, recovery
//	  remindEvery: 30m            # optional reminder interval (1s–168h)
//	  enabled: true               # default true
//	---
//	apiVersion: checkflow.io/v1alpha1
//	kind: MaintenanceWindow
//	metadata:
//	  name: db upgrade            # the window's title on the server (its identity)
//	spec:
//	  description: Postgres 17
//	  systems: [payments]
//	  startsAt: 2030-05-30T22:00:00Z
//	  endsAt: 2030-05-31T00:00:00Z
//	---
//	apiVersion: checkflow.io/v1alpha1
//	kind: Automation
//	metadata:
//	  name: page-on-flapping      # the automation's name on the server (its identity)
//	spec:
//	  enabled: true               # default true
//	  trigger:
//	    event: healthcheck.system_health_changed
//	    filter: trigger.payload.newStatus != "healthy"
//	    window: {count: 3, minutes: 60, refire: once}
//	  cooldownSeconds: 600
//	  actions:
//	    - {type: notify, channel: ops-slack, title: "{{.Payload.systemId}} flaps"}
//	    - {type: run_check, system: payments, healthcheck: api-health}
//	    - {type: set_assignment_enabled, system: payments, healthcheck: api-health, enabled: false}
//	    - {type: webhook, url: "https://hooks.example.com/x", secret: {secretRef: HOOK_SECRET}}
//
// References: a Healthcheck or NotificationChannel an action names must be defined by a
// manifest (like System.healthchecks); a system (a channel's or window's systems, an action's
// system) may be a System manifest or a system that already exists on the server — apply
// checks the latter (CheckExternalRefs).

// Channel is a notification channel (kind NotificationChannel).
type Channel struct {
	// Name identifies the channel (metadata.name).
	Name string
	Type string
	// Config is the type's config; its secret fields (notify.SecretFields) are *Secret.
	Config map[string]any
	// Systems are system ids, sorted, or ["*"] (every system).
	Systems []string
	// Events are sorted.
	Events []string
	// RemindEverySeconds is the reminder interval (0 = no reminders).
	RemindEverySeconds int
	Enabled            bool
	// ID is the server id (current state only).
	ID  string
	Pos Pos
}

// Window is a maintenance window (kind MaintenanceWindow).
type Window struct {
	// Title identifies the window (metadata.name).
	Title       string
	Description string
	// Systems are sorted system ids.
	Systems  []string
	StartsAt time.Time
	EndsAt   time.Time
	// ID is the server id (current state only).
	ID  string
	Pos Pos
	// EndsAtPos is where spec.endsAt was written (desired state only).
	EndsAtPos Pos
}

// Ended reports whether the window is over at now.
func (w *Window) Ended(now time.Time) bool { return !w.EndsAt.After(now) }

// Automation is an automation (kind Automation).
type Automation struct {
	// Name identifies the automation (metadata.name).
	Name            string
	Enabled         bool
	Event           string
	Filter          string
	Window          *health.WindowConfig
	CooldownSeconds int
	Actions         []AutomationAction
	// ID is the server id (current state only).
	ID  string
	Pos Pos
}

// AutomationAction is one action of an automation; objects are named, not identified by id.
type AutomationAction struct {
	Type string
	// Channel is a NotificationChannel name (notify).
	Channel string
	// Title and Body are notify's templates.
	Title, Body string
	// System is a system id and Check a Healthcheck name (run_check, set_assignment_enabled).
	System string
	Check  string
	// Enabled is set_assignment_enabled's value.
	Enabled bool
	// URL and Secret are webhook's (Secret nil = no signature).
	URL    string
	Secret *Secret
	Pos    Pos
}

// Ref is a reference from one manifest to an object.
type Ref struct {
	Kind Kind
	Name string
	Pos  Pos
	// Doc names the referencing document and Field the path of the reference.
	Doc   string
	Field string
}

// CheckExternalRefs reports the system references of desired that name neither a System
// manifest nor a system for which exists is true.
func CheckExternalRefs(desired *State, exists func(systemID string) bool) error {
	var errs Errors
	for _, r := range desired.ExternalSystems {
		if exists(r.Name) {
			continue
		}
		errs = append(errs, &Error{Pos: r.Pos, Doc: r.Doc, Field: r.Field,
			Msg: fmt.Sprintf("cannot resolve System ref %q: no manifest defines it and the server has no such system", r.Name)})
	}
	if len(errs) > 0 {
		return errs.sorted()
	}
	return nil
}

// CheckWindows reports the maintenance windows the plan would create or update although they
// have ended at now: the API refuses a window whose endsAt is not in the future. (An ended
// window the server already has unchanged is fine.)
func CheckWindows(p Plan, desired *State, now time.Time) error {
	var errs Errors
	for _, c := range p.Changes {
		if c.Kind != KindMaintenanceWindow || (c.Action != ActionCreate && c.Action != ActionUpdate) {
			continue
		}
		w := desired.Windows[c.Name]
		if w == nil || !w.Ended(now) {
			continue
		}
		errs = append(errs, &Error{Pos: w.EndsAtPos, Doc: fmt.Sprintf("%s %q", KindMaintenanceWindow, w.Title), Field: "spec.endsAt",
			Msg: fmt.Sprintf("the window ended at %s: the API only takes windows that end in the future; remove the manifest", w.EndsAt.UTC().Format(time.RFC3339))})
	}
	if len(errs) > 0 {
		return errs.sorted()
	}
	return nil
}

// ---- decoding --------------------------------------------------------------------------------

// mapValue returns the value node of key in a mapping (nil when absent or not a mapping).
func mapValue(n *yaml.Node, key string) (k, v *yaml.Node) {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if deref(n.Content[i]).Value == key {
			return deref(n.Content[i]), deref(n.Content[i+1])
		}
	}
	return nil, nil
}

// systemRef records a system reference: resolved against the System manifests after every file
// is read (resolveRefs), else against the server by apply.
func (d *decoder) systemRef(n *yaml.Node, field, id string) {
	d.refs = append(d.refs, Ref{Kind: KindSystem, Name: id, Pos: d.pos(n), Doc: d.doc, Field: field})
}

// ref records a reference to a Healthcheck or NotificationChannel, which a manifest must define.
func (d *decoder) ref(n *yaml.Node, kind Kind, field, name string) {
	d.refs = append(d.refs, Ref{Kind: kind, Name: name, Pos: d.pos(n), Doc: d.doc, Field: field})
}

// systemList decodes a list of distinct system ids; allowAll accepts ["*"].
func (d *decoder) systemList(n *yaml.Node, path string, allowAll bool) []string {
	nodes := d.seq(n, path)
	if n != nil && len(nodes) == 0 && n.Kind == yaml.SequenceNode {
		d.errorf(n, path, "must list at least one system id")
	}
	var out []string
	seen := map[string]bool{}
	for i, sn := range nodes {
		field := fmt.Sprintf("%s[%d]", path, i)
		id, ok := d.str(sn, field, true)
		if !ok {
			continue
		}
		switch {
		case seen[id]:
			d.errorf(sn, field, "system %q is listed twice", id)
			continue
		case id == store.AllSystems && !allowAll:
			d.errorf(sn, field, `"*" is not allowed here: list system ids`)
			continue
		case id == store.AllSystems && len(nodes) > 1:
			d.errorf(sn, field, `"*" (every system) cannot be combined with system ids`)
			continue
		case id != store.AllSystems:
			d.systemRef(sn, field, id)
		}
		seen[id] = true
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func (d *decoder) channel(n *yaml.Node, name string) *Channel {
	spec := d.fields(n, "spec", []string{"type", "config", "systems", "events", "remindEvery", "enabled"}, "type")
	if spec == nil {
		return nil
	}
	before := len(d.errs)
	ch := &Channel{Name: name, Config: map[string]any{}, Systems: []string{store.AllSystems}, Events: store.DefaultChannelEvents(), Enabled: true}
	typeOK := false
	if t, ok := d.str(spec["type"], "spec.type", true); ok {
		ch.Type = t
		if typeOK = slices.Contains(notify.Types(), t); !typeOK {
			d.errorf(spec["type"], "spec.type", "unknown channel type %q (known: %s)", t, strings.Join(notify.Types(), ", "))
		}
	}
	if cfg := spec["config"]; cfg != nil {
		ch.Config = d.object(cfg, "spec.config")
	}
	if typeOK && len(d.errs) == before {
		d.channelConfig(spec["config"], n, ch)
	}
	if sn := spec["systems"]; sn != nil {
		ch.Systems = d.systemList(sn, "spec.systems", true)
	}
	if en := spec["events"]; en != nil {
		nodes := d.seq(en, "spec.events")
		if en.Kind == yaml.SequenceNode && len(nodes) == 0 {
			d.errorf(en, "spec.events", "must list at least one event: %s", strings.Join(store.ChannelEvents(), ", "))
		}
		ch.Events = nil
		for i, evn := range nodes {
			field := fmt.Sprintf("spec.events[%d]", i)
			ev, ok := d.str(evn, field, true)
			switch {
			case !ok:
			case !slices.Contains(store.ChannelEvents(), ev):
				d.errorf(evn, field, "unknown event %q (known: %s)", ev, strings.Join(store.ChannelEvents(), ", "))
			case slices.Contains(ch.Events, ev):
				d.errorf(evn, field, "event %q is listed twice", ev)
			default:
				ch.Events = append(ch.Events, ev)
			}
		}
	}
	sort.Strings(ch.Events)
	if rn := spec["remindEvery"]; rn != nil {
		if v, ok := d.str(rn, "spec.remindEvery", true); ok {
			dur, err := time.ParseDuration(v)
			switch {
			case err != nil:
				d.errorf(rn, "spec.remindEvery", `must be a duration such as "30m", "1h30m" or "24h", got %q`, v)
			case dur < time.Second || dur > store.MaxRemindEverySeconds*time.Second:
				d.errorf(rn, "spec.remindEvery", "must be between 1s and 168h (7 days), got %s", v)
			case dur%time.Second != 0:
				d.errorf(rn, "spec.remindEvery", "must be a whole number of seconds, got %s", v)
			default:
				ch.RemindEverySeconds = int(dur / time.Second)
			}
		}
	}
	if v, ok := d.boolean(spec["enabled"], "spec.enabled"); ok {
		ch.Enabled = v
	}
	if len(d.errs) > before {
		return nil
	}
	return ch
}

// channelConfig checks a channel's config: its secret fields must be given by reference, and
// the config (secrets resolved) must be valid for the type; errors name spec.config.<key> at
// the key's position.
func (d *decoder) channelConfig(cfgNode, specNode *yaml.Node, ch *Channel) {
	at := func(key string) *yaml.Node {
		if k, _ := mapValue(cfgNode, key); k != nil {
			return k
		}
		if cfgNode != nil {
			return cfgNode
		}
		return specNode
	}
	for _, key := range notify.SecretFields(ch.Type) {
		v, present := ch.Config[key]
		if _, secret := v.(*Secret); present && !secret {
			d.errorf(at(key), "spec.config."+key, "is a secret of a %s channel: write it as {secretRef: NAME} or {secretFile: PATH}, never in the manifest", ch.Type)
		}
	}
	plain, err := ChannelConfigJSON(ch.Type, ch.Config)
	if err != nil {
		d.errorf(at(""), "spec.config", "%v", err)
		return
	}
	err = notify.Validate(ch.Type, plain)
	if err == nil {
		return
	}
	var fields []health.FieldError
	var pve *health.ValidationError
	var ve health.ValidationError
	switch {
	case errors.As(err, &pve):
		fields = pve.Errors
	case errors.As(err, &ve):
		fields = ve.Errors
	default:
		d.errorf(at(""), "spec.config", "%v", err)
		return
	}
	for _, f := range fields {
		key, _, _ := strings.Cut(strings.TrimPrefix(f.Field, "config."), ".")
		msg := f.Message
		if _, secret := ch.Config[key].(*Secret); secret {
			msg = "the secret's value is not valid (not shown)" // never echo a secret
		}
		d.errorf(at(key), "spec."+f.Field, "%s", msg)
	}
}

// ChannelConfigJSON is a channel config as the API takes it: secrets resolved, and a secret of
// a non-string field (a webhook's headers) decoded from its JSON text.
func ChannelConfigJSON(typ string, cfg map[string]any) (json.RawMessage, error) {
	plain, _ := PlainValue(mapAny(cfg)).(map[string]any)
	for k, v := range cfg {
		s, ok := v.(*Secret)
		if !ok || s.Masked {
			continue
		}
		if raw, ok := notify.SecretFromText(typ, k, s.value); ok {
			var decoded any
			if err := json.Unmarshal(raw, &decoded); err == nil {
				plain[k] = decoded
			}
		}
	}
	b, err := json.Marshal(plain)
	if err != nil {
		return nil, fmt.Errorf("encode the config: %w", err)
	}
	return b, nil
}

// instant decodes an RFC 3339 date-time (a YAML timestamp or string).
func (d *decoder) instant(n *yaml.Node, path string) (time.Time, bool) {
	if n == nil {
		return time.Time{}, false
	}
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!timestamp" && n.Tag != "!!str") {
		d.errorf(n, path, "must be an RFC 3339 date-time such as 2030-05-30T22:00:00Z, got %s", describe(n))
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, n.Value)
	if err != nil {
		d.errorf(n, path, "must be an RFC 3339 date-time such as 2030-05-30T22:00:00Z, got %q", n.Value)
		return time.Time{}, false
	}
	return t.UTC(), true
}

func (d *decoder) window(n *yaml.Node, title string) *Window {
	spec := d.fields(n, "spec", []string{"description", "systems", "startsAt", "endsAt"}, "systems", "startsAt", "endsAt")
	if spec == nil {
		return nil
	}
	before := len(d.errs)
	if len([]rune(title)) > 200 {
		d.errorf(n, "metadata.name", "a window title has at most 200 characters")
	}
	w := &Window{Title: title}
	if v, ok := d.str(spec["description"], "spec.description", false); ok {
		w.Description = v
	}
	w.Systems = d.systemList(spec["systems"], "spec.systems", false)
	start, okStart := d.instant(spec["startsAt"], "spec.startsAt")
	end, okEnd := d.instant(spec["endsAt"], "spec.endsAt")
	w.StartsAt, w.EndsAt = start, end
	if spec["endsAt"] != nil {
		w.EndsAtPos = d.pos(spec["endsAt"])
	}
	if okStart && okEnd && !end.After(start) {
		d.errorf(spec["endsAt"], "spec.endsAt", "must be after spec.startsAt (%s)", start.Format(time.RFC3339))
	}
	if len(d.errs) > before {
		return nil
	}
	return w
}

// actionFields are the fields of each action type (besides type) and the required ones.
func actionFields(t string) (known, required []string) {
	switch automation.ActionType(t) {
	case automation.ActionNotify:
		return []string{"type", "channel", "title", "body"}, []string{"channel"}
	case automation.ActionRunCheck:
		return []string{"type", "system", "healthcheck"}, []string{"system", "healthcheck"}
	case automation.ActionSetAssignmentEnabled:
		return []string{"type", "system", "healthcheck", "enabled"}, []string{"system", "healthcheck", "enabled"}
	case automation.ActionWebhook:
		return []string{"type", "url", "secret"}, []string{"url"}
	}
	return nil, nil
}

func (d *decoder) automation(n *yaml.Node, name string) *Automation {
	spec := d.fields(n, "spec", []string{"enabled", "trigger", "cooldownSeconds", "actions"}, "trigger", "actions")
	if spec == nil {
		return nil
	}
	before := len(d.errs)
	if len([]rune(name)) > automation.MaxNameLength {
		d.errorf(n, "metadata.name", "an automation name has at most %d characters", automation.MaxNameLength)
	}
	a := &Automation{Name: name, Enabled: true}
	if v, ok := d.boolean(spec["enabled"], "spec.enabled"); ok {
		a.Enabled = v
	}
	if v, ok := d.integer(spec["cooldownSeconds"], "spec.cooldownSeconds", 0, automation.MaxCooldownSeconds); ok {
		a.CooldownSeconds = v
	}
	if tr := d.fields(spec["trigger"], "spec.trigger", []string{"event", "filter", "window"}, "event"); tr != nil {
		if ev, ok := d.str(tr["event"], "spec.trigger.event", true); ok {
			if !slices.Contains(automation.EventTypes(), ev) {
				d.errorf(tr["event"], "spec.trigger.event", "unknown event %q (known: %s)", ev, strings.Join(automation.EventTypes(), ", "))
			}
			a.Event = ev
		}
		if v, ok := d.str(tr["filter"], "spec.trigger.filter", true); ok {
			a.Filter = strings.TrimSpace(v)
		}
		if wn := tr["window"]; wn != nil {
			if wf := d.fields(wn, "spec.trigger.window", []string{"count", "minutes", "refire", "partitionBy"}, "count", "minutes"); wf != nil {
				raw, _ := json.Marshal(d.value(wn, "spec.trigger.window"))
				wc, err := health.ParseWindowConfig(raw)
				if err != nil {
					d.errorf(wn, "spec.trigger.window", "%s", err)
				} else {
					a.Window = &wc
				}
			}
		}
	}
	nodes := d.seq(spec["actions"], "spec.actions")
	if spec["actions"] != nil && spec["actions"].Kind == yaml.SequenceNode && (len(nodes) == 0 || len(nodes) > automation.MaxActions) {
		d.errorf(spec["actions"], "spec.actions", "must list 1 to %d actions", automation.MaxActions)
	}
	for i, an := range nodes {
		a.Actions = append(a.Actions, d.action(an, fmt.Sprintf("spec.actions[%d]", i)))
	}
	if len(d.errs) > before {
		return nil
	}
	return a
}

func (d *decoder) action(n *yaml.Node, path string) AutomationAction {
	act := AutomationAction{Pos: d.pos(n)}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping, got %s", describe(n))
		return act
	}
	_, tn := mapValue(n, "type")
	if tn == nil {
		d.errorf(n, path+".type", "is required (one of %s)", actionTypesText())
		return act
	}
	t, ok := d.str(tn, path+".type", true)
	if !ok {
		return act
	}
	known, required := actionFields(t)
	if known == nil {
		d.errorf(tn, path+".type", "unknown action type %q (known: %s)", t, actionTypesText())
		return act
	}
	act.Type = t
	f := d.fields(n, path, known, required...)
	if f == nil {
		return act
	}
	if cn := f["channel"]; cn != nil {
		if v, ok := d.str(cn, path+".channel", true); ok {
			act.Channel = v
			d.ref(cn, KindNotificationChannel, path+".channel", v)
		}
	}
	if v, ok := d.str(f["title"], path+".title", false); ok {
		act.Title = v
	}
	if v, ok := d.str(f["body"], path+".body", false); ok {
		act.Body = v
	}
	if sn := f["system"]; sn != nil {
		if v, ok := d.str(sn, path+".system", true); ok {
			act.System = v
			d.systemRef(sn, path+".system", v)
		}
	}
	if hn := f["healthcheck"]; hn != nil {
		if v, ok := d.str(hn, path+".healthcheck", true); ok {
			act.Check = v
			d.ref(hn, KindHealthcheck, path+".healthcheck", v)
		}
	}
	if v, ok := d.boolean(f["enabled"], path+".enabled"); ok {
		act.Enabled = v
	}
	if v, ok := d.str(f["url"], path+".url", true); ok {
		if !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
			d.errorf(f["url"], path+".url", "must be an http:// or https:// URL")
		}
		act.URL = v
	}
	if sn := f["secret"]; sn != nil {
		s, isSecret := d.value(sn, path+".secret").(*Secret)
		if !isSecret {
			d.errorf(sn, path+".secret", "is a secret: write it as {secretRef: NAME} or {secretFile: PATH}, never in the manifest")
		}
		act.Secret = s
	}
	return act
}

func actionTypesText() string {
	var out []string
	for _, t := range automation.ActionTypes() {
		out = append(out, string(t))
	}
	return strings.Join(out, ", ")
}

// resolveKindRefs resolves the references recorded by the new kinds: Healthcheck and
// NotificationChannel refs must name a manifest; System refs that name no manifest are left
// for apply (ExternalSystems).
func (d *decoder) resolveKindRefs() {
	for _, r := range d.refs {
		if _, defined := d.firstPos[string(r.Kind)+"/"+r.Name]; defined {
			continue // defined (if invalid: already reported)
		}
		if r.Kind == KindSystem {
			d.state.ExternalSystems = append(d.state.ExternalSystems, r)
			continue
		}
		d.errs = append(d.errs, &Error{Pos: r.Pos, Doc: r.Doc, Field: r.Field,
			Msg: fmt.Sprintf("cannot resolve %s ref %q: no manifest defines it", r.Kind, r.Name)})
	}
}

// WithoutEndedWindows returns a copy of s (sharing its objects) without the maintenance windows
// that have ended at now, and the titles of those it left out: export skips ended windows, which
// the API would refuse to create again.
func (s *State) WithoutEndedWindows(now time.Time) (*State, []string) {
	out := *s
	out.Windows = map[string]*Window{}
	var ended []string
	for _, title := range sortedKeys(s.Windows) {
		if w := s.Windows[title]; w.Ended(now) {
			ended = append(ended, title)
		} else {
			out.Windows[title] = w
		}
	}
	return &out, ended
}

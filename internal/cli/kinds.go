package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/checkflow/checkflow/internal/apiclient"
	"github.com/checkflow/checkflow/internal/automation"
	"github.com/checkflow/checkflow/internal/manifest"
)

// TrackedKinds are the kinds apply marks with provenance (the server's provenance API and
// GitOps lock know them): every kind of manifest. Only objects the context manages are pruned
// (or reported as kept), and another context's objects are refused.
func TrackedKinds() []manifest.Kind {
	return []manifest.Kind{manifest.KindHealthcheck, manifest.KindSystem, manifest.KindNotificationChannel,
		manifest.KindMaintenanceWindow, manifest.KindAutomation}
}

func tracked(k manifest.Kind) bool { return slices.Contains(TrackedKinds(), k) }

// addObject records the id of a named object of kind; a second object with the name makes the
// name a duplicate (left out of the state by the caller).
func (r *Remote) addObject(kind manifest.Kind, name, id string) (dup bool) {
	if r.ObjectIDs[kind] == nil {
		r.ObjectIDs[kind], r.ObjectNames[kind], r.DuplicateNames[kind] = map[string]string{}, map[string]string{}, map[string][]string{}
	}
	r.ObjectNames[kind][id] = name
	if prev, ok := r.ObjectIDs[kind][name]; ok {
		if len(r.DuplicateNames[kind][name]) == 0 {
			r.DuplicateNames[kind][name] = []string{prev}
		}
		r.DuplicateNames[kind][name] = append(r.DuplicateNames[kind][name], id)
		return true
	}
	r.ObjectIDs[kind][name] = id
	return false
}

// objectID returns the id of a named object of kind ("" when unknown).
func (r *Remote) objectID(kind manifest.Kind, name string) string { return r.ObjectIDs[kind][name] }

// fetchKinds reads the channels, maintenance windows and automations into r (after the checks:
// automations name checks).
func fetchKinds(ctx context.Context, c *apiclient.Client, r *Remote) error {
	channels, err := c.ListChannels(ctx)
	if err != nil {
		return fmt.Errorf("read notification channels: %w", err)
	}
	for _, ch := range channels {
		if r.addObject(manifest.KindNotificationChannel, ch.Name, ch.ID) {
			continue
		}
		m, err := channelModel(ch)
		if err != nil {
			return err
		}
		r.State.Channels[ch.Name] = m
	}
	windows, err := c.ListMaintenances(ctx)
	if err != nil {
		return fmt.Errorf("read maintenance windows: %w", err)
	}
	for _, w := range windows {
		if r.addObject(manifest.KindMaintenanceWindow, w.Title, w.ID) {
			continue
		}
		systems := slices.Clone(w.SystemIDs)
		sort.Strings(systems)
		r.State.Windows[w.Title] = &manifest.Window{Title: w.Title, Description: w.Description, Systems: systems,
			StartsAt: w.StartsAt.UTC(), EndsAt: w.EndsAt.UTC(), ID: w.ID}
	}
	autos, err := c.ListAutomations(ctx)
	if err != nil {
		return fmt.Errorf("read automations: %w", err)
	}
	for _, a := range autos {
		if r.addObject(manifest.KindAutomation, a.Name, a.ID) {
			continue
		}
		m, err := r.automationModel(a)
		if err != nil {
			return err
		}
		r.State.Automations[a.Name] = m
	}
	for kind, dups := range r.DuplicateNames {
		for name := range dups {
			switch kind {
			case manifest.KindNotificationChannel:
				delete(r.State.Channels, name)
			case manifest.KindMaintenanceWindow:
				delete(r.State.Windows, name)
			case manifest.KindAutomation:
				delete(r.State.Automations, name)
			}
		}
	}
	return nil
}

// channelModel converts an API channel into the model (masked secrets stay masked).
func channelModel(ch apiclient.Channel) (*manifest.Channel, error) {
	cfg, err := manifest.ValueFromJSON(ch.Config)
	if err != nil {
		return nil, fmt.Errorf("notification channel %q: %w", ch.Name, err)
	}
	m := &manifest.Channel{Name: ch.Name, Type: ch.Type, Enabled: ch.Enabled, ID: ch.ID,
		Systems: slices.Clone(ch.Systems), Events: slices.Clone(ch.Events)}
	m.Config, _ = cfg.(map[string]any)
	if m.Config == nil {
		m.Config = map[string]any{}
	}
	sort.Strings(m.Systems)
	sort.Strings(m.Events)
	if ch.RemindEvery != nil {
		d, err := time.ParseDuration(*ch.RemindEvery)
		if err != nil {
			return nil, fmt.Errorf("notification channel %q: remindEvery %q: %w", ch.Name, *ch.RemindEvery, err)
		}
		m.RemindEverySeconds = int(d / time.Second)
	}
	return m, nil
}

// actionConfig is the union of the action configs' fields.
type actionConfig struct {
	ChannelID       string `json:"channelId,omitempty"`
	Title           string `json:"title,omitempty"`
	Body            string `json:"body,omitempty"`
	SystemID        string `json:"systemId,omitempty"`
	ConfigurationID string `json:"configurationId,omitempty"`
	Enabled         *bool  `json:"enabled,omitempty"`
	URL             string `json:"url,omitempty"`
	Secret          string `json:"secret,omitempty"`
}

// automationModel converts an API automation into the model: ids become names (an id whose
// object is unknown stays the id, which then differs from any manifest).
func (r *Remote) automationModel(a apiclient.Automation) (*manifest.Automation, error) {
	m := &manifest.Automation{Name: a.Name, Enabled: a.Enabled, Event: a.Trigger.Event, Filter: a.Trigger.Filter,
		Window: a.Trigger.Window, CooldownSeconds: a.CooldownSeconds, ID: a.ID}
	for i, act := range a.Actions {
		var cfg actionConfig
		if len(act.Config) > 0 {
			if err := json.Unmarshal(act.Config, &cfg); err != nil {
				return nil, fmt.Errorf("automation %q: actions[%d].config: %w", a.Name, i, err)
			}
		}
		ma := manifest.AutomationAction{Type: string(act.Type), Title: cfg.Title, Body: cfg.Body, System: cfg.SystemID, URL: cfg.URL}
		if cfg.ChannelID != "" {
			ma.Channel = r.ObjectNames[manifest.KindNotificationChannel][cfg.ChannelID]
			if ma.Channel == "" {
				ma.Channel = cfg.ChannelID
			}
		}
		if cfg.ConfigurationID != "" {
			if ma.Check = r.CheckNames[cfg.ConfigurationID]; ma.Check == "" {
				ma.Check = cfg.ConfigurationID
			}
		}
		if cfg.Enabled != nil {
			ma.Enabled = *cfg.Enabled
		}
		if cfg.Secret != "" {
			ma.Secret = &manifest.Secret{Masked: true}
		}
		m.Actions = append(m.Actions, ma)
	}
	return m, nil
}

// channelInput is the API body of a desired channel.
func channelInput(ch *manifest.Channel) (apiclient.ChannelInput, error) {
	cfg, err := manifest.ChannelConfigJSON(ch.Type, ch.Config)
	if err != nil {
		return apiclient.ChannelInput{}, err
	}
	in := apiclient.ChannelInput{Name: ch.Name, Type: ch.Type, Config: cfg, Systems: ch.Systems, Events: ch.Events, Enabled: ch.Enabled}
	if ch.RemindEverySeconds > 0 {
		s := manifest.DurationText(ch.RemindEverySeconds)
		in.RemindEvery = &s
	}
	return in, nil
}

// automationSpec is the API body of a desired automation: names become ids.
func (a *applier) automationSpec(m *manifest.Automation) (automation.Spec, error) {
	spec := automation.Spec{Name: m.Name, Enabled: m.Enabled, CooldownSeconds: m.CooldownSeconds,
		Trigger: automation.Trigger{Event: m.Event, Filter: m.Filter, Window: m.Window}}
	for i, act := range m.Actions {
		var cfg actionConfig
		switch automation.ActionType(act.Type) {
		case automation.ActionNotify:
			cfg = actionConfig{ChannelID: a.remote.objectID(manifest.KindNotificationChannel, act.Channel), Title: act.Title, Body: act.Body}
			if cfg.ChannelID == "" {
				return spec, fmt.Errorf("%s: Automation %q: spec.actions[%d].channel: NotificationChannel %q has no id on the server", act.Pos, m.Name, i, act.Channel)
			}
		case automation.ActionRunCheck, automation.ActionSetAssignmentEnabled:
			cfg = actionConfig{SystemID: act.System, ConfigurationID: a.remote.CheckIDs[act.Check]}
			if cfg.ConfigurationID == "" {
				return spec, fmt.Errorf("%s: Automation %q: spec.actions[%d].healthcheck: Healthcheck %q has no id on the server", act.Pos, m.Name, i, act.Check)
			}
			if act.Type == string(automation.ActionSetAssignmentEnabled) {
				enabled := act.Enabled
				cfg.Enabled = &enabled
			}
		case automation.ActionWebhook:
			// The secret is always sent: on an update, an absent one would keep the stored one.
			secret := ""
			if act.Secret != nil {
				secret, _ = manifest.PlainValue(act.Secret).(string)
			}
			raw, err := json.Marshal(map[string]string{"url": act.URL, "secret": secret})
			if err != nil {
				return spec, fmt.Errorf("encode the actions of Automation %q: %w", m.Name, err)
			}
			spec.Actions = append(spec.Actions, automation.Action{Type: automation.ActionWebhook, Config: raw})
			continue
		}
		raw, err := json.Marshal(cfg)
		if err != nil {
			return spec, fmt.Errorf("encode the actions of Automation %q: %w", m.Name, err)
		}
		spec.Actions = append(spec.Actions, automation.Action{Type: automation.ActionType(act.Type), Config: raw})
	}
	return spec, nil
}

// kindConflicts reports the problems of the new kinds the server state makes: names several
// server objects share, objects another context manages, and a channel whose type would change.
func kindConflicts(desired *manifest.State, remote *Remote, context string) []string {
	var problems []string
	check := func(kind manifest.Kind, name string, pos manifest.Pos) {
		if ids := remote.DuplicateNames[kind][name]; len(ids) > 0 {
			problems = append(problems, fmt.Sprintf("%s: %s %q: %d objects on the server have this name (%v); rename all but one", pos, kind, name, len(ids), ids))
		}
		if src := remote.Source(kind, name); src != "" && src != context {
			problems = append(problems, fmt.Sprintf("%s: %s %q is managed by context %q, not %q", pos, kind, name, src, context))
		}
	}
	for _, name := range sortedNames(desired.Channels) {
		ch := desired.Channels[name]
		check(manifest.KindNotificationChannel, name, ch.Pos)
		if have := remote.State.Channels[name]; have != nil && have.Type != ch.Type {
			problems = append(problems, fmt.Sprintf("%s: NotificationChannel %q: spec.type cannot change from %q to %q (the server keeps a channel's type); give the new channel another name",
				ch.Pos, name, have.Type, ch.Type))
		}
	}
	for _, title := range sortedNames(desired.Windows) {
		check(manifest.KindMaintenanceWindow, title, desired.Windows[title].Pos)
	}
	for _, name := range sortedNames(desired.Automations) {
		check(manifest.KindAutomation, name, desired.Automations[name].Pos)
	}
	return problems
}

// applyKinds creates and updates the channels, maintenance windows and automations of the
// plan, in that order (automations name channels), and marks them all as managed by the
// context (unchanged ones too, counting those it adopts).
func (a *applier) applyKinds(ctx context.Context, plan manifest.Plan) error {
	for _, ch := range plan.Changes {
		if ch.Kind != manifest.KindNotificationChannel || ch.Action == manifest.ActionDelete || ch.Action == manifest.ActionKept {
			continue
		}
		want := a.desired.Channels[ch.Name]
		if ch.Action == manifest.ActionCreate || ch.Action == manifest.ActionUpdate {
			in, err := channelInput(want)
			if err != nil {
				return fmt.Errorf("%s: NotificationChannel %q: %w", want.Pos, ch.Name, err)
			}
			if ch.Action == manifest.ActionCreate {
				created, err := a.cl.CreateChannel(ctx, in)
				if err != nil {
					return fmt.Errorf("%s: create NotificationChannel %q: %w", want.Pos, ch.Name, err)
				}
				a.remote.addObject(manifest.KindNotificationChannel, ch.Name, created.ID)
			} else if _, err := a.cl.UpdateChannel(ctx, a.remote.objectID(manifest.KindNotificationChannel, ch.Name), in); err != nil {
				return fmt.Errorf("%s: update NotificationChannel %q: %w", want.Pos, ch.Name, err)
			}
		} else if a.remote.Source(manifest.KindNotificationChannel, ch.Name) == "" {
			a.adopted++
		}
		if err := a.mark(ctx, manifest.KindNotificationChannel, ch.Name, a.remote.objectID(manifest.KindNotificationChannel, ch.Name)); err != nil {
			return err
		}
	}
	for _, ch := range plan.Changes {
		if ch.Kind != manifest.KindMaintenanceWindow || ch.Action == manifest.ActionDelete || ch.Action == manifest.ActionKept {
			continue
		}
		want := a.desired.Windows[ch.Name]
		if ch.Action == manifest.ActionCreate || ch.Action == manifest.ActionUpdate {
			in := apiclient.MaintenanceInput{Title: want.Title, Description: want.Description, SystemIDs: want.Systems, StartsAt: want.StartsAt, EndsAt: want.EndsAt}
			if ch.Action == manifest.ActionCreate {
				created, err := a.cl.CreateMaintenance(ctx, in)
				if err != nil {
					return fmt.Errorf("%s: create MaintenanceWindow %q: %w", want.Pos, ch.Name, err)
				}
				a.remote.addObject(manifest.KindMaintenanceWindow, ch.Name, created.ID)
			} else if _, err := a.cl.UpdateMaintenance(ctx, a.remote.objectID(manifest.KindMaintenanceWindow, ch.Name), in); err != nil {
				return fmt.Errorf("%s: update MaintenanceWindow %q: %w", want.Pos, ch.Name, err)
			}
		} else if a.remote.Source(manifest.KindMaintenanceWindow, ch.Name) == "" {
			a.adopted++
		}
		if err := a.mark(ctx, manifest.KindMaintenanceWindow, ch.Name, a.remote.objectID(manifest.KindMaintenanceWindow, ch.Name)); err != nil {
			return err
		}
	}
	for _, ch := range plan.Changes {
		if ch.Kind != manifest.KindAutomation || ch.Action == manifest.ActionDelete || ch.Action == manifest.ActionKept {
			continue
		}
		want := a.desired.Automations[ch.Name]
		id := a.remote.objectID(manifest.KindAutomation, ch.Name)
		switch ch.Action {
		case manifest.ActionCreate, manifest.ActionUpdate:
			spec, err := a.automationSpec(want)
			if err != nil {
				return err
			}
			if ch.Action == manifest.ActionCreate {
				created, err := a.cl.CreateAutomation(ctx, spec)
				if err != nil {
					return fmt.Errorf("%s: create Automation %q: %w", want.Pos, ch.Name, err)
				}
				id = created.ID
				a.remote.addObject(manifest.KindAutomation, ch.Name, id)
			} else if _, err := a.cl.UpdateAutomation(ctx, id, spec); err != nil {
				return fmt.Errorf("%s: update Automation %q: %w", want.Pos, ch.Name, err)
			}
		case manifest.ActionUnchanged:
			if a.remote.Source(manifest.KindAutomation, ch.Name) == "" {
				a.adopted++
			}
		}
		if err := a.mark(ctx, manifest.KindAutomation, ch.Name, id); err != nil {
			return err
		}
	}
	return nil
}

// deleteKind deletes one object the plan prunes and releases its provenance.
func (a *applier) deleteKind(ctx context.Context, kind manifest.Kind, name string) error {
	var id string
	var err error
	switch kind {
	case manifest.KindSystem:
		id = name
		err = a.cl.DeleteSystem(ctx, id)
	case manifest.KindHealthcheck:
		id = a.remote.CheckIDs[name]
		err = a.cl.DeleteCheck(ctx, id)
	case manifest.KindNotificationChannel:
		id = a.remote.objectID(kind, name)
		err = a.cl.DeleteChannel(ctx, id)
	case manifest.KindMaintenanceWindow:
		id = a.remote.objectID(kind, name)
		err = a.cl.DeleteMaintenance(ctx, id)
	case manifest.KindAutomation:
		id = a.remote.objectID(kind, name)
		err = a.cl.DeleteAutomation(ctx, id)
	}
	if err != nil && !apiclient.IsStatus(err, 404) {
		return fmt.Errorf("delete %s %q: %w", kind, name, err)
	}
	if !tracked(kind) {
		return nil
	}
	if err := a.cl.DeleteProvenance(ctx, string(kind), id); err != nil && !apiclient.IsStatus(err, 404) {
		return fmt.Errorf("release %s %q: %w", kind, name, err)
	}
	return nil
}

package manifest

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/checkflow/checkflow/internal/health"
)

// diffKinds appends the creates, updates and unchanged objects of the kinds of kinds.go.
func diffKinds(p *Plan, desired, current *State) {
	for _, name := range sortedKeys(desired.Channels) {
		have, ok := current.Channels[name]
		p.Changes = append(p.Changes, change(KindNotificationChannel, name, ok, func() []FieldChange { return diffChannel(have, desired.Channels[name]) }))
	}
	for _, title := range sortedKeys(desired.Windows) {
		have, ok := current.Windows[title]
		p.Changes = append(p.Changes, change(KindMaintenanceWindow, title, ok, func() []FieldChange { return diffWindow(have, desired.Windows[title]) }))
	}
	for _, name := range sortedKeys(desired.Automations) {
		have, ok := current.Automations[name]
		p.Changes = append(p.Changes, change(KindAutomation, name, ok, func() []FieldChange { return diffAutomation(have, desired.Automations[name]) }))
	}
}

func change(kind Kind, name string, exists bool, fields func() []FieldChange) Change {
	if !exists {
		return Change{Action: ActionCreate, Kind: kind, Name: name}
	}
	if fc := fields(); len(fc) > 0 {
		return Change{Action: ActionUpdate, Kind: kind, Name: name, Fields: fc}
	}
	return Change{Action: ActionUnchanged, Kind: kind, Name: name}
}

func diffChannel(have, want *Channel) []FieldChange {
	var fc []FieldChange
	if have.Type != want.Type {
		fc = append(fc, FieldChange{"type", render(have.Type), render(want.Type)})
	}
	fc = append(fc, diffValue("config", mapAny(have.Config), mapAny(want.Config))...)
	if !slices.Equal(have.Systems, want.Systems) {
		fc = append(fc, FieldChange{"systems", render(stringsAny(have.Systems)), render(stringsAny(want.Systems))})
	}
	if !slices.Equal(have.Events, want.Events) {
		fc = append(fc, FieldChange{"events", render(stringsAny(have.Events)), render(stringsAny(want.Events))})
	}
	if have.RemindEverySeconds != want.RemindEverySeconds {
		fc = append(fc, FieldChange{"remindEvery", remindText(have.RemindEverySeconds), remindText(want.RemindEverySeconds)})
	}
	if have.Enabled != want.Enabled {
		fc = append(fc, FieldChange{"enabled", render(have.Enabled), render(want.Enabled)})
	}
	return fc
}

// remindText renders a reminder interval ("(none)" when off).
func remindText(seconds int) string {
	if seconds == 0 {
		return "(none)"
	}
	return render(DurationText(seconds))
}

// DurationText renders whole seconds as a compact Go duration ("30m", "1h30m", "45s").
func DurationText(seconds int) string {
	d := time.Duration(seconds) * time.Second
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	out := ""
	if h > 0 {
		out += fmt.Sprintf("%dh", h)
	}
	if m > 0 {
		out += fmt.Sprintf("%dm", m)
	}
	if s > 0 || out == "" {
		out += fmt.Sprintf("%ds", s)
	}
	return out
}

func diffWindow(have, want *Window) []FieldChange {
	var fc []FieldChange
	if have.Description != want.Description {
		fc = append(fc, FieldChange{"description", render(have.Description), render(want.Description)})
	}
	if !slices.Equal(have.Systems, want.Systems) {
		fc = append(fc, FieldChange{"systems", render(stringsAny(have.Systems)), render(stringsAny(want.Systems))})
	}
	if !have.StartsAt.Equal(want.StartsAt) {
		fc = append(fc, FieldChange{"startsAt", instantText(have.StartsAt), instantText(want.StartsAt)})
	}
	if !have.EndsAt.Equal(want.EndsAt) {
		fc = append(fc, FieldChange{"endsAt", instantText(have.EndsAt), instantText(want.EndsAt)})
	}
	return fc
}

func instantText(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func diffAutomation(have, want *Automation) []FieldChange {
	var fc []FieldChange
	if have.Enabled != want.Enabled {
		fc = append(fc, FieldChange{"enabled", render(have.Enabled), render(want.Enabled)})
	}
	if have.Event != want.Event {
		fc = append(fc, FieldChange{"trigger.event", render(have.Event), render(want.Event)})
	}
	if have.Filter != want.Filter {
		fc = append(fc, FieldChange{"trigger.filter", render(have.Filter), render(want.Filter)})
	}
	if hw, ww := windowText(have.Window), windowText(want.Window); hw != ww {
		fc = append(fc, FieldChange{"trigger.window", hw, ww})
	}
	if have.CooldownSeconds != want.CooldownSeconds {
		fc = append(fc, FieldChange{"cooldownSeconds", render(have.CooldownSeconds), render(want.CooldownSeconds)})
	}
	n := max(len(have.Actions), len(want.Actions))
	for i := range n {
		path := fmt.Sprintf("actions[%d]", i)
		switch {
		case i >= len(have.Actions):
			fc = append(fc, FieldChange{path, "(absent)", actionText(want.Actions[i])})
		case i >= len(want.Actions):
			fc = append(fc, FieldChange{path, actionText(have.Actions[i]), "(removed)"})
		case !actionsEqual(have.Actions[i], want.Actions[i]):
			fc = append(fc, FieldChange{path, actionText(have.Actions[i]), actionText(want.Actions[i])})
		}
	}
	return fc
}

// windowText renders a trigger window ("(none)" when absent), refire defaulted.
func windowText(w *health.WindowConfig) string {
	if w == nil {
		return "(none)"
	}
	c := *w
	if c.Refire == "" {
		c.Refire = health.RefireEvery
	}
	b, _ := json.Marshal(c)
	return string(b)
}

// actionsEqual compares two actions; a webhook secret compares like a config secret (a masked
// current secret equals any desired one: its value cannot be read back).
func actionsEqual(a, b AutomationAction) bool {
	if a.Type != b.Type || a.Channel != b.Channel || a.Title != b.Title || a.Body != b.Body ||
		a.System != b.System || a.Check != b.Check || a.Enabled != b.Enabled || a.URL != b.URL {
		return false
	}
	switch {
	case a.Secret == nil && b.Secret == nil:
		return true
	case a.Secret == nil || b.Secret == nil:
		return false
	}
	eq, _ := secretsEqual(a.Secret, b.Secret)
	return eq
}

// actionText renders an action for people, secrets as "(secret)".
func actionText(a AutomationAction) string {
	m := map[string]any{"type": a.Type}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("channel", a.Channel)
	set("title", a.Title)
	set("body", a.Body)
	set("system", a.System)
	set("healthcheck", a.Check)
	set("url", a.URL)
	if a.Type == "set_assignment_enabled" {
		m["enabled"] = a.Enabled
	}
	if a.Secret != nil {
		m["secret"] = a.Secret
	}
	return render(m)
}

package manifest

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/health"
)

// Action is what a plan does with one object.
type Action string

// Plan actions. Kept is an object the context manages that no manifest names any more,
// left in place because the plan was made without prune.
const (
	ActionCreate    Action = "create"
	ActionUpdate    Action = "update"
	ActionDelete    Action = "delete"
	ActionUnchanged Action = "unchanged"
	ActionKept      Action = "kept"
)

// FieldChange is one changed field of an update, its values rendered for people (secrets as
// "(secret)", long values shortened).
type FieldChange struct {
	Field string
	Old   string
	New   string
}

// Change is what the plan does with one object.
type Change struct {
	Action Action
	Kind   Kind
	// Name is the object's identity: the check, channel or automation name, the system id or
	// the maintenance window title.
	Name string
	// Fields lists the changed fields of an update.
	Fields []FieldChange
	// SystemChanged: a System update changes the system itself (name, description, labels).
	SystemChanged bool
	// Assign lists the checks (names) a System update or create assigns or re-assigns;
	// Unassign the ones it removes.
	Assign   []string
	Unassign []string
}

// FieldNames returns the names of the changed fields.
func (c Change) FieldNames() []string {
	out := make([]string, len(c.Fields))
	for i, f := range c.Fields {
		out[i] = f.Field
	}
	return out
}

// Plan is the ordered list of changes that makes the current state the desired one: objects
// are created and updated in Kinds order (checks, systems, channels, maintenance windows,
// automations: before the objects that reference them) and deleted in the reverse order.
type Plan struct {
	Changes []Change
}

// Count returns how many changes have the action.
func (p Plan) Count(a Action) int {
	n := 0
	for _, c := range p.Changes {
		if c.Action == a {
			n++
		}
	}
	return n
}

// HasChanges reports whether applying the plan writes anything.
func (p Plan) HasChanges() bool {
	return p.Count(ActionCreate)+p.Count(ActionUpdate)+p.Count(ActionDelete) > 0
}

// Managed is the set of objects managed by the apply's context, by kind and name (check
// names, system ids).
type Managed map[Kind]map[string]bool

// Has reports whether (kind, name) is managed.
func (m Managed) Has(kind Kind, name string) bool { return m[kind][name] }

// Diff computes the plan from current to desired. Objects of current that desired does not
// name are deleted when they are managed and prune is set, reported as kept when they are
// managed and prune is not set, and ignored when they are not managed (they belong to
// nobody's manifests, or another context's). Diff is pure.
func Diff(desired, current *State, managed Managed, prune bool) Plan {
	var p Plan
	for _, name := range sortedKeys(desired.Checks) {
		want := desired.Checks[name]
		have, ok := current.Checks[name]
		if !ok {
			p.Changes = append(p.Changes, Change{Action: ActionCreate, Kind: KindHealthcheck, Name: name})
			continue
		}
		if fields := diffCheck(have, want); len(fields) > 0 {
			p.Changes = append(p.Changes, Change{Action: ActionUpdate, Kind: KindHealthcheck, Name: name, Fields: fields})
		} else {
			p.Changes = append(p.Changes, Change{Action: ActionUnchanged, Kind: KindHealthcheck, Name: name})
		}
	}
	for _, id := range sortedKeys(desired.Systems) {
		want := desired.Systems[id]
		have, ok := current.Systems[id]
		if !ok {
			c := Change{Action: ActionCreate, Kind: KindSystem, Name: id, SystemChanged: true}
			for _, a := range want.Healthchecks {
				c.Assign = append(c.Assign, a.Check)
			}
			p.Changes = append(p.Changes, c)
			continue
		}
		c := diffSystem(have, want)
		if len(c.Fields) > 0 {
			c.Action = ActionUpdate
		} else {
			c.Action = ActionUnchanged
		}
		p.Changes = append(p.Changes, c)
	}
	diffKinds(&p, desired, current)
	gone := func(kind Kind, names []string, inDesired func(string) bool) {
		for _, name := range names {
			if inDesired(name) || !managed.Has(kind, name) {
				continue
			}
			a := ActionKept
			if prune {
				a = ActionDelete
			}
			p.Changes = append(p.Changes, Change{Action: a, Kind: kind, Name: name})
		}
	}
	gone(KindAutomation, sortedKeys(current.Automations), func(n string) bool { _, ok := desired.Automations[n]; return ok })
	gone(KindMaintenanceWindow, sortedKeys(current.Windows), func(n string) bool { _, ok := desired.Windows[n]; return ok })
	gone(KindNotificationChannel, sortedKeys(current.Channels), func(n string) bool { _, ok := desired.Channels[n]; return ok })
	gone(KindSystem, sortedKeys(current.Systems), func(id string) bool { _, ok := desired.Systems[id]; return ok })
	gone(KindHealthcheck, sortedKeys(current.Checks), func(n string) bool { _, ok := desired.Checks[n]; return ok })
	return p
}

func diffCheck(have, want *Check) []FieldChange {
	var fc []FieldChange
	if have.Strategy != want.Strategy {
		fc = append(fc, FieldChange{"strategy", render(have.Strategy), render(want.Strategy)})
	}
	if have.IntervalSeconds != want.IntervalSeconds {
		fc = append(fc, FieldChange{"intervalSeconds", render(have.IntervalSeconds), render(want.IntervalSeconds)})
	}
	if have.Paused != want.Paused {
		fc = append(fc, FieldChange{"paused", render(have.Paused), render(want.Paused)})
	}
	fc = append(fc, diffValue("config", mapAny(have.Config), mapAny(want.Config))...)
	hc, wc := collectorsByID(have.Collectors), collectorsByID(want.Collectors)
	ids := slices.Sorted(func(yield func(string) bool) {
		seen := map[string]bool{}
		for _, m := range []map[string]Collector{hc, wc} {
			for id := range m {
				if !seen[id] {
					seen[id] = true
					if !yield(id) {
						return
					}
				}
			}
		}
	})
	for _, id := range ids {
		path := fmt.Sprintf("collectors[%s]", id)
		h, hok := hc[id]
		w, wok := wc[id]
		switch {
		case !hok:
			fc = append(fc, FieldChange{path, "(absent)", "(added)"})
		case !wok:
			fc = append(fc, FieldChange{path, "(present)", "(removed)"})
		default:
			fc = append(fc, diffValue(path+".config", mapAny(h.Config), mapAny(w.Config))...)
			if !reflect.DeepEqual(assertionsValue(h.Assertions), assertionsValue(w.Assertions)) {
				fc = append(fc, FieldChange{path + ".assertions", render(assertionsValue(h.Assertions)), render(assertionsValue(w.Assertions))})
			}
		}
	}
	return fc
}

func collectorsByID(cs []Collector) map[string]Collector {
	m := make(map[string]Collector, len(cs))
	for _, c := range cs {
		m[c.CollectorID] = c
	}
	return m
}

// assertionsValue is the JSON form of assertions (numbers as float64), for comparing.
func assertionsValue(as []checks.Assertion) any {
	if len(as) == 0 {
		return []any{}
	}
	b, _ := json.Marshal(as)
	var v any
	_ = json.Unmarshal(b, &v)
	return v
}

func mapAny(m map[string]any) any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func diffSystem(have, want *System) Change {
	c := Change{Kind: KindSystem, Name: want.ID}
	if have.Name != want.Name {
		c.Fields = append(c.Fields, FieldChange{"title", render(have.Name), render(want.Name)})
		c.SystemChanged = true
	}
	if have.Description != want.Description {
		c.Fields = append(c.Fields, FieldChange{"description", render(have.Description), render(want.Description)})
		c.SystemChanged = true
	}
	if !labelsEqual(have.Labels, want.Labels) {
		c.Fields = append(c.Fields, FieldChange{"labels", render(labelsAny(have.Labels)), render(labelsAny(want.Labels))})
		c.SystemChanged = true
	}
	if !want.ManageHealthchecks {
		return c
	}
	hm := map[string]Assignment{}
	for _, a := range have.Healthchecks {
		hm[a.Check] = a
	}
	wm := map[string]bool{}
	for _, w := range want.Healthchecks {
		wm[w.Check] = true
		path := fmt.Sprintf("healthchecks[%s]", w.Check)
		h, ok := hm[w.Check]
		if !ok {
			c.Fields = append(c.Fields, FieldChange{path, "(absent)", "(assigned)"})
			c.Assign = append(c.Assign, w.Check)
			continue
		}
		fields := diffAssignment(path, h, w)
		if len(fields) > 0 {
			c.Fields = append(c.Fields, fields...)
			c.Assign = append(c.Assign, w.Check)
		}
	}
	for _, h := range have.Healthchecks {
		if !wm[h.Check] {
			c.Fields = append(c.Fields, FieldChange{fmt.Sprintf("healthchecks[%s]", h.Check), "(assigned)", "(removed)"})
			c.Unassign = append(c.Unassign, h.Check)
		}
	}
	sort.Strings(c.Unassign)
	return c
}

func diffAssignment(path string, h, w Assignment) []FieldChange {
	var fc []FieldChange
	if h.Enabled != w.Enabled {
		fc = append(fc, FieldChange{path + ".enabled", render(h.Enabled), render(w.Enabled)})
	}
	if ht, wt := thresholdsText(h.Thresholds), thresholdsText(w.Thresholds); ht != wt {
		fc = append(fc, FieldChange{path + ".stateThresholds", ht, wt})
	}
	if hp, wp := policyText(h.NotificationPolicy), policyText(w.NotificationPolicy); hp != wp {
		fc = append(fc, FieldChange{path + ".notificationPolicy", hp, wp})
	}
	hl, wl := h.Locations, w.Locations
	if len(hl) == 0 {
		hl = nil
	}
	if len(wl) == 0 {
		wl = nil
	}
	if !slices.Equal(hl, wl) {
		fc = append(fc, FieldChange{path + ".locations", render(stringsAny(hl)), render(stringsAny(wl))})
	}
	if hq, wq := quorumText(h.Quorum), quorumText(w.Quorum); hq != wq {
		fc = append(fc, FieldChange{path + ".quorum", hq, wq})
	}
	return fc
}

// quorumText renders a quorum; nil (a majority of the locations, whatever their number) and an
// explicit quorum equal to the current majority differ, as thresholds do.
func quorumText(q *int) string {
	if q == nil {
		return "(majority)"
	}
	return strconv.Itoa(*q)
}

// thresholdsText renders thresholds; nil and the explicit defaults differ (nil follows the
// platform defaults, an explicit value does not).
func thresholdsText(t *health.Thresholds) string {
	if t == nil {
		return "(defaults)"
	}
	b, _ := json.Marshal(t.WithDefaults())
	return string(b)
}

func policyText(p *health.NotificationPolicy) string {
	if p == nil {
		return "(inherited)"
	}
	return fmt.Sprintf("{suppressDeEscalations: %v}", p.SuppressDeEscalations)
}

func labelsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func labelsAny(m map[string]string) any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func stringsAny(s []string) any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// secretsEqual: two secrets are equal (a masked current value cannot be compared), and a
// masked current value is equal to any desired string (a plain value in a secret field is
// stored sealed and never read back).
func secretsEqual(have, want any) (equal, secret bool) {
	hs, hok := have.(*Secret)
	_, wok := want.(*Secret)
	switch {
	case hok && wok:
		return true, true
	case hok && hs.Masked:
		_, str := want.(string)
		return str, true
	case wok:
		return false, true
	}
	return false, false
}

// diffValue compares JSON-like values, recursing into mappings; it returns the changed paths.
func diffValue(path string, have, want any) []FieldChange {
	if eq, secret := secretsEqual(have, want); secret {
		if eq {
			return nil
		}
		return []FieldChange{{path, render(have), render(want)}}
	}
	hm, hok := have.(map[string]any)
	wm, wok := want.(map[string]any)
	if hok && wok {
		keys := map[string]bool{}
		for k := range hm {
			keys[k] = true
		}
		for k := range wm {
			keys[k] = true
		}
		var fc []FieldChange
		for _, k := range sortedKeys(keys) {
			hv, hin := hm[k]
			wv, win := wm[k]
			p := path + "." + k
			switch {
			case !hin:
				fc = append(fc, FieldChange{p, "(absent)", render(wv)})
			case !win:
				fc = append(fc, FieldChange{p, render(hv), "(absent)"})
			default:
				fc = append(fc, diffValue(p, hv, wv)...)
			}
		}
		return fc
	}
	if valuesEqual(have, want) {
		return nil
	}
	return []FieldChange{{path, render(have), render(want)}}
}

// valuesEqual compares JSON-like values; secrets compare as in secretsEqual.
func valuesEqual(a, b any) bool {
	if eq, secret := secretsEqual(a, b); secret {
		return eq
	}
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !valuesEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !valuesEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(normNumber(a), normNumber(b))
}

func normNumber(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	}
	return v
}

// render shows a value for people: compact JSON, secrets as "(secret)", at most 80 characters.
func render(v any) string {
	b, err := json.Marshal(displayValue(v))
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(b)
	if len([]rune(s)) > 80 {
		s = string([]rune(s)[:77]) + "..."
	}
	return s
}

// displayValue replaces secrets with "(secret)".
func displayValue(v any) any {
	switch x := v.(type) {
	case *Secret:
		return x.String()
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = displayValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = displayValue(e)
		}
		return out
	}
	return v
}

// WriteText writes the plan for people: one line per create, update (with its changed
// fields), delete and kept object, then the counts; "No changes." when nothing would change.
func (p Plan) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, c := range p.Changes {
		switch c.Action {
		case ActionCreate:
			fmt.Fprintf(&b, "+ create %s %q\n", c.Kind, c.Name)
		case ActionUpdate:
			fmt.Fprintf(&b, "~ update %s %q\n", c.Kind, c.Name)
			for _, f := range c.Fields {
				fmt.Fprintf(&b, "    %s: %s → %s\n", f.Field, f.Old, f.New)
			}
		case ActionDelete:
			fmt.Fprintf(&b, "- delete %s %q\n", c.Kind, c.Name)
		case ActionKept:
			fmt.Fprintf(&b, "! kept %s %q: managed by this context but in no manifest (--prune deletes it)\n", c.Kind, c.Name)
		}
	}
	if !p.HasChanges() {
		fmt.Fprintf(&b, "No changes. %d unchanged", p.Count(ActionUnchanged))
		if k := p.Count(ActionKept); k > 0 {
			fmt.Fprintf(&b, ", %d kept", k)
		}
		b.WriteString(".\n")
	} else {
		fmt.Fprintf(&b, "Plan: %d to create, %d to update, %d to delete, %d unchanged",
			p.Count(ActionCreate), p.Count(ActionUpdate), p.Count(ActionDelete), p.Count(ActionUnchanged))
		if k := p.Count(ActionKept); k > 0 {
			fmt.Fprintf(&b, ", %d kept", k)
		}
		b.WriteString(".\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

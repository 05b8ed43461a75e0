package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/checkflow/checkflow/internal/apiclient"
	"github.com/checkflow/checkflow/internal/manifest"
)

// Remote is the server's configuration as the manifest model, with the ids behind the names
// and who manages what.
type Remote struct {
	State *manifest.State
	// CheckIDs maps check names to ids; CheckNames ids to names.
	CheckIDs   map[string]string
	CheckNames map[string]string
	// Duplicates lists check names several checks share (they cannot be managed by name).
	Duplicates map[string][]string
	// Sources maps "Kind/name" (check name, system id, channel name, window title, automation
	// name) to the GitOps context managing it.
	Sources map[string]string
	// ObjectIDs maps the names of channels, maintenance windows (titles) and automations to
	// their ids, by kind; ObjectNames the ids to the names.
	ObjectIDs   map[manifest.Kind]map[string]string
	ObjectNames map[manifest.Kind]map[string]string
	// DuplicateNames lists, by kind, the channel names, window titles and automation names
	// several objects share (they cannot be managed by name).
	DuplicateNames map[manifest.Kind]map[string][]string
}

// Source returns the context managing (kind, name), "" when unmanaged.
func (r *Remote) Source(kind manifest.Kind, name string) string {
	return r.Sources[string(kind)+"/"+name]
}

// Managed returns the objects managed by the context.
func (r *Remote) Managed(context string) manifest.Managed {
	m := manifest.Managed{}
	for _, k := range TrackedKinds() {
		m[k] = map[string]bool{}
	}
	for key, src := range r.Sources {
		if src != context {
			continue
		}
		kind, name, _ := strings.Cut(key, "/")
		if m[manifest.Kind(kind)] != nil {
			m[manifest.Kind(kind)][name] = true
		}
	}
	return m
}

// FetchRemote reads the server's checks, systems, assignments, notification channels,
// maintenance windows, automations and provenance through the API.
func FetchRemote(ctx context.Context, c *apiclient.Client) (*Remote, error) {
	r := &Remote{State: manifest.NewState(), CheckIDs: map[string]string{}, CheckNames: map[string]string{},
		Duplicates: map[string][]string{}, Sources: map[string]string{},
		ObjectIDs: map[manifest.Kind]map[string]string{}, ObjectNames: map[manifest.Kind]map[string]string{},
		DuplicateNames: map[manifest.Kind]map[string][]string{}}
	list, err := c.ListChecks(ctx)
	if err != nil {
		return nil, fmt.Errorf("read checks: %w", err)
	}
	for _, ch := range list {
		r.CheckNames[ch.ID] = ch.Name
		if prev, dup := r.CheckIDs[ch.Name]; dup {
			if len(r.Duplicates[ch.Name]) == 0 {
				r.Duplicates[ch.Name] = []string{prev}
			}
			r.Duplicates[ch.Name] = append(r.Duplicates[ch.Name], ch.ID)
			continue
		}
		r.CheckIDs[ch.Name] = ch.ID
		mc, err := checkModel(ch)
		if err != nil {
			return nil, err
		}
		r.State.Checks[ch.Name] = mc
	}
	for name := range r.Duplicates {
		delete(r.State.Checks, name)
	}
	systems, err := c.ListSystems(ctx)
	if err != nil {
		return nil, fmt.Errorf("read systems: %w", err)
	}
	for _, sys := range systems {
		as, err := c.ListAssignments(ctx, sys.ID)
		if err != nil {
			return nil, fmt.Errorf("read the checks of system %s: %w", sys.ID, err)
		}
		ms := &manifest.System{ID: sys.ID, Name: sys.Name, Description: sys.Description, Labels: sys.Labels, ManageHealthchecks: true}
		if ms.Labels == nil {
			ms.Labels = map[string]string{}
		}
		for _, a := range as {
			name := r.CheckNames[a.ConfigurationID]
			if name == "" {
				name = a.ConfigurationName
			}
			ms.Healthchecks = append(ms.Healthchecks, manifest.Assignment{Check: name, Enabled: a.Enabled,
				Thresholds: a.StateThresholds, NotificationPolicy: a.NotificationPolicy, Locations: a.Locations, Quorum: a.Quorum})
		}
		sort.Slice(ms.Healthchecks, func(i, j int) bool { return ms.Healthchecks[i].Check < ms.Healthchecks[j].Check })
		r.State.Systems[sys.ID] = ms
	}
	if err := fetchKinds(ctx, c, r); err != nil {
		return nil, err
	}
	prov, err := c.ListProvenance(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("read provenance: %w", err)
	}
	for _, p := range prov {
		name := p.EntityID
		switch k := manifest.Kind(p.Kind); k {
		case manifest.KindHealthcheck:
			if name = r.CheckNames[p.EntityID]; name == "" {
				continue // the check is gone
			}
		case manifest.KindSystem:
		default:
			if name = r.ObjectNames[k][p.EntityID]; name == "" {
				continue // gone, or a kind this CLI does not know
			}
		}
		r.Sources[p.Kind+"/"+name] = p.Source
	}
	return r, nil
}

// checkModel converts an API check into the model (masked secrets stay masked).
func checkModel(ch apiclient.Check) (*manifest.Check, error) {
	cfg, err := manifest.ValueFromJSON(ch.Config)
	if err != nil {
		return nil, fmt.Errorf("check %q: %w", ch.Name, err)
	}
	m := &manifest.Check{Name: ch.Name, ID: ch.ID, Strategy: ch.StrategyID, IntervalSeconds: ch.IntervalSeconds, Paused: ch.Paused}
	m.Config, _ = cfg.(map[string]any)
	if m.Config == nil {
		m.Config = map[string]any{}
	}
	entries, err := ch.CollectorEntries()
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		v, err := manifest.ValueFromJSON(e.Config)
		if err != nil {
			return nil, fmt.Errorf("check %q collector %s: %w", ch.Name, e.CollectorID, err)
		}
		cc, _ := v.(map[string]any)
		if cc == nil {
			cc = map[string]any{}
		}
		m.Collectors = append(m.Collectors, manifest.Collector{CollectorID: e.CollectorID, Config: cc, Assertions: e.Assertions})
	}
	return m, nil
}

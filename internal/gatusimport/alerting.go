package gatusimport

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/checkflow/checkflow/internal/manifest"
	"github.com/checkflow/checkflow/internal/store"
)

// providerField maps a key of a Gatus alerting provider to a key of a checkflow channel config.
type providerField struct {
	gatus, checkflow string
	// kind is "string", "secret" (written as a secretRef), "int" or "list" (comma-separated).
	kind     string
	required bool
}

// provider is a Gatus alerting provider that converts into a channel type.
type provider struct {
	channelType string
	fields      []providerField
}

// providers are the Gatus alerting providers with a checkflow channel type.
var providers = map[string]provider{
	"slack":           {"slack", []providerField{{"webhook-url", "webhookUrl", "secret", true}}},
	"discord":         {"discord", []providerField{{"webhook-url", "webhookUrl", "secret", true}}},
	"teams":           {"msteams", []providerField{{"webhook-url", "webhookUrl", "secret", true}}},
	"teams-workflows": {"msteams", []providerField{{"webhook-url", "webhookUrl", "secret", true}}},
	"pagerduty":       {"pagerduty", []providerField{{"integration-key", "routingKey", "secret", true}}},
	"email": {"email", []providerField{
		{"host", "host", "string", true},
		{"port", "port", "int", false},
		{"username", "username", "string", false},
		{"password", "password", "secret", false},
		{"from", "from", "string", true},
		{"to", "to", "list", true},
	}},
}

// ChannelName is the name of the NotificationChannel converted from a Gatus provider.
func ChannelName(provider string) string { return "gatus-" + provider }

// convertAlerts reads an endpoint's alerts: the types of its enabled alerts; the per-alert
// settings are added to skipped.
func convertAlerts(v any, skipped []string) (types []string, _ []string) {
	list, ok := v.([]any)
	if !ok {
		return nil, append(skipped, "alerts: not a list")
	}
	for i, item := range list {
		m, ok := item.(map[string]any)
		typ, _ := m["type"].(string)
		if !ok || typ == "" {
			skipped = append(skipped, fmt.Sprintf("alerts[%d]: not a mapping with a type", i))
			continue
		}
		if enabled, isBool := m["enabled"].(bool); isBool && !enabled {
			skipped = append(skipped, fmt.Sprintf("alerts[%d] (%s): disabled, not converted", i, typ))
			continue
		}
		types = append(types, typ)
		for _, k := range sortedKeys(m) {
			if k != "type" && k != "enabled" {
				skipped = append(skipped, fmt.Sprintf("alerts[%d].%s: not converted (a channel notifies on the system's state changes)", i, k))
			}
		}
	}
	return types, skipped
}

// envRef is a Gatus environment variable reference, "${NAME}".
var envRef = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// convertAlerting converts the alerting providers into channels for the systems whose
// endpoints alert through them (alertSystems: provider → system ids).
func convertAlerting(res *Result, v any, alertSystems map[string]map[string]bool) {
	m, ok := v.(map[string]any)
	if !ok {
		res.Skipped = append(res.Skipped, "alerting: not a mapping")
		return
	}
	seen := map[string]bool{}
	for _, name := range sortedKeys(m) {
		where := "alerting." + name
		p, ok := providers[name]
		if !ok {
			res.Skipped = append(res.Skipped, where+": not converted (no checkflow channel type for this provider)")
			continue
		}
		cfg, ok := m[name].(map[string]any)
		if !ok {
			res.Skipped = append(res.Skipped, where+": not converted: not a mapping")
			continue
		}
		systems := sortedKeys(boolsAny(alertSystems[name]))
		if len(systems) == 0 {
			res.Skipped = append(res.Skipped, where+": not converted: no converted endpoint alerts through it")
			continue
		}
		config, secrets, err := providerConfig(name, p, cfg)
		if err != nil {
			res.Skipped = append(res.Skipped, where+": not converted: "+err.Error())
			continue
		}
		known := map[string]bool{}
		for _, f := range p.fields {
			known[f.gatus] = true
		}
		for _, k := range sortedKeys(cfg) {
			if !known[k] {
				res.Skipped = append(res.Skipped, where+"."+k+": not converted")
			}
		}
		for _, s := range secrets {
			if !seen[s.Name] {
				seen[s.Name] = true
				res.Secrets = append(res.Secrets, s)
			}
		}
		res.State.Channels[ChannelName(name)] = &manifest.Channel{
			Name: ChannelName(name), Type: p.channelType, Config: config, Systems: systems,
			Events: sortedEvents(store.DefaultChannelEvents()), Enabled: true,
		}
	}
}

// providerConfig converts a provider's settings into a channel config; secrets become
// secretRefs (the provider's own ${NAME}, else GATUS_<PROVIDER>_<KEY>).
func providerConfig(name string, p provider, cfg map[string]any) (map[string]any, []SecretRef, error) {
	out := map[string]any{}
	var secrets []SecretRef
	for _, f := range p.fields {
		raw, present := cfg[f.gatus]
		if !present || raw == nil || raw == "" {
			if f.required {
				return nil, nil, fmt.Errorf("%s is missing", f.gatus)
			}
			continue
		}
		switch f.kind {
		case "secret":
			s, ok := raw.(string)
			if !ok {
				return nil, nil, fmt.Errorf("%s: not a string", f.gatus)
			}
			ref := envName("GATUS_" + name + "_" + f.gatus)
			if m := envRef.FindStringSubmatch(s); m != nil {
				ref = m[1]
			}
			out[f.checkflow] = &manifest.Secret{Ref: ref}
			secrets = append(secrets, SecretRef{Name: ref, Source: "alerting." + name + "." + f.gatus})
		case "string":
			out[f.checkflow] = fmt.Sprint(raw)
		case "int":
			n, err := strconv.Atoi(fmt.Sprint(raw))
			if err != nil {
				return nil, nil, fmt.Errorf("%s: not an integer", f.gatus)
			}
			out[f.checkflow] = float64(n)
		case "list":
			var items []any
			for _, part := range strings.Split(fmt.Sprint(raw), ",") {
				if part = strings.TrimSpace(part); part != "" {
					items = append(items, part)
				}
			}
			out[f.checkflow] = items
		}
	}
	return out, secrets, nil
}

var nonEnv = regexp.MustCompile(`[^A-Z0-9_]+`)

// envName makes an environment variable name: upper case, [A-Z0-9_].
func envName(s string) string {
	return strings.Trim(nonEnv.ReplaceAllString(strings.ToUpper(s), "_"), "_")
}

func boolsAny(m map[string]bool) map[string]any {
	out := make(map[string]any, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func sortedEvents(events []string) []string {
	out := append([]string(nil), events...)
	sort.Strings(out)
	return out
}

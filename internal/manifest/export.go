package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/health"
)

// PlainValue returns v with every secret replaced by its value — the form sent to the API. A
// masked secret (read from the server) is sent as "****", which keeps the stored value.
func PlainValue(v any) any {
	switch x := v.(type) {
	case *Secret:
		if x.Masked {
			return MaskedValue
		}
		return x.value
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = PlainValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = PlainValue(e)
		}
		return out
	}
	return v
}

// CollectorEntries returns the check's collectors as the API takes them: the instance id is
// the collector id (reference §12.1), secrets resolved.
func (c *Check) CollectorEntries() []checks.CollectorEntry {
	out := make([]checks.CollectorEntry, len(c.Collectors))
	for i, col := range c.Collectors {
		cfg, _ := json.Marshal(PlainValue(mapAny(col.Config)))
		out[i] = checks.CollectorEntry{ID: col.CollectorID, CollectorID: col.CollectorID, Config: cfg, Assertions: col.Assertions}
	}
	return out
}

// ValueFromJSON decodes a JSON document read from the API into the model's values: a string
// "****" (a masked secret) becomes a masked *Secret.
func ValueFromJSON(raw json.RawMessage) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("manifest: decode API value: %w", err)
	}
	return maskSecrets(v), nil
}

func maskSecrets(v any) any {
	switch x := v.(type) {
	case string:
		if x == MaskedValue {
			return &Secret{Masked: true}
		}
	case map[string]any:
		for k, e := range x {
			x[k] = maskSecrets(e)
		}
	case []any:
		for i, e := range x {
			x[i] = maskSecrets(e)
		}
	}
	return v
}

// ExportFile is one exported manifest file.
type ExportFile struct {
	Name string
	Data []byte
}

// Export writes a state as manifests: healthchecks.yaml (every check), systems.yaml (every
// system with its healthchecks), notification-channels.yaml, maintenance-windows.yaml and
// automations.yaml (files without objects are left out). Secret values are never written: each becomes
// {secretRef: NAME} with a name derived from the check and field, and secretRefs lists the
// names an apply needs in its environment.
func Export(s *State) (files []ExportFile, secretRefs []string, err error) {
	var checksBuf, systemsBuf bytes.Buffer
	refs := map[string]bool{}
	for i, name := range sortedKeys(s.Checks) {
		c := s.Checks[name]
		spec := mapping(
			"strategy", scalar(c.Strategy),
			"intervalSeconds", node(c.IntervalSeconds),
		)
		if c.Paused {
			spec.Content = append(spec.Content, scalar("paused"), node(true))
		}
		spec.Content = append(spec.Content, scalar("config"), valueNode(mapAny(c.Config), secretName(name, "config"), refs))
		if len(c.Collectors) > 0 {
			cols := &yaml.Node{Kind: yaml.SequenceNode}
			for _, col := range c.Collectors {
				cn := mapping("collectorId", scalar(col.CollectorID),
					"config", valueNode(mapAny(col.Config), secretName(name, col.CollectorID), refs))
				if len(col.Assertions) > 0 {
					as := &yaml.Node{Kind: yaml.SequenceNode}
					for _, a := range col.Assertions {
						an := mapping("field", scalar(a.Field))
						if a.JSONPath != "" {
							an.Content = append(an.Content, scalar("jsonPath"), scalar(a.JSONPath))
						}
						an.Content = append(an.Content, scalar("operator"), scalar(a.Operator))
						if a.Value != nil {
							an.Content = append(an.Content, scalar("value"), valueNode(a.Value, "", refs))
						}
						as.Content = append(as.Content, an)
					}
					cn.Content = append(cn.Content, scalar("assertions"), as)
				}
				cols.Content = append(cols.Content, cn)
			}
			spec.Content = append(spec.Content, scalar("collectors"), cols)
		}
		if err := writeDoc(&checksBuf, i, KindHealthcheck, mapping("name", scalar(name)), spec); err != nil {
			return nil, nil, err
		}
	}
	for i, id := range sortedKeys(s.Systems) {
		sys := s.Systems[id]
		meta := mapping("name", scalar(id))
		if sys.Name != id {
			meta.Content = append(meta.Content, scalar("title"), scalar(sys.Name))
		}
		if len(sys.Labels) > 0 {
			meta.Content = append(meta.Content, scalar("labels"), valueNode(labelsAny(sys.Labels), "", refs))
		}
		spec := mapping()
		if sys.Description != "" {
			spec.Content = append(spec.Content, scalar("description"), scalar(sys.Description))
		}
		hcs := &yaml.Node{Kind: yaml.SequenceNode}
		for _, a := range sys.Healthchecks {
			an := mapping("ref", flow(mapping("kind", scalar(string(KindHealthcheck)), "name", scalar(a.Check))))
			if !a.Enabled {
				an.Content = append(an.Content, scalar("enabled"), node(false))
			}
			if t := a.Thresholds; t != nil {
				wt := t.WithDefaults()
				if wt.Mode == health.ModeConsecutive && wt.Healthy.MinSuccessCount == health.DefaultHealthyMinSuccess {
					an.Content = append(an.Content, scalar("degradedThreshold"), node(wt.Degraded.MinFailureCount),
						scalar("unhealthyThreshold"), node(wt.Unhealthy.MinFailureCount))
				} else {
					raw, _ := json.Marshal(wt)
					v, _ := ValueFromJSON(raw)
					an.Content = append(an.Content, scalar("stateThresholds"), valueNode(v, "", refs))
				}
			}
			if p := a.NotificationPolicy; p != nil {
				an.Content = append(an.Content, scalar("notificationPolicy"), mapping("suppressDeEscalations", node(p.SuppressDeEscalations)))
			}
			if len(a.Locations) > 0 {
				an.Content = append(an.Content, scalar("locations"), valueNode(stringsAny(a.Locations), "", refs))
			}
			if a.Quorum != nil {
				an.Content = append(an.Content, scalar("quorum"), node(*a.Quorum))
			}
			hcs.Content = append(hcs.Content, an)
		}
		spec.Content = append(spec.Content, scalar("healthchecks"), hcs)
		if err := writeDoc(&systemsBuf, i, KindSystem, meta, spec); err != nil {
			return nil, nil, err
		}
	}
	kindFiles, err := exportKinds(s, refs)
	if err != nil {
		return nil, nil, err
	}
	if checksBuf.Len() > 0 {
		files = append(files, ExportFile{Name: "healthchecks.yaml", Data: checksBuf.Bytes()})
	}
	if systemsBuf.Len() > 0 {
		files = append(files, ExportFile{Name: "systems.yaml", Data: systemsBuf.Bytes()})
	}
	files = append(files, kindFiles...)
	return files, sortedKeys(refs), nil
}

func writeDoc(buf *bytes.Buffer, i int, kind Kind, meta, spec *yaml.Node) error {
	if i > 0 {
		buf.WriteString("---\n")
	}
	doc := mapping("apiVersion", scalar(APIVersion), "kind", scalar(string(kind)), "metadata", meta, "spec", spec)
	enc := yaml.NewEncoder(buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("manifest: export %s: %w", kind, err)
	}
	return enc.Close()
}

func scalar(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func node(v any) *yaml.Node {
	var n yaml.Node
	_ = n.Encode(v)
	return &n
}

func flow(n *yaml.Node) *yaml.Node {
	n.Style = yaml.FlowStyle
	return n
}

func mapping(kv ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Content = append(n.Content, scalar(kv[i].(string)), kv[i+1].(*yaml.Node))
	}
	return n
}

var nonName = regexp.MustCompile(`[^A-Z0-9]+`)

func secretName(parts ...string) string {
	return strings.Trim(nonName.ReplaceAllString(strings.ToUpper(strings.Join(parts, "_")), "_"), "_")
}

// valueNode renders a JSON-like value; a secret becomes {secretRef: NAME} (its own name, or
// prefix + the field path).
func valueNode(v any, prefix string, refs map[string]bool) *yaml.Node {
	switch x := v.(type) {
	case *Secret:
		if x.File != "" {
			return flow(mapping("secretFile", scalar(x.File)))
		}
		name := x.Ref
		if name == "" {
			name = prefix
		}
		refs[name] = true
		return flow(mapping("secretRef", scalar(name)))
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, k := range keys {
			n.Content = append(n.Content, scalar(k), valueNode(x[k], secretName(prefix, k), refs))
		}
		return n
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for i, e := range x {
			n.Content = append(n.Content, valueNode(e, secretName(prefix, fmt.Sprint(i)), refs))
		}
		return n
	case string:
		return scalar(x)
	case float64:
		if x == float64(int64(x)) && x < 1e15 && x > -1e15 {
			return node(int64(x))
		}
		return node(x)
	}
	return node(v)
}

package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/health"
)

// Error is one problem of a manifest: where, which field, what.
type Error struct {
	Pos Pos
	// Doc names the document ("System \"payments\""), "" before its kind and name are known.
	Doc string
	// Field is the path of the field ("spec.healthchecks[0].ref.name"), "" for the document.
	Field string
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	if s := e.Pos.String(); s != "" {
		b.WriteString(s + ": ")
	}
	if e.Doc != "" {
		b.WriteString(e.Doc + ": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors are the problems of a set of manifests, in file and line order.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return es
}

// Loader decodes manifests and resolves their secret references.
type Loader struct {
	// LookupEnv resolves secretRef names (default os.LookupEnv).
	LookupEnv func(name string) (string, bool)
	// ReadFile reads secretFile paths (default os.ReadFile).
	ReadFile func(path string) ([]byte, error)
}

func (l Loader) lookupEnv(name string) (string, bool) {
	if l.LookupEnv != nil {
		return l.LookupEnv(name)
	}
	return os.LookupEnv(name)
}

func (l Loader) readFile(path string) ([]byte, error) {
	if l.ReadFile != nil {
		return l.ReadFile(path)
	}
	return os.ReadFile(path)
}

// File is one manifest file's name and content.
type File struct {
	Name string
	Data []byte
}

// ReadPath reads a manifest file, or every *.yaml and *.yml file under a directory (sorted by
// path; hidden files and directories skipped).
func ReadPath(path string) ([]File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if !st.IsDir() {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		return []File{{Name: path, Data: data}}, nil
	}
	var files []File
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != path && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, File{Name: p, Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("manifest: no *.yaml or *.yml file under %s", path)
	}
	return files, nil
}

// LoadPath reads and decodes a manifest file or directory tree.
func (l Loader) LoadPath(path string) (*State, error) {
	files, err := ReadPath(path)
	if err != nil {
		return nil, err
	}
	return l.Load(files...)
}

// Load decodes manifest files into the desired state. Every problem found is reported (as
// Errors): YAML syntax, unknown fields, wrong types, missing required fields, duplicate
// names, references to objects no manifest defines, unresolvable secrets.
func (l Loader) Load(files ...File) (*State, error) {
	d := &decoder{loader: l, state: NewState(), firstPos: map[string]Pos{}}
	for _, f := range files {
		d.file(f)
	}
	d.resolveRefs()
	d.resolveKindRefs()
	if len(d.errs) > 0 {
		return nil, d.errs.sorted()
	}
	return d.state, nil
}

type decoder struct {
	loader   Loader
	state    *State
	errs     Errors
	firstPos map[string]Pos // kind/name → where first defined
	file_    string
	doc      string
	// refs are the references of the kinds of kinds.go, resolved after every file is read.
	refs []Ref
}

func (d *decoder) pos(n *yaml.Node) Pos { return Pos{File: d.file_, Line: n.Line, Column: n.Column} }

func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) {
	d.errs = append(d.errs, &Error{Pos: d.pos(n), Doc: d.doc, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) file(f File) {
	d.file_, d.doc = f.Name, ""
	dec := yaml.NewDecoder(bytes.NewReader(f.Data))
	for i := 0; ; i++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			d.errs = append(d.errs, yamlError(f.Name, err))
			return
		}
		if len(doc.Content) == 0 {
			continue
		}
		d.doc = ""
		d.document(doc.Content[0])
	}
}

// yamlError turns a yaml.v3 syntax error ("yaml: line 3: …") into an Error with the line.
func yamlError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, after, ok := strings.Cut(rest, ":"); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, strings.TrimSpace(after)
			}
		}
	}
	return &Error{Pos: Pos{File: file, Line: line, Column: 1}, Msg: "invalid YAML: " + msg}
}

// deref follows aliases.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// fields decodes a mapping strictly: every key must be known; required keys must be present.
// It returns the value nodes by key.
func (d *decoder) fields(n *yaml.Node, path string, known []string, required ...string) map[string]*yaml.Node {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping, got %s", describe(n))
		return nil
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		key := k.Value
		fp := join(path, key)
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "keys must be strings")
			continue
		}
		if !slices.Contains(known, key) {
			d.errorf(k, fp, "unknown field (known: %s)", strings.Join(known, ", "))
			continue
		}
		if _, dup := out[key]; dup {
			d.errorf(k, fp, "duplicate field")
			continue
		}
		out[key] = deref(v)
	}
	for _, r := range required {
		if _, ok := out[r]; !ok {
			d.errorf(n, join(path, r), "is required")
		}
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		case "!!int":
			return "the integer " + n.Value
		case "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		case "!!null":
			return "null"
		}
		return n.Value
	}
	return "an unexpected node"
}

func (d *decoder) str(n *yaml.Node, path string, nonEmpty bool) (string, bool) {
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		d.errorf(n, path, "must be a string, got %s", describe(n))
		return "", false
	}
	if nonEmpty && strings.TrimSpace(n.Value) == "" {
		d.errorf(n, path, "must not be empty")
		return "", false
	}
	return n.Value, true
}

func (d *decoder) integer(n *yaml.Node, path string, lo, hi int) (int, bool) {
	if n == nil {
		return 0, false
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.errorf(n, path, "must be an integer, got %s", describe(n))
		return 0, false
	}
	v, err := strconv.ParseInt(n.Value, 0, 64)
	if err != nil || v < int64(lo) || v > int64(hi) {
		d.errorf(n, path, "must be an integer between %d and %d, got %s", lo, hi, n.Value)
		return 0, false
	}
	return int(v), true
}

func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	if n == nil {
		return false, false
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		d.errorf(n, path, "must be a boolean (true or false), got %s", describe(n))
		return false, false
	}
	return n.Value == "true" || n.Value == "True" || n.Value == "TRUE", true
}

func (d *decoder) seq(n *yaml.Node, path string) []*yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "must be a list, got %s", describe(n))
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = deref(c)
	}
	return out
}

func (d *decoder) stringMap(n *yaml.Node, path string) map[string]string {
	if n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping of strings, got %s", describe(n))
		return nil
	}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := deref(n.Content[i])
		if v, ok := d.str(deref(n.Content[i+1]), join(path, k.Value), false); ok {
			out[k.Value] = v
		}
	}
	return out
}

func (d *decoder) document(n *yaml.Node) {
	top := d.fields(n, "", []string{"apiVersion", "kind", "metadata", "spec"}, "apiVersion", "kind", "metadata", "spec")
	if top == nil {
		return
	}
	if v, ok := d.str(top["apiVersion"], "apiVersion", true); ok && v != APIVersion && v != LegacyAPIVersion {
		d.errorf(top["apiVersion"], "apiVersion", "must be %s, got %q", APIVersion, v)
	}
	kind, ok := d.str(top["kind"], "kind", true)
	if !ok {
		return
	}
	var metaKnown []string
	switch Kind(kind) {
	case KindHealthcheck:
		metaKnown = []string{"name"}
	case KindSystem:
		metaKnown = []string{"name", "title", "labels"}
	case KindNotificationChannel, KindMaintenanceWindow, KindAutomation:
		metaKnown = []string{"name"}
	default:
		d.errorf(top["kind"], "kind", "unknown kind %q (supported: %s)", kind, kindsText())
		return
	}
	meta := d.fields(top["metadata"], "metadata", metaKnown, "name")
	if meta == nil {
		return
	}
	name, ok := d.str(meta["name"], "metadata.name", true)
	if !ok {
		return
	}
	d.doc = fmt.Sprintf("%s %q", kind, name)
	key := kind + "/" + name
	if first, dup := d.firstPos[key]; dup {
		d.errorf(meta["name"], "metadata.name", "%s %q is already defined at %s", kind, name, first)
		return
	}
	d.firstPos[key] = d.pos(n)
	switch Kind(kind) {
	case KindHealthcheck:
		if c := d.healthcheck(top["spec"], name); c != nil {
			c.Pos = d.pos(n)
			d.state.Checks[name] = c
		}
	case KindSystem:
		sys := d.system(top["spec"], meta, name)
		if sys != nil {
			sys.Pos = d.pos(n)
			d.state.Systems[name] = sys
		}
	case KindNotificationChannel:
		if ch := d.channel(top["spec"], name); ch != nil {
			ch.Pos = d.pos(n)
			d.state.Channels[name] = ch
		}
	case KindMaintenanceWindow:
		if w := d.window(top["spec"], name); w != nil {
			w.Pos = d.pos(n)
			d.state.Windows[name] = w
		}
	case KindAutomation:
		if a := d.automation(top["spec"], name); a != nil {
			a.Pos = d.pos(n)
			d.state.Automations[name] = a
		}
	}
}

func kindsText() string {
	var out []string
	for _, k := range Kinds() {
		out = append(out, string(k))
	}
	return strings.Join(out, ", ")
}

func (d *decoder) healthcheck(n *yaml.Node, name string) *Check {
	spec := d.fields(n, "spec", []string{"strategy", "intervalSeconds", "paused", "config", "collectors"}, "strategy", "intervalSeconds")
	if spec == nil {
		return nil
	}
	before := len(d.errs)
	c := &Check{Name: name, Config: map[string]any{}}
	c.Strategy, _ = d.str(spec["strategy"], "spec.strategy", true)
	c.IntervalSeconds, _ = d.integer(spec["intervalSeconds"], "spec.intervalSeconds", 1, 31536000)
	if v, ok := d.boolean(spec["paused"], "spec.paused"); ok {
		c.Paused = v
	}
	if cfg := spec["config"]; cfg != nil {
		c.Config = d.object(cfg, "spec.config")
	}
	seen := map[string]int{}
	for i, cn := range d.seq(spec["collectors"], "spec.collectors") {
		path := fmt.Sprintf("spec.collectors[%d]", i)
		f := d.fields(cn, path, []string{"collectorId", "config", "assertions"}, "collectorId")
		if f == nil {
			continue
		}
		col := Collector{Config: map[string]any{}}
		col.CollectorID, _ = d.str(f["collectorId"], path+".collectorId", true)
		if j, dup := seen[col.CollectorID]; dup && col.CollectorID != "" {
			d.errorf(f["collectorId"], path+".collectorId", "collector %q is already used by spec.collectors[%d] (one instance per collector; put all its assertions in one entry)", col.CollectorID, j)
		}
		seen[col.CollectorID] = i
		if f["config"] != nil {
			col.Config = d.object(f["config"], path+".config")
		}
		for j, an := range d.seq(f["assertions"], path+".assertions") {
			col.Assertions = append(col.Assertions, d.assertion(an, fmt.Sprintf("%s.assertions[%d]", path, j)))
		}
		c.Collectors = append(c.Collectors, col)
	}
	if len(d.errs) > before {
		return nil
	}
	return c
}

func (d *decoder) assertion(n *yaml.Node, path string) checks.Assertion {
	f := d.fields(n, path, []string{"field", "jsonPath", "operator", "value"}, "field", "operator")
	if f == nil {
		return checks.Assertion{}
	}
	var a checks.Assertion
	a.Field, _ = d.str(f["field"], path+".field", true)
	if f["jsonPath"] != nil {
		a.JSONPath, _ = d.str(f["jsonPath"], path+".jsonPath", true)
	}
	if op, ok := d.str(f["operator"], path+".operator", true); ok {
		if !slices.Contains(checks.Operators(), op) {
			d.errorf(f["operator"], path+".operator", "unknown operator %q (known: %s)", op, strings.Join(checks.Operators(), ", "))
		}
		a.Operator = op
	}
	if f["value"] != nil {
		v := d.value(f["value"], path+".value")
		if _, secret := v.(*Secret); secret {
			d.errorf(f["value"], path+".value", "an assertion value cannot be a secret")
		}
		a.Value = v
	}
	return a
}

// object decodes a free-form mapping (a strategy or collector config).
func (d *decoder) object(n *yaml.Node, path string) map[string]any {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping, got %s", describe(n))
		return map[string]any{}
	}
	m, _ := d.value(n, path).(map[string]any)
	if m == nil {
		d.errorf(n, path, "must be a mapping, not a secret reference")
		return map[string]any{}
	}
	return m
}

// value decodes any YAML value into JSON-like values; a mapping {secretRef: NAME} or
// {secretFile: PATH} becomes a resolved *Secret.
func (d *decoder) value(n *yaml.Node, path string) any {
	n = deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		if len(n.Content) == 2 {
			k := n.Content[0].Value
			if k == "secretRef" || k == "secretFile" {
				return d.secret(k, deref(n.Content[1]), path)
			}
		}
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := deref(n.Content[i])
			if k.Value == "secretRef" || k.Value == "secretFile" {
				d.errorf(k, join(path, k.Value), "a secret reference must be the only key of its mapping")
				continue
			}
			if _, dup := m[k.Value]; dup {
				d.errorf(k, join(path, k.Value), "duplicate field")
				continue
			}
			m[k.Value] = d.value(n.Content[i+1], join(path, k.Value))
		}
		return m
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, c := range n.Content {
			out[i] = d.value(c, fmt.Sprintf("%s[%d]", path, i))
		}
		return out
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			d.errorf(n, path, "%v", err)
			return nil
		}
		return jsonValue(v, func(msg string) { d.errorf(n, path, "%s", msg) })
	}
	d.errorf(n, path, "unsupported YAML node")
	return nil
}

// jsonValue converts a decoded YAML scalar to its JSON form (numbers as float64).
func jsonValue(v any, fail func(string)) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			fail("must be a finite number")
			return nil
		}
		return x
	case string, bool, nil:
		return x
	default:
		// Timestamps and binary: keep their text.
		b, err := json.Marshal(x)
		if err != nil {
			fail("unsupported value")
			return nil
		}
		var s any
		_ = json.Unmarshal(b, &s)
		return s
	}
}

func (d *decoder) secret(key string, n *yaml.Node, path string) any {
	field := join(path, key)
	name, ok := d.str(n, field, true)
	if !ok {
		return nil
	}
	switch key {
	case "secretRef":
		v, found := d.loader.lookupEnv(name)
		if !found {
			d.errorf(n, field, "environment variable %s is not set (secrets are read from the environment of apply)", name)
			return nil
		}
		return &Secret{Ref: name, value: v}
	default:
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(d.file_), p)
		}
		b, err := d.loader.readFile(p)
		if err != nil {
			d.errorf(n, field, "cannot read the secret file %s: %v", name, errors.Unwrap(err))
			return nil
		}
		return &Secret{File: name, value: strings.TrimRight(string(b), "\r\n")}
	}
}

func (d *decoder) system(n *yaml.Node, meta map[string]*yaml.Node, id string) *System {
	spec := d.fields(n, "spec", []string{"description", "healthchecks"})
	if spec == nil {
		return nil
	}
	before := len(d.errs)
	sys := &System{ID: id, Name: id, Labels: map[string]string{}}
	if t, ok := d.str(meta["title"], "metadata.title", true); ok {
		sys.Name = t
	}
	if l := d.stringMap(meta["labels"], "metadata.labels"); l != nil {
		sys.Labels = l
	}
	if v, ok := d.str(spec["description"], "spec.description", false); ok {
		sys.Description = v
	}
	if hn := spec["healthchecks"]; hn != nil {
		sys.ManageHealthchecks = true
		seen := map[string]int{}
		for i, an := range d.seq(hn, "spec.healthchecks") {
			a, ok := d.assignment(an, fmt.Sprintf("spec.healthchecks[%d]", i))
			if !ok {
				continue
			}
			if j, dup := seen[a.Check]; dup {
				d.errorf(an, fmt.Sprintf("spec.healthchecks[%d].ref.name", i), "Healthcheck %q is already assigned by spec.healthchecks[%d]", a.Check, j)
				continue
			}
			seen[a.Check] = i
			sys.Healthchecks = append(sys.Healthchecks, a)
		}
		sort.Slice(sys.Healthchecks, func(i, j int) bool { return sys.Healthchecks[i].Check < sys.Healthchecks[j].Check })
	}
	if len(d.errs) > before {
		return nil
	}
	return sys
}

func (d *decoder) assignment(n *yaml.Node, path string) (Assignment, bool) {
	f := d.fields(n, path, []string{"ref", "enabled", "degradedThreshold", "unhealthyThreshold", "stateThresholds", "notificationPolicy", "locations", "quorum"}, "ref")
	if f == nil {
		return Assignment{}, false
	}
	before := len(d.errs)
	a := Assignment{Enabled: true, Pos: d.pos(n), field: path + ".ref.name"}
	if ref := d.fields(f["ref"], path+".ref", []string{"kind", "name"}, "kind", "name"); ref != nil {
		if k, ok := d.str(ref["kind"], path+".ref.kind", true); ok && Kind(k) != KindHealthcheck {
			d.errorf(ref["kind"], path+".ref.kind", "must be Healthcheck, got %q", k)
		}
		a.Check, _ = d.str(ref["name"], path+".ref.name", true)
		if ref["name"] != nil {
			a.Pos = d.pos(ref["name"])
		}
	}
	if v, ok := d.boolean(f["enabled"], path+".enabled"); ok {
		a.Enabled = v
	}
	deg, hasDeg := d.integer(f["degradedThreshold"], path+".degradedThreshold", 1, 1000)
	unh, hasUnh := d.integer(f["unhealthyThreshold"], path+".unhealthyThreshold", 1, 1000)
	if st := f["stateThresholds"]; st != nil {
		if f["degradedThreshold"] != nil || f["unhealthyThreshold"] != nil {
			d.errorf(st, path+".stateThresholds", "use either stateThresholds or degradedThreshold/unhealthyThreshold, not both")
		} else if st.Kind != yaml.MappingNode {
			d.errorf(st, path+".stateThresholds", "must be a mapping, got %s", describe(st))
		} else {
			raw, _ := json.Marshal(d.value(st, path+".stateThresholds"))
			th, err := health.ParseThresholds(raw)
			if err != nil {
				d.errorf(st, path+".stateThresholds", "%s", strings.TrimPrefix(err.Error(), "health: parse thresholds: "))
			} else {
				th = th.WithDefaults()
				a.Thresholds = &th
			}
		}
	} else if hasDeg || hasUnh {
		// Reference §12.2: either threshold → consecutive {1, degraded ?? 2, unhealthy ?? 5}.
		th := health.DefaultThresholds()
		if hasDeg {
			th.Degraded.MinFailureCount = deg
		}
		if hasUnh {
			th.Unhealthy.MinFailureCount = unh
		}
		a.Thresholds = &th
	}
	if np := f["notificationPolicy"]; np != nil {
		if pf := d.fields(np, path+".notificationPolicy", []string{"suppressDeEscalations"}, "suppressDeEscalations"); pf != nil {
			if v, ok := d.boolean(pf["suppressDeEscalations"], path+".notificationPolicy.suppressDeEscalations"); ok {
				a.NotificationPolicy = &health.NotificationPolicy{SuppressDeEscalations: v}
			}
		}
	}
	beforeLocations := len(d.errs)
	for i, ln := range d.seq(f["locations"], path+".locations") {
		if v, ok := d.str(ln, fmt.Sprintf("%s.locations[%d]", path, i), true); ok {
			a.Locations = append(a.Locations, v)
		}
	}
	if f["locations"] != nil && a.Locations == nil {
		a.Locations = []string{}
	}
	if qn := f["quorum"]; qn != nil {
		if q, ok := d.quorum(qn, path+".quorum", a.Locations, len(d.errs) == beforeLocations); ok {
			a.Quorum = &q
		}
	}
	return a, len(d.errs) == before
}

// quorum decodes an assignment's quorum: an integer from 1 to the number of distinct locations
// (the server drops repeated ones), on an assignment with at least 2 of them. locationsOK is
// false when the locations had errors: the quorum's type is still checked, its range is not
// (it would be checked against a partial list).
func (d *decoder) quorum(n *yaml.Node, path string, locations []string, locationsOK bool) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.errorf(n, path, "must be an integer, got %s", describe(n))
		return 0, false
	}
	if !locationsOK {
		return 0, false
	}
	distinct := len(slices.Compact(slices.Sorted(slices.Values(locations))))
	if distinct < 2 {
		d.errorf(n, path, "applies only to a healthcheck with at least 2 distinct locations (this one has %d)", distinct)
		return 0, false
	}
	v, err := strconv.ParseInt(n.Value, 0, 64)
	if err != nil || v < 1 || v > int64(distinct) {
		d.errorf(n, path, "must be an integer between 1 and %d (the number of distinct locations), got %s", distinct, n.Value)
		return 0, false
	}
	return int(v), true
}

// resolveRefs reports assignments naming a Healthcheck no manifest defines.
func (d *decoder) resolveRefs() {
	for _, id := range sortedKeys(d.state.Systems) {
		sys := d.state.Systems[id]
		for _, a := range sys.Healthchecks {
			if _, ok := d.state.Checks[a.Check]; ok {
				continue
			}
			if _, defined := d.firstPos[string(KindHealthcheck)+"/"+a.Check]; defined {
				continue // defined but invalid: already reported
			}
			d.errs = append(d.errs, &Error{Pos: a.Pos, Doc: fmt.Sprintf("System %q", id), Field: a.field,
				Msg: fmt.Sprintf("cannot resolve Healthcheck ref %q: no manifest defines it", a.Check)})
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

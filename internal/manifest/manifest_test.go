package manifest

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/checkflow/checkflow/internal/health"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

const validManifest = `apiVersion: checkflow.io/v1alpha1
kind: Healthcheck
metadata:
  name: api
spec:
  strategy: http
  intervalSeconds: 30
  collectors:
    - collectorId: request
      config:
        url: https://api.example.com/health
        headers:
          - name: Authorization
            value: {secretRef: API_TOKEN}
      assertions:
        - {field: statusCode, operator: equals, value: 200}
        - {field: body, jsonPath: $.status, operator: equals, value: UP}
---
apiVersion: checkflow.io/v1alpha1
kind: Healthcheck
metadata:
  name: db
spec:
  strategy: postgres
  intervalSeconds: 60
  paused: true
  config:
    host: db.internal
    port: 5432
    password: {secretFile: db.pass}
---
apiVersion: checkflow.io/v1alpha1
kind: System
metadata:
  name: payments
  title: Payments
  labels: {team: pay}
spec:
  description: Card payments
  healthchecks:
    - ref: {kind: Healthcheck, name: db}
      stateThresholds: {mode: window, windowSize: 20}
      notificationPolicy: {suppressDeEscalations: true}
      locations: [eu, us, ap]
      quorum: 1
    - ref: {kind: Healthcheck, name: api}
      degradedThreshold: 3
      locations: [eu]
---
apiVersion: checkflow.io/v1alpha1
kind: System
metadata:
  name: bare
spec: {}
`

func loadValid(t *testing.T) *State {
	t.Helper()
	l := Loader{LookupEnv: env(map[string]string{"API_TOKEN": "Bearer s3cr3t"}),
		ReadFile: func(p string) ([]byte, error) {
			if p != filepath.Join("conf", "db.pass") {
				t.Errorf("secret file path %q, want conf/db.pass", p)
			}
			return []byte("hunter2\n"), nil
		}}
	s, err := l.Load(File{Name: "conf/all.yaml", Data: []byte(validManifest)})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return s
}

func TestLoadValid(t *testing.T) {
	s := loadValid(t)
	if len(s.Checks) != 2 || len(s.Systems) != 2 {
		t.Fatalf("got %d checks, %d systems", len(s.Checks), len(s.Systems))
	}
	api := s.Checks["api"]
	if api.Strategy != "http" || api.IntervalSeconds != 30 || api.Paused || len(api.Collectors) != 1 {
		t.Fatalf("api = %+v", api)
	}
	if api.Pos.String() != "conf/all.yaml:1:1" {
		t.Errorf("api pos = %s", api.Pos)
	}
	entries := api.CollectorEntries()
	if entries[0].ID != "request" || !strings.Contains(string(entries[0].Config), `"Bearer s3cr3t"`) {
		t.Errorf("entries = %s", entries[0].Config)
	}
	if got := api.Collectors[0].Assertions[1]; got.JSONPath != "$.status" || got.Value != "UP" {
		t.Errorf("assertion = %+v", got)
	}
	db := s.Checks["db"]
	if !db.Paused || db.Config["port"] != float64(5432) {
		t.Errorf("db = %+v", db)
	}
	sec, ok := db.Config["password"].(*Secret)
	if !ok || sec.Value() != "hunter2" || sec.File != "db.pass" {
		t.Fatalf("password = %#v", db.Config["password"])
	}
	pay := s.Systems["payments"]
	if pay.Name != "Payments" || pay.Description != "Card payments" || pay.Labels["team"] != "pay" || !pay.ManageHealthchecks {
		t.Errorf("payments = %+v", pay)
	}
	if len(pay.Healthchecks) != 2 || pay.Healthchecks[0].Check != "api" {
		t.Fatalf("healthchecks not sorted: %+v", pay.Healthchecks)
	}
	a := pay.Healthchecks[0]
	if a.Thresholds == nil || a.Thresholds.Degraded.MinFailureCount != 3 || a.Thresholds.Unhealthy.MinFailureCount != 5 || a.Thresholds.Healthy.MinSuccessCount != 1 {
		t.Errorf("api thresholds = %+v", a.Thresholds)
	}
	if !a.Enabled || len(a.Locations) != 1 || a.NotificationPolicy != nil || a.Quorum != nil {
		t.Errorf("api assignment = %+v", a)
	}
	d := pay.Healthchecks[1]
	if d.Thresholds == nil || d.Thresholds.Mode != health.ModeWindow || d.Thresholds.WindowSize != 20 || d.Thresholds.Degraded.MinFailureCount != 3 {
		t.Errorf("db thresholds = %+v", d.Thresholds)
	}
	if d.NotificationPolicy == nil || !d.NotificationPolicy.SuppressDeEscalations {
		t.Errorf("db policy = %+v", d.NotificationPolicy)
	}
	if len(d.Locations) != 3 || d.Quorum == nil || *d.Quorum != 1 {
		t.Errorf("db locations = %v, quorum = %v", d.Locations, d.Quorum)
	}
	if bare := s.Systems["bare"]; bare.ManageHealthchecks || bare.Name != "bare" {
		t.Errorf("bare = %+v", bare)
	}
}

// Acceptance 5: each malformed manifest's errors name the file, the line and column, and the
// field (golden files in testdata/malformed/*.golden).
func TestMalformedGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/malformed/*.yaml")
	if err != nil || len(files) < 10 {
		t.Fatalf("want ≥ 10 malformed manifests, got %d (%v)", len(files), err)
	}
	pos := regexp.MustCompile(`^testdata/malformed/[^:]+\.yaml:\d+:\d+: `)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := Loader{LookupEnv: env(nil)}.LoadPath(f)
			if err == nil {
				t.Fatal("loaded without error")
			}
			got := err.Error() + "\n"
			for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
				if !pos.MatchString(line) || !strings.HasPrefix(line, f+":") {
					t.Errorf("error line does not start with %s:line:column: %q", f, line)
				}
				if !strings.Contains(line, ": ") || strings.Count(line, ": ") < 2 {
					t.Errorf("error line names no field or document: %q", line)
				}
			}
			// Secrets written in a manifest by mistake are refused without being echoed.
			for _, secret := range []string{"s3cr3t-in-the-repo", "hooks.slack.com/services"} {
				if strings.Contains(got, secret) {
					t.Errorf("the error echoes a secret value: %s", got)
				}
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func TestLoadDirectoryTree(t *testing.T) {
	dir := t.TempDir()
	parts := strings.Split(validManifest, "---\n")
	for i, p := range parts {
		sub := filepath.Join(dir, "team", string(rune('a'+i)))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, "m.yml"), []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("not yaml: ["), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".git", "x.yaml"), []byte("broken: ["), 0o644); err != nil {
		t.Fatal(err)
	}
	l := Loader{LookupEnv: env(map[string]string{"API_TOKEN": "x"}), ReadFile: func(string) ([]byte, error) { return []byte("p"), nil }}
	s, err := l.LoadPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Checks) != 2 || len(s.Systems) != 2 {
		t.Fatalf("got %d checks, %d systems", len(s.Checks), len(s.Systems))
	}
	if _, err := l.LoadPath(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no *.yaml") {
		t.Errorf("empty dir: %v", err)
	}
}

func TestDiff(t *testing.T) {
	desired := loadValid(t)
	// The current state as the API shows it: secrets masked.
	current := func() *State {
		s := loadValid(t)
		for _, c := range s.Checks {
			c.Config = maskAll(c.Config)
			for i := range c.Collectors {
				c.Collectors[i].Config = maskAll(c.Collectors[i].Config)
			}
		}
		return s
	}
	tests := []struct {
		name string
		edit func(cur *State)
		// editDesired, when set, edits the desired state (a fresh copy per case).
		editDesired func(want *State)
		managed     Managed
		prune       bool
		want        []string // "action kind name [fields]"
	}{
		{name: "identical", edit: func(*State) {}, want: nil},
		{name: "everything missing", edit: func(cur *State) { *cur = *NewState() },
			want: []string{"create Healthcheck api", "create Healthcheck db", "create System bare", "create System payments"}},
		{name: "one threshold", edit: func(cur *State) {
			th := health.DefaultThresholds()
			th.Degraded.MinFailureCount = 2
			cur.Systems["payments"].Healthchecks[0].Thresholds = &th
		}, want: []string{"update System payments [healthchecks[api].stateThresholds]"}},
		{name: "config and interval", edit: func(cur *State) {
			cur.Checks["db"].Config["host"] = "old.internal"
			cur.Checks["db"].IntervalSeconds = 10
			cur.Checks["api"].Collectors[0].Assertions[0].Value = float64(201)
		}, want: []string{"update Healthcheck api [collectors[request].assertions]", "update Healthcheck db [intervalSeconds config.host]"}},
		{name: "secret replaced by a plain value", edit: func(cur *State) {
			cur.Checks["db"].Config["password"] = "plain"
		}, want: []string{"update Healthcheck db [config.password]"}},
		{name: "extra managed without prune is kept", edit: func(cur *State) {
			cur.Systems["old"] = &System{ID: "old", Name: "old"}
			cur.Checks["gone"] = &Check{Name: "gone"}
		}, managed: Managed{KindSystem: {"old": true}, KindHealthcheck: {"gone": true}},
			want: []string{"kept System old", "kept Healthcheck gone"}},
		{name: "extra managed with prune is deleted", edit: func(cur *State) {
			cur.Systems["old"] = &System{ID: "old", Name: "old"}
		}, managed: Managed{KindSystem: {"old": true}}, prune: true, want: []string{"delete System old"}},
		{name: "extra unmanaged is ignored", edit: func(cur *State) {
			cur.Systems["manual"] = &System{ID: "manual", Name: "manual"}
		}, prune: true, want: nil},
		{name: "assignment removed and labels changed", edit: func(cur *State) {
			p := cur.Systems["payments"]
			p.Healthchecks = append(p.Healthchecks, Assignment{Check: "legacy", Enabled: true})
			p.Labels = map[string]string{"team": "other"}
		}, want: []string{"update System payments [labels healthchecks[legacy]]"}},
		{name: "quorum changed", edit: func(cur *State) {
			cur.Systems["payments"].Healthchecks[1].Quorum = ptr(2)
		}, want: []string{"update System payments [healthchecks[db].quorum]"}},
		{name: "quorum a majority on the server", edit: func(cur *State) {
			cur.Systems["payments"].Healthchecks[1].Quorum = nil
		}, want: []string{"update System payments [healthchecks[db].quorum]"}},
		{name: "quorum removed from the manifest", edit: func(*State) {}, editDesired: func(want *State) {
			want.Systems["payments"].Healthchecks[1].Quorum = nil
		}, want: []string{"update System payments [healthchecks[db].quorum]"}},
		{name: "quorum and locations changed", edit: func(cur *State) {
			a := &cur.Systems["payments"].Healthchecks[1]
			a.Locations, a.Quorum = []string{"eu", "us"}, ptr(2)
		}, want: []string{"update System payments [healthchecks[db].locations healthchecks[db].quorum]"}},
		{name: "unmanaged healthchecks are not compared", edit: func(cur *State) {
			cur.Systems["bare"].Healthchecks = []Assignment{{Check: "api", Enabled: true}}
		}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := current()
			tt.edit(cur)
			want := desired
			if tt.editDesired != nil {
				want = loadValid(t)
				tt.editDesired(want)
			}
			p := Diff(want, cur, tt.managed, tt.prune)
			var got []string
			for _, c := range p.Changes {
				if c.Action == ActionUnchanged {
					continue
				}
				s := string(c.Action) + " " + string(c.Kind) + " " + c.Name
				if c.Action == ActionUpdate {
					s += " [" + strings.Join(c.FieldNames(), " ") + "]"
				}
				got = append(got, s)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			var buf bytes.Buffer
			if err := p.WriteText(&buf); err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{"hunter2", "s3cr3t"} {
				if strings.Contains(buf.String(), secret) {
					t.Errorf("plan text shows a secret value:\n%s", buf.String())
				}
			}
			if p.HasChanges() == strings.Contains(buf.String(), "No changes.") {
				t.Errorf("plan text %q disagrees with HasChanges %v", buf.String(), p.HasChanges())
			}
		})
	}
}

// A quorum is compared as set or not (nil: a majority, the server's null) and by value; the
// plan shows a majority as "(majority)".
func TestDiffAssignmentQuorum(t *testing.T) {
	locations := []string{"eu", "us", "ap"}
	tests := []struct {
		name       string
		have, want *int
		change     *FieldChange
	}{
		{name: "both a majority", have: nil, want: nil},
		{name: "same quorum", have: ptr(2), want: ptr(2)},
		{name: "set", have: nil, want: ptr(3), change: &FieldChange{"healthchecks[api].quorum", "(majority)", "3"}},
		{name: "changed", have: ptr(1), want: ptr(3), change: &FieldChange{"healthchecks[api].quorum", "1", "3"}},
		{name: "reset to a majority", have: ptr(2), want: nil, change: &FieldChange{"healthchecks[api].quorum", "2", "(majority)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Assignment{Check: "api", Enabled: true, Locations: locations, Quorum: tt.have}
			w := Assignment{Check: "api", Enabled: true, Locations: locations, Quorum: tt.want}
			got := diffAssignment("healthchecks[api]", h, w)
			switch {
			case tt.change == nil && len(got) != 0:
				t.Errorf("changes = %+v, want none", got)
			case tt.change != nil && (len(got) != 1 || got[0] != *tt.change):
				t.Errorf("changes = %+v, want [%+v]", got, *tt.change)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestPlanTextShowsSecretsAsSecret(t *testing.T) {
	desired := loadValid(t)
	cur := loadValid(t)
	cur.Checks["db"].Config["password"] = "plain-old"
	var buf bytes.Buffer
	_ = Diff(desired, cur, nil, false).WriteText(&buf)
	if !strings.Contains(buf.String(), `config.password: "plain-old" → "(secret)"`) {
		t.Errorf("plan text:\n%s", buf.String())
	}
	if strings.Contains(buf.String(), "hunter2") {
		t.Error("secret value printed")
	}
}

func maskAll(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = maskValue(v)
	}
	return out
}

func maskValue(v any) any {
	switch x := v.(type) {
	case *Secret:
		return &Secret{Masked: true}
	case map[string]any:
		return maskAll(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = maskValue(e)
		}
		return out
	}
	return v
}

// Export writes manifests that load back to the same state (no changes), with secret
// references and never the secret values.
func TestExportRoundTrip(t *testing.T) {
	orig := loadValid(t)
	// As read from the server: secrets masked, every system's healthchecks known.
	cur := loadValid(t)
	for _, c := range cur.Checks {
		c.Config = maskAll(c.Config)
		for i := range c.Collectors {
			c.Collectors[i].Config = maskAll(c.Collectors[i].Config)
		}
	}
	cur.Systems["bare"].ManageHealthchecks = true
	cur.Systems["payments"].Description = "true" // a string that looks like a boolean
	files, refs, err := Export(cur)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("files = %d", len(files))
	}
	var in []File
	for _, f := range files {
		if bytes.Contains(f.Data, []byte("hunter2")) || bytes.Contains(f.Data, []byte("s3cr3t")) || bytes.Contains(f.Data, []byte("****")) {
			t.Errorf("%s holds a secret value:\n%s", f.Name, f.Data)
		}
		in = append(in, File{Name: f.Name, Data: f.Data})
	}
	if strings.Join(refs, ",") != "API_COLLECTOR_REQUEST_HEADERS_0_VALUE,DB_CONFIG_PASSWORD" && strings.Join(refs, ",") != "API_REQUEST_HEADERS_0_VALUE,DB_CONFIG_PASSWORD" {
		t.Errorf("refs = %v", refs)
	}
	vars := map[string]string{}
	for _, r := range refs {
		vars[r] = "x"
	}
	back, err := Loader{LookupEnv: env(vars)}.Load(in...)
	if err != nil {
		t.Fatalf("exported manifests do not load: %v\n%s\n%s", err, files[0].Data, files[1].Data)
	}
	p := Diff(back, cur, nil, false)
	if p.HasChanges() {
		var buf bytes.Buffer
		_ = p.WriteText(&buf)
		t.Errorf("export does not apply back to no change:\n%s", buf.String())
	}
	// The quorum is written for the assignment that has one only (none = a majority).
	var systems []byte
	for _, f := range files {
		if f.Name == "systems.yaml" {
			systems = f.Data
		}
	}
	if n := bytes.Count(systems, []byte("quorum:")); n != 1 || !bytes.Contains(systems, []byte("quorum: 1\n")) {
		t.Errorf("systems.yaml has %d quorum fields, want one quorum: 1:\n%s", n, systems)
	}
	if q := back.Systems["payments"].Healthchecks[1].Quorum; q == nil || *q != 1 {
		t.Errorf("db quorum after the round trip = %v", q)
	}
	if back.Systems["payments"].Description != "true" {
		t.Errorf("description = %q", back.Systems["payments"].Description)
	}
	_ = orig
}

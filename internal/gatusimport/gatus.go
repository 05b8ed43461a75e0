// Package gatusimport converts a Gatus configuration into checkflow manifests: every HTTP(S)
// endpoint becomes a Healthcheck (strategy http, one request collector whose assertions are
// the endpoint's conditions) and every group a System (endpoints without a group go to the
// system "gatus"). Alerting providers with a checkflow channel type (slack, discord, teams,
// teams-workflows, pagerduty, email) become NotificationChannel manifests named gatus-<provider>
// for the systems whose endpoints alert through them; their secrets are written as secretRef
// (listed in Result.Secrets), never as values. What cannot be converted — other endpoint
// types, conditions without an HTTP equivalent, other providers, per-alert settings — is
// listed in Result.Skipped.
//
// Conditions and their assertions on the request collector's result:
//
//	[STATUS] == 200               statusCode equals 200 (also !=, <, <=, >, >=)
//	[STATUS] == any(200, 201)     statusCode matches ^(200|201)$
//	[RESPONSE_TIME] < 300         responseTimeMs lessThan 300
//	[BODY] == UP                  body equals "UP"
//	[BODY] == pat(*UP*)           body matches ^.*UP.*$ (also [BODY].path)
//	[BODY].status == UP           body $.status equals "UP"
//	len([BODY].items) == 3        body $.items lengthEquals 3 (also <, >)
//	has([BODY].errors) == false   body $.errors notExists (true: exists)
//
// The request collector accepts every status (expectedStatus 100-599), so that only the
// conditions decide, as in Gatus.
package gatusimport

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/manifest"
)

// UngroupedSystem is the system of the endpoints without a group.
const UngroupedSystem = "gatus"

// Result is a conversion.
type Result struct {
	// Manifests is the YAML of the Healthcheck and System documents.
	Manifests []byte
	// State is the converted configuration.
	State *manifest.State
	// Endpoints, Checks and Systems count what was read and produced.
	Endpoints, Checks, Systems int
	// Channels counts the NotificationChannel manifests produced.
	Channels int
	// Skipped lists, for people, what could not be converted and why.
	Skipped []string
	// Secrets lists the environment variables the manifests' secretRefs name: apply needs
	// them set.
	Secrets []SecretRef
}

// SecretRef is a secret the manifests reference instead of holding its value.
type SecretRef struct {
	// Name is the environment variable of the secretRef.
	Name string
	// Source says where the Gatus configuration has the value ("alerting.slack.webhook-url").
	Source string
}

type config struct {
	Endpoints []map[string]any `yaml:"endpoints"`
	Rest      map[string]any   `yaml:",inline"`
}

// Convert converts a Gatus configuration.
func Convert(data []byte) (Result, error) {
	var cfg config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&cfg); err != nil {
		return Result{}, fmt.Errorf("gatus: parse the configuration: %w", err)
	}
	if len(cfg.Endpoints) == 0 {
		return Result{}, errors.New("gatus: the configuration has no endpoints")
	}
	res := Result{State: manifest.NewState(), Endpoints: len(cfg.Endpoints)}
	// alertSystems holds, per alert type, the systems of the endpoints alerting through it.
	alertSystems := map[string]map[string]bool{}
	for i, ep := range cfg.Endpoints {
		e, err := convertEndpoint(ep)
		name := fmt.Sprintf("endpoints[%d]", i)
		if n, ok := ep["name"].(string); ok {
			name = fmt.Sprintf("endpoint %q", n)
		}
		for _, s := range e.skipped {
			res.Skipped = append(res.Skipped, name+": "+s)
		}
		if err != nil {
			res.Skipped = append(res.Skipped, name+": not converted: "+err.Error())
			continue
		}
		c := e.check
		if _, dup := res.State.Checks[c.Name]; dup {
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: not converted: another endpoint already has the check name %q", name, c.Name))
			continue
		}
		res.State.Checks[c.Name] = c
		sysID := UngroupedSystem
		if e.group != "" {
			sysID = slug(e.group)
		}
		sys := res.State.Systems[sysID]
		if sys == nil {
			title := e.group
			if title == "" {
				title = "Gatus endpoints"
			}
			sys = &manifest.System{ID: sysID, Name: title, Labels: map[string]string{"imported-from": "gatus"}, ManageHealthchecks: true}
			res.State.Systems[sysID] = sys
		}
		sys.Healthchecks = append(sys.Healthchecks, manifest.Assignment{Check: c.Name, Enabled: e.enabled})
		for _, typ := range e.alerts {
			if alertSystems[typ] == nil {
				alertSystems[typ] = map[string]bool{}
			}
			alertSystems[typ][sysID] = true
		}
	}
	for _, k := range sortedKeys(cfg.Rest) {
		switch k {
		case "alerting":
			convertAlerting(&res, cfg.Rest[k], alertSystems)
		case "metrics", "ui", "web", "storage", "maintenance", "security", "connectivity", "skip-invalid-config-update", "disable-monitoring-lock", "concurrency":
			res.Skipped = append(res.Skipped, k+": Gatus server setting, no checkflow equivalent in manifests")
		default:
			res.Skipped = append(res.Skipped, k+": not converted")
		}
	}
	for _, s := range res.State.Systems {
		sort.Slice(s.Healthchecks, func(i, j int) bool { return s.Healthchecks[i].Check < s.Healthchecks[j].Check })
	}
	res.Checks, res.Systems, res.Channels = len(res.State.Checks), len(res.State.Systems), len(res.State.Channels)
	files, _, err := manifest.Export(res.State)
	if err != nil {
		return Result{}, err
	}
	var out bytes.Buffer
	out.WriteString("# Converted from a Gatus configuration by `checkflow import gatus`.\n")
	for i, f := range files {
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(f.Data)
	}
	res.Manifests = out.Bytes()
	return res, nil
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var nonSlug = regexp.MustCompile(`[^a-z0-9._-]+`)

// slug makes a system id or check name: lower case, [a-z0-9._-].
func slug(s string) string {
	s = strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(strings.TrimSpace(s)), "-"), "-._")
	if s == "" {
		s = "endpoint"
	}
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// endpoint is a converted Gatus endpoint.
type endpoint struct {
	check   *manifest.Check
	group   string
	enabled bool
	// alerts are the alert types of the endpoint's enabled alerts.
	alerts []string
	// skipped lists the parts left out.
	skipped []string
}

// convertEndpoint converts one endpoint.
func convertEndpoint(ep map[string]any) (endpoint, error) {
	e := endpoint{enabled: true}
	str := func(k string) string {
		s, _ := ep[k].(string)
		return s
	}
	name := str("name")
	if name == "" {
		return e, errors.New("the endpoint has no name")
	}
	e.group = str("group")
	rawURL := str("url")
	if !strings.HasPrefix(rawURL, "http://") && !strings.HasPrefix(rawURL, "https://") {
		return e, fmt.Errorf("url %q: only http:// and https:// endpoints are converted", rawURL)
	}
	reqCfg := map[string]any{"url": rawURL, "expectedStatus": []any{"100-599"}}
	interval := 60
	for _, k := range sortedKeys(ep) {
		v := ep[k]
		switch k {
		case "name", "group", "url", "conditions":
		case "enabled":
			if b, ok := v.(bool); ok {
				e.enabled = b
			}
		case "interval":
			s, _ := v.(string)
			d, perr := time.ParseDuration(s)
			if perr != nil || d < time.Second {
				e.skipped = append(e.skipped, fmt.Sprintf("interval %v: not a duration of at least 1s; using 60s", v))
				continue
			}
			interval = int(d / time.Second)
		case "method":
			if s, ok := v.(string); ok {
				reqCfg["method"] = strings.ToUpper(s)
			}
		case "body":
			if s, ok := v.(string); ok {
				reqCfg["body"] = s
			}
		case "headers":
			m, ok := v.(map[string]any)
			if !ok {
				e.skipped = append(e.skipped, "headers: not a mapping")
				continue
			}
			var hs []any
			for _, hk := range sortedKeys(m) {
				hs = append(hs, map[string]any{"name": hk, "value": fmt.Sprint(m[hk])})
			}
			reqCfg["headers"] = hs
		case "client":
			m, _ := v.(map[string]any)
			for _, ck := range sortedKeys(m) {
				switch ck {
				case "timeout":
					s, _ := m[ck].(string)
					d, perr := time.ParseDuration(s)
					if perr != nil || d < 100*time.Millisecond {
						e.skipped = append(e.skipped, fmt.Sprintf("client.timeout %v: not converted", m[ck]))
						continue
					}
					reqCfg["timeout"] = float64(d / time.Millisecond)
				case "insecure":
					if b, ok := m[ck].(bool); ok && b {
						reqCfg["rejectUnauthorized"] = false
					}
				default:
					e.skipped = append(e.skipped, "client."+ck+": not converted")
				}
			}
		case "alerts":
			e.alerts, e.skipped = convertAlerts(v, e.skipped)
		default:
			e.skipped = append(e.skipped, k+": not converted")
		}
	}
	var assertions []checks.Assertion
	conds, _ := ep["conditions"].([]any)
	for _, cv := range conds {
		s, _ := cv.(string)
		a, cerr := ConvertCondition(s)
		if cerr != nil {
			e.skipped = append(e.skipped, fmt.Sprintf("condition %q: %v", s, cerr))
			continue
		}
		assertions = append(assertions, a...)
	}
	if len(conds) == 0 {
		// Gatus needs conditions; without them, the request collector's default applies.
		delete(reqCfg, "expectedStatus")
	}
	e.check = &manifest.Check{
		Name: slug(strings.TrimPrefix(e.group+"-"+name, "-")), Strategy: "http", IntervalSeconds: interval, Config: map[string]any{},
		Collectors: []manifest.Collector{{CollectorID: "request", Config: reqCfg, Assertions: assertions}},
	}
	return e, nil
}

var condRE = regexp.MustCompile(`^\s*(.+?)\s*(==|!=|<=|>=|<|>)\s*(.*?)\s*$`)

var operators = map[string]string{"==": "equals", "!=": "notEquals", "<": "lessThan", "<=": "lessThanOrEqual", ">": "greaterThan", ">=": "greaterThanOrEqual"}

// ConvertCondition converts one Gatus condition into assertions on the request collector's
// result, or says why it cannot.
func ConvertCondition(cond string) ([]checks.Assertion, error) {
	m := condRE.FindStringSubmatch(cond)
	if m == nil {
		return nil, errors.New("not of the form <placeholder> <operator> <value>")
	}
	left, op, right := m[1], m[2], m[3]
	// len(...) and has(...)
	if inner, ok := call(left, "len"); ok {
		field, path, err := placeholder(inner)
		if err != nil || field != "body" {
			return nil, errors.New("len() is converted for [BODY] only")
		}
		n, err := strconv.Atoi(right)
		if err != nil {
			return nil, errors.New("len() must be compared with an integer")
		}
		lop := map[string]string{"==": "lengthEquals", ">": "lengthGreaterThan", "<": "lengthLessThan"}[op]
		switch op {
		case ">=":
			lop, n = "lengthGreaterThan", n-1
		case "<=":
			lop, n = "lengthLessThan", n+1
		}
		if lop == "" {
			return nil, fmt.Errorf("len() with %s has no equivalent", op)
		}
		return []checks.Assertion{{Field: field, JSONPath: path, Operator: lop, Value: float64(n)}}, nil
	}
	if inner, ok := call(left, "has"); ok {
		field, path, err := placeholder(inner)
		if err != nil || field != "body" || path == "" {
			return nil, errors.New("has() is converted for [BODY].<path> only")
		}
		want := right == "true"
		if (right != "true" && right != "false") || (op != "==" && op != "!=") {
			return nil, errors.New("has() must be compared with == or != true/false")
		}
		if op == "!=" {
			want = !want
		}
		operator := "notExists"
		if want {
			operator = "exists"
		}
		return []checks.Assertion{{Field: field, JSONPath: path, Operator: operator}}, nil
	}
	field, path, err := placeholder(left)
	if err != nil {
		return nil, err
	}
	if inner, ok := call(right, "any"); ok {
		if op != "==" && op != "!=" {
			return nil, errors.New("any() must be compared with == or !=")
		}
		var alts []string
		for _, p := range strings.Split(inner, ",") {
			alts = append(alts, regexp.QuoteMeta(strings.TrimSpace(p)))
		}
		if op == "!=" {
			return nil, errors.New("!= any() has no equivalent (assertions cannot negate a pattern)")
		}
		return []checks.Assertion{{Field: field, JSONPath: path, Operator: "matches", Value: "^(" + strings.Join(alts, "|") + ")$"}}, nil
	}
	if inner, ok := call(right, "pat"); ok {
		if op != "==" {
			return nil, errors.New("pat() is converted with == only")
		}
		re := "^" + strings.ReplaceAll(regexp.QuoteMeta(inner), `\*`, ".*") + "$"
		return []checks.Assertion{{Field: field, JSONPath: path, Operator: "matches", Value: re}}, nil
	}
	var value any = right
	if n, err := strconv.ParseFloat(right, 64); err == nil {
		value = n
	} else if field == "statusCode" || field == "responseTimeMs" {
		return nil, fmt.Errorf("%s must be compared with a number", left)
	}
	if (op != "==" && op != "!=") && field == "body" {
		if _, isNum := value.(float64); !isNum {
			return nil, fmt.Errorf("%s compares numbers only", op)
		}
	}
	return []checks.Assertion{{Field: field, JSONPath: path, Operator: operators[op], Value: value}}, nil
}

// call unwraps name(inner).
func call(s, name string) (string, bool) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, name+"(") && strings.HasSuffix(s, ")") {
		return strings.TrimSpace(s[len(name)+1 : len(s)-1]), true
	}
	return "", false
}

// placeholder maps a Gatus placeholder to a request collector result field and a JSONPath.
func placeholder(p string) (field, path string, err error) {
	p = strings.TrimSpace(p)
	switch {
	case p == "[STATUS]":
		return "statusCode", "", nil
	case p == "[RESPONSE_TIME]":
		return "responseTimeMs", "", nil
	case p == "[BODY]":
		return "body", "", nil
	case strings.HasPrefix(p, "[BODY]."), strings.HasPrefix(p, "[BODY]["):
		rest := strings.TrimPrefix(strings.TrimPrefix(p, "[BODY]"), ".")
		if strings.HasPrefix(rest, "[") {
			return "body", "$" + rest, nil
		}
		return "body", "$." + rest, nil
	}
	return "", "", fmt.Errorf("placeholder %s has no equivalent in an HTTP check", p)
}

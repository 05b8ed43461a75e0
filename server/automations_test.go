package server

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/automation"
	"github.com/checkflow/checkflow/internal/secretbox"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
)

// automationOutT is an automation as the tests read it.
type automationOutT struct {
	ID       string `json:"id"`
	Revision int64  `json:"revision"`
	Name     string `json:"name"`
	Enabled  bool   `json:"enabled"`
	Trigger  struct {
		Event  string `json:"event"`
		Filter string `json:"filter"`
		Window *struct {
			Count       int    `json:"count"`
			Minutes     int    `json:"minutes"`
			Refire      string `json:"refire"`
			PartitionBy string `json:"partitionBy"`
		} `json:"window"`
	} `json:"trigger"`
	CooldownSeconds int `json:"cooldownSeconds"`
	Actions         []struct {
		Type   string                     `json:"type"`
		Config map[string]json.RawMessage `json:"config"`
	} `json:"actions"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// testResultT is a POST /automations/{id}:test answer as the tests read it.
type testResultT struct {
	Matched           bool      `json:"matched"`
	PartitionKey      string    `json:"partitionKey"`
	PartitionFallback string    `json:"partitionFallback"`
	FilterError       string    `json:"filterError"`
	At                time.Time `json:"at"`
	Gate              *struct {
		Fire          bool       `json:"fire"`
		Reason        string     `json:"reason"`
		Count         int        `json:"count"`
		CooldownUntil *time.Time `json:"cooldownUntil"`
	} `json:"gate"`
}

const healthChanged = automation.EventSystemHealthChanged

// mustAutomation creates an automation through the store (no signal) from an API body and
// returns its id.
func (e *env) mustAutomation(body map[string]any) string {
	e.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		e.t.Fatal(err)
	}
	spec, err := automation.Parse(raw)
	if err != nil {
		e.t.Fatal(err)
	}
	a, err := e.store.CreateAutomation(context.Background(), spec)
	if err != nil {
		e.t.Fatal(err)
	}
	return a.ID
}

// runCheckAutomation is a valid body: run check checkID on systemID when the system's health
// changes to anything but healthy, 3 times within 60 minutes.
func runCheckAutomation(systemID, checkID string) map[string]any {
	return map[string]any{
		"name": "restart on flapping", "enabled": true,
		"trigger": map[string]any{"event": healthChanged, "filter": `trigger.payload.newStatus != "healthy"`,
			"window": map[string]any{"count": 3, "minutes": 60, "refire": "every"}},
		"cooldownSeconds": 0,
		"actions":         []any{map[string]any{"type": "run_check", "config": map[string]any{"systemId": systemID, "configurationId": checkID}}},
	}
}

// storedAutomationRow is the whole stored row of an automation as PostgreSQL prints it.
func (e *env) storedAutomationRow(t *testing.T, id string) string {
	t.Helper()
	var row string
	if err := e.pool.QueryRow(context.Background(), `SELECT t::text FROM automations t WHERE id = $1`, id).Scan(&row); err != nil {
		t.Fatal(err)
	}
	return row
}

// storedActionConfig is the config of one stored action, decoded.
func (e *env) storedActionConfig(t *testing.T, id string, index int) map[string]json.RawMessage {
	t.Helper()
	var raw []byte
	if err := e.pool.QueryRow(context.Background(), `SELECT config -> 'actions' -> $2::int -> 'config' FROM automations WHERE id = $1`, id, index).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("stored action %d config %s: %v", index, raw, err)
	}
	return m
}

func (e *env) countRows(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// CRUD round trip: create answers 201 with id, revision 1, the spec and timestamps; get and list
// (filtered by event, paged) show it; PATCH merges field by field and increments the revision;
// DELETE answers 204 and the automation is gone. Every successful write signals the
// automation's workflow exactly once, a failed one never. Every answer matches the document.
func TestAutomationCRUDRoundTrip(t *testing.T) {
	t.Parallel()
	e, api := apiEnv(t)
	api = api.WithToken(e.tokens[tokManage])
	e.mustSystem("shop")
	check := e.mustCheck("web")
	channel := e.mustChannel("ops")
	signals := e.entities.automationsSignalled

	body := runCheckAutomation("shop", check)
	body["cooldownSeconds"] = 600
	body["actions"] = append(body["actions"].([]any), map[string]any{"type": "notify",
		"config": map[string]any{"channelId": strings.ToUpper(channel), "title": "{{.Payload.systemId}} flaps"}})
	res := api.Do("POST", "/api/v1/automations", body)
	var a automationOutT
	res.Decode(t, &a)
	if res.Status != 201 || a.ID == "" || a.Revision != 1 || a.Name != "restart on flapping" || !a.Enabled ||
		a.Trigger.Event != healthChanged || a.Trigger.Filter != `trigger.payload.newStatus != "healthy"` ||
		a.Trigger.Window == nil || a.Trigger.Window.Count != 3 || a.Trigger.Window.Minutes != 60 || a.Trigger.Window.Refire != "every" ||
		a.CooldownSeconds != 600 || len(a.Actions) != 2 || a.Actions[0].Type != "run_check" || a.Actions[1].Type != "notify" ||
		a.CreatedAt.IsZero() || !a.UpdatedAt.Equal(a.CreatedAt) {
		t.Fatalf("create = %d %s", res.Status, res.Body)
	}
	if got := string(a.Actions[1].Config["channelId"]); got != `"`+channel+`"` {
		t.Fatalf("channel id stored as %s, want %s", got, channel)
	}
	if got := signals(); !slices.Equal(got, []string{a.ID}) {
		t.Fatalf("create signalled %v, want [%s]", got, a.ID)
	}

	res = api.Do("GET", "/api/v1/automations/"+a.ID, nil)
	var got automationOutT
	res.Decode(t, &got)
	if res.Status != 200 || got.ID != a.ID || got.Revision != 1 || len(got.Actions) != 2 || got.CooldownSeconds != 600 {
		t.Fatalf("get = %d %s", res.Status, res.Body)
	}
	if res := api.Do("GET", "/api/v1/automations/"+strings.ToUpper(a.ID), nil); res.Status != 200 {
		t.Fatalf("get by upper-case id = %d %s", res.Status, res.Body)
	}

	// A second automation of another event, for the list filter and paging.
	other := runCheckAutomation("shop", check)
	other["name"] = "failures"
	other["trigger"] = map[string]any{"event": automation.EventCheckFailed}
	res = api.Do("POST", "/api/v1/automations", other)
	var b automationOutT
	res.Decode(t, &b)
	if res.Status != 201 || b.Trigger.Window != nil || b.Trigger.Filter != "" || b.CooldownSeconds != 0 {
		t.Fatalf("create without filter and window = %d %s", res.Status, res.Body)
	}
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", []string{a.ID, b.ID}},
		{"event=" + healthChanged, []string{a.ID}},
		{"event=" + automation.EventCheckFailed, []string{b.ID}},
		{"event=" + automation.EventFlappingStarted, nil},
		{"limit=1", []string{a.ID}},
		{"limit=1&offset=1", []string{b.ID}},
	} {
		res := api.Do("GET", "/api/v1/automations?"+c.query, nil)
		var list struct {
			Items []automationOutT `json:"items"`
		}
		res.Decode(t, &list)
		var ids []string
		for _, x := range list.Items {
			ids = append(ids, x.ID)
		}
		if res.Status != 200 || !slices.Equal(ids, c.want) {
			t.Errorf("automations?%s = %v, want %v (%d %s)", c.query, ids, c.want, res.Status, res.Body)
		}
	}
	for _, q := range []string{"event=healthcheck.nope", "limit=0", "enabled=true"} {
		if res := api.Do("GET", "/api/v1/automations?"+q, nil); res.Status != 422 {
			t.Errorf("automations?%s = %d %s, want 422", q, res.Status, res.Body)
		}
	}

	// PATCH: absent fields keep their value, the revision grows, the result is signalled.
	n := len(signals())
	res = api.Do("PATCH", "/api/v1/automations/"+a.ID, map[string]any{"name": "renamed", "cooldownSeconds": 60})
	got = automationOutT{}
	res.Decode(t, &got)
	if res.Status != 200 || got.Revision != 2 || got.Name != "renamed" || got.CooldownSeconds != 60 || got.Trigger.Window == nil ||
		got.Trigger.Filter != a.Trigger.Filter || len(got.Actions) != 2 || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Fatalf("patch name = %d %s", res.Status, res.Body)
	}
	// The trigger is replaced whole: without window and filter they are gone.
	res = api.Do("PATCH", "/api/v1/automations/"+a.ID, map[string]any{"enabled": false, "trigger": map[string]any{"event": automation.EventSystemDegraded}})
	got = automationOutT{}
	res.Decode(t, &got)
	if res.Status != 200 || got.Revision != 3 || got.Enabled || got.Trigger.Event != automation.EventSystemDegraded ||
		got.Trigger.Window != nil || got.Trigger.Filter != "" || got.Name != "renamed" || len(got.Actions) != 2 {
		t.Fatalf("patch trigger = %d %s", res.Status, res.Body)
	}
	// A rejected patch changes nothing and signals nothing.
	// (system_healthy has no newStatus in its payload schema.)
	res = api.Do("PATCH", "/api/v1/automations/"+a.ID, map[string]any{"trigger": map[string]any{"event": automation.EventSystemHealthy, "filter": "trigger.payload.newStatus == 'x'"}})
	if res.Status != 422 || res.Problem(t).Errors[0].Field != "trigger.filter" || !positionRE.MatchString(res.Problem(t).Errors[0].Message) {
		t.Fatalf("patch with a filter on a field system_healthy does not have = %d %s", res.Status, res.Body)
	}
	if s := signals()[n:]; !slices.Equal(s, []string{a.ID, a.ID}) {
		t.Fatalf("patches signalled %v, want two for %s", s, a.ID)
	}
	if cur, err := e.store.GetAutomation(context.Background(), a.ID); err != nil || cur.Revision != 3 {
		t.Fatalf("after the rejected patch: revision %d (%v), want 3", cur.Revision, err)
	}

	// DELETE: 204 and signalled, then 404 everywhere without signals.
	n = len(signals())
	if res := api.Do("DELETE", "/api/v1/automations/"+a.ID, nil); res.Status != 204 {
		t.Fatalf("delete = %d %s", res.Status, res.Body)
	}
	if s := signals()[n:]; !slices.Equal(s, []string{a.ID}) {
		t.Fatalf("delete signalled %v", s)
	}
	n = len(signals())
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/v1/automations/" + a.ID},
		{"DELETE", "/api/v1/automations/" + a.ID},
		{"PATCH", "/api/v1/automations/" + a.ID},
		{"GET", "/api/v1/automations/" + a.ID + "/runs"},
		{"POST", "/api/v1/automations/" + a.ID + ":test"},
		{"GET", "/api/v1/automations/not-a-uuid"},
	} {
		var body any
		switch {
		case r.method == "PATCH":
			body = map[string]any{"name": "x"}
		case r.method == "POST":
			body = map[string]any{"event": map[string]any{"payload": map[string]any{}}}
		}
		if res := api.Do(r.method, r.path, body); res.Status != 404 {
			t.Errorf("%s %s = %d %s", r.method, r.path, res.Status, res.Body)
		}
	}
	if s := signals()[n:]; len(s) != 0 {
		t.Fatalf("requests on a missing automation signalled %v", s)
	}
	if len(e.entities.signalled()) != 0 || len(e.entities.maintenanceSignalled()) != 0 {
		t.Fatalf("automation writes signalled system entities or maintenance windows")
	}
}

// positionRE is a CEL error message: "line:column: …".
var positionRE = regexp.MustCompile(`^\d+:\d+: `)

// Invalid automations are 422 problems naming the field (CEL errors with their line:column),
// malformed bodies 400s; nothing is stored and nothing is signalled.
func TestAutomationValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustSystem("shop")
	check := e.mustCheck("web")
	channel := e.mustChannel("ops")
	existing := e.mustAutomation(runCheckAutomation("shop", check))
	const missingUUID = "00000000-0000-0000-0000-000000000000"
	with := func(edit func(b map[string]any)) map[string]any {
		b := runCheckAutomation("shop", check)
		edit(b)
		return b
	}
	trigger := func(filter string, window any) func(b map[string]any) {
		return func(b map[string]any) {
			tr := map[string]any{"event": healthChanged, "filter": filter}
			if window != nil {
				tr["window"] = window
			}
			b["trigger"] = tr
		}
	}
	action := func(typ string, cfg map[string]any) func(b map[string]any) {
		return func(b map[string]any) { b["actions"] = []any{map[string]any{"type": typ, "config": cfg}} }
	}
	for _, c := range []struct {
		name, method string
		body         any
		status       int
		field        string
		message      *regexp.Regexp // matched against the field's message when set
	}{
		{"CEL syntax error", "POST", with(trigger(`trigger.payload.newStatus ==`, nil)), 422, "trigger.filter", regexp.MustCompile(`^1:29: Syntax error`)},
		{"CEL syntax error on line 2", "POST", with(trigger("trigger.payload.newStatus != \"healthy\" &&\n  (trigger.payload.totalChecks >", nil)), 422, "trigger.filter", regexp.MustCompile(`^2:\d+: Syntax error`)},
		{"unknown payload field", "POST", with(trigger(`trigger.payload.foo == "x"`, nil)), 422, "trigger.filter", regexp.MustCompile(`^1:16: undefined field 'foo'`)},
		{"unknown payload field on line 2", "POST", with(trigger("trigger.payload.newStatus != \"healthy\" &&\n  trigger.payload.foo > 1", nil)), 422, "trigger.filter", regexp.MustCompile(`^2:18: undefined field 'foo'`)},
		{"CEL type error", "POST", with(trigger(`trigger.payload.healthyChecks == "x"`, nil)), 422, "trigger.filter", regexp.MustCompile(`^1:31: found no matching overload`)},
		{"filter not a bool", "POST", with(trigger(`trigger.payload.systemId`, nil)), 422, "trigger.filter", regexp.MustCompile(`^1:16: must evaluate to a bool`)},
		{"blank filter", "POST", with(trigger(` `, nil)), 422, "trigger.filter", nil},
		{"partitionBy unknown field", "POST", with(trigger(`true`, map[string]any{"count": 2, "minutes": 5, "partitionBy": "trigger.payload.nope"})), 422, "trigger.window.partitionBy", positionRE},
		{"window count 0", "POST", with(trigger(`true`, map[string]any{"count": 0, "minutes": 5})), 422, "trigger.window.count", nil},
		{"window count too big", "POST", with(trigger(`true`, map[string]any{"count": 1001, "minutes": 5})), 422, "trigger.window.count", nil},
		{"window minutes too long", "POST", with(trigger(`true`, map[string]any{"count": 2, "minutes": 1441})), 422, "trigger.window.minutes", nil},
		{"window without minutes", "POST", with(trigger(`true`, map[string]any{"count": 2})), 422, "trigger.window.minutes", nil},
		{"window refire", "POST", with(trigger(`true`, map[string]any{"count": 2, "minutes": 5, "refire": "sometimes"})), 422, "trigger.window.refire", nil},
		{"window unknown field", "POST", with(trigger(`true`, map[string]any{"count": 2, "minutes": 5, "size": 3})), 422, "trigger.window.size", nil},
		{"window not an object", "POST", with(trigger(`true`, []any{2, 5})), 422, "trigger.window", nil},
		{"unknown event", "POST", with(func(b map[string]any) { b["trigger"] = map[string]any{"event": "healthcheck.nope"} }), 422, "trigger.event", nil},
		{"missing trigger", "POST", with(func(b map[string]any) { delete(b, "trigger") }), 422, "trigger", nil},
		{"unknown field", "POST", with(func(b map[string]any) { b["priority"] = 1 }), 422, "priority", regexp.MustCompile(`unknown field`)},
		{"unknown trigger field", "POST", with(func(b map[string]any) { b["trigger"].(map[string]any)["when"] = "now" }), 422, "trigger.when", nil},
		{"name of the wrong type", "POST", with(func(b map[string]any) { b["name"] = 5 }), 422, "name", regexp.MustCompile(`must be a string`)},
		{"blank name", "POST", with(func(b map[string]any) { b["name"] = " " }), 422, "name", nil},
		{"cooldown of the wrong type", "POST", with(func(b map[string]any) { b["cooldownSeconds"] = true }), 422, "cooldownSeconds", nil},
		{"cooldown too long", "POST", with(func(b map[string]any) { b["cooldownSeconds"] = automation.MaxCooldownSeconds + 1 }), 422, "cooldownSeconds", nil},
		{"enabled of the wrong type", "POST", with(func(b map[string]any) { b["enabled"] = "yes" }), 422, "enabled", nil},
		{"no actions", "POST", with(func(b map[string]any) { b["actions"] = []any{} }), 422, "actions", nil},
		{"missing actions", "POST", with(func(b map[string]any) { delete(b, "actions") }), 422, "actions", nil},
		{"unknown action type", "POST", with(action("restart", map[string]any{"systemId": "shop"})), 422, "actions[0].type", nil},
		{"unknown action config field", "POST", with(action("run_check", map[string]any{"systemId": "shop", "configurationId": check, "force": true})), 422, "actions[0].config.force", nil},
		{"unknown channel", "POST", with(action("notify", map[string]any{"channelId": missingUUID})), 422, "actions[0].config.channelId", regexp.MustCompile(`unknown notification channel`)},
		{"malformed channel id", "POST", with(action("notify", map[string]any{"channelId": "ops"})), 422, "actions[0].config.channelId", nil},
		{"unknown system", "POST", with(action("run_check", map[string]any{"systemId": "nope", "configurationId": check})), 422, "actions[0].config.systemId", regexp.MustCompile(`unknown system`)},
		{"unknown check", "POST", with(action("set_assignment_enabled", map[string]any{"systemId": "shop", "configurationId": missingUUID, "enabled": false})), 422, "actions[0].config.configurationId", regexp.MustCompile(`unknown check`)},
		{"check id not a uuid", "POST", with(action("run_check", map[string]any{"systemId": "shop", "configurationId": "web"})), 422, "actions[0].config.configurationId", nil},
		{"second action unknown channel", "POST", with(func(b map[string]any) {
			b["actions"] = append(b["actions"].([]any), map[string]any{"type": "notify", "config": map[string]any{"channelId": channel}},
				map[string]any{"type": "notify", "config": map[string]any{"channelId": missingUUID}})
		}), 422, "actions[2].config.channelId", nil},
		{"webhook URL", "POST", with(action("webhook", map[string]any{"url": "ftp://x"})), 422, "actions[0].config.url", nil},
		{"notify template", "POST", with(action("notify", map[string]any{"channelId": channel, "title": "{{.Payload"})), 422, "actions[0].config.title", nil},
		{"NUL in a string", "POST", with(func(b map[string]any) { b["name"] = "a\u0000b" }), 422, "name", nil},
		{"a JSON array", "POST", []any{}, 422, "", nil},
		{"malformed JSON", "POST", `{"name": `, 400, "", nil},
		{"empty body", "POST", ``, 400, "", nil},
		{"two JSON values", "POST", `{} {}`, 400, "", nil},
		{"patch null name", "PATCH", map[string]any{"name": nil}, 422, "name", regexp.MustCompile(`must not be null`)},
		{"patch unknown field", "PATCH", map[string]any{"priority": 1}, 422, "priority", regexp.MustCompile(`unknown field`)},
		{"patch bad filter", "PATCH", map[string]any{"trigger": map[string]any{"event": healthChanged, "filter": "trigger.payload.nope"}}, 422, "trigger.filter", regexp.MustCompile(`^1:16: undefined field 'nope'`)},
		{"patch bad window", "PATCH", map[string]any{"trigger": map[string]any{"event": healthChanged, "window": map[string]any{"count": 2, "minutes": 0}}}, 422, "trigger.window.minutes", nil},
		{"patch unknown action type", "PATCH", map[string]any{"actions": []any{map[string]any{"type": "restart", "config": map[string]any{}}}}, 422, "actions[0].type", nil},
		{"patch unknown system", "PATCH", map[string]any{"actions": []any{map[string]any{"type": "run_check", "config": map[string]any{"systemId": "nope", "configurationId": check}}}}, 422, "actions[0].config.systemId", nil},
		{"patch wrong type", "PATCH", map[string]any{"cooldownSeconds": true}, 422, "cooldownSeconds", nil},
		{"patch a JSON array", "PATCH", []any{}, 422, "", nil},
		{"patch malformed JSON", "PATCH", `{`, 400, "", nil},
	} {
		path := "/api/v1/automations"
		if c.method == "PATCH" {
			path += "/" + existing
		}
		res := e.do(c.method, path, tokManage, c.body)
		if res.status != c.status || res.header.Get("Content-Type") != problemContentType {
			t.Errorf("%s: %s, want a %d problem", c.name, res, c.status)
			continue
		}
		if c.status != 422 {
			continue
		}
		p := res.problem(t)
		i := slices.IndexFunc(p.Errors, func(f FieldError) bool { return f.Field == c.field })
		if p.Type != ProblemValidation || i < 0 {
			t.Errorf("%s: errors %+v do not name %q", c.name, p.Errors, c.field)
			continue
		}
		if c.message != nil && !c.message.MatchString(p.Errors[i].Message) {
			t.Errorf("%s: message %q does not match %s", c.name, p.Errors[i].Message, c.message)
		}
	}
	// A wrong media type is a 415.
	if res := e.do("POST", "/api/v1/automations", tokManage, nil, "Content-Type", "text/plain"); res.status != 415 {
		t.Errorf("text/plain = %s", res)
	}
	if n := e.countRows(t, "automations"); n != 1 {
		t.Fatalf("%d automations stored, want only the fixture", n)
	}
	if cur, err := e.store.GetAutomation(context.Background(), existing); err != nil || cur.Revision != 1 {
		t.Fatalf("the fixture was changed: revision %d (%v)", cur.Revision, err)
	}
	if got := e.entities.automationsSignalled(); len(got) != 0 {
		t.Fatalf("rejected requests signalled %v", got)
	}
}

// A webhook action's secret is sealed before it is stored, masked in every answer, kept by a
// PATCH that leaves it out or sends "****" back, replaced by a new value and removed by "".
func TestAutomationWebhookSecrets(t *testing.T) {
	t.Parallel()
	e, api := apiEnv(t)
	api = api.WithToken(e.tokens[tokManage])
	e.mustSystem("shop")
	check := e.mustCheck("web")
	const (
		planted = "whsec-PLANTED-0001"
		rotated = "whsec-ROTATED-0002"
	)
	var bodies [][]byte
	do := func(method, path string, body any, want int) automationOutT {
		t.Helper()
		res := api.Do(method, path, body)
		if res.Status != want {
			t.Fatalf("%s %s = %d %s", method, path, res.Status, res.Body)
		}
		bodies = append(bodies, res.Body)
		var a automationOutT
		if want < 300 && len(res.Body) > 0 && res.Body[0] == '{' {
			res.Decode(t, &a)
		}
		return a
	}
	webhook := func(cfg map[string]any) map[string]any { return map[string]any{"type": "webhook", "config": cfg} }
	runCheck := map[string]any{"type": "run_check", "config": map[string]any{"systemId": "shop", "configurationId": check}}
	body := runCheckAutomation("shop", check)
	body["actions"] = []any{runCheck, webhook(map[string]any{"url": "https://hooks.example.com/a", "secret": planted})}
	a := do("POST", "/api/v1/automations", body, 201)
	if got := string(a.Actions[1].Config["secret"]); got != `"****"` {
		t.Fatalf("secret as shown = %s", got)
	}
	if got := string(a.Actions[1].Config["url"]); got != `"https://hooks.example.com/a"` {
		t.Fatalf("url as shown = %s", got)
	}
	do("GET", "/api/v1/automations/"+a.ID, nil, 200)
	do("GET", "/api/v1/automations", nil, 200)

	// Stored sealed: the row holds no plain secret; the box opens it.
	openSecret := func() (string, json.RawMessage) {
		t.Helper()
		row := e.storedAutomationRow(t, a.ID)
		for _, p := range []string{planted, rotated} {
			if strings.Contains(row, p) {
				t.Fatalf("the stored row holds %q: %s", p, row)
			}
		}
		cfg := e.storedActionConfig(t, a.ID, 1)
		raw, ok := cfg["secret"]
		if !ok {
			return "", nil
		}
		var sealed string
		if err := json.Unmarshal(raw, &sealed); err != nil || !secretbox.IsSealed(sealed) {
			t.Fatalf("stored secret is not sealed: %s", raw)
		}
		plain, err := e.box.Open(sealed)
		if err != nil {
			t.Fatal(err)
		}
		return plain, raw
	}
	plain, sealed := openSecret()
	if plain != planted {
		t.Fatalf("stored secret opens to %q", plain)
	}

	// PATCH without actions, with actions leaving the secret out, with "****": kept as stored.
	for i, patch := range []map[string]any{
		{"name": "renamed"},
		{"actions": []any{runCheck, webhook(map[string]any{"url": "https://hooks.example.com/b"})}},
		{"actions": []any{runCheck, webhook(map[string]any{"url": "https://hooks.example.com/c", "secret": "****"})}},
	} {
		got := do("PATCH", "/api/v1/automations/"+a.ID, patch, 200)
		if string(got.Actions[1].Config["secret"]) != `"****"` {
			t.Fatalf("patch %d: secret as shown = %s", i, got.Actions[1].Config["secret"])
		}
		if p, raw := openSecret(); p != planted || !bytes.Equal(raw, sealed) {
			t.Fatalf("patch %d: stored secret %s opens to %q, want the stored %s", i, raw, p, sealed)
		}
	}
	if got := string(e.storedActionConfig(t, a.ID, 1)["url"]); got != `"https://hooks.example.com/c"` {
		t.Fatalf("url after the patches = %s", got)
	}
	// The secret follows the position: a webhook moved to position 0 has nothing stored there.
	res := api.Do("PATCH", "/api/v1/automations/"+a.ID, map[string]any{"actions": []any{webhook(map[string]any{"url": "https://hooks.example.com/d", "secret": "****"}), runCheck}})
	if p := res.Problem(t); res.Status != 422 || len(p.Errors) != 1 || p.Errors[0].Field != "actions[0].config.secret" || !strings.Contains(p.Errors[0].Message, "none is stored") {
		t.Fatalf("**** at a position without a stored secret = %d %s", res.Status, res.Body)
	}
	// A new secret replaces it; "" removes it.
	do("PATCH", "/api/v1/automations/"+a.ID, map[string]any{"actions": []any{runCheck, webhook(map[string]any{"url": "https://hooks.example.com/c", "secret": rotated})}}, 200)
	if p, _ := openSecret(); p != rotated {
		t.Fatalf("rotated secret opens to %q", p)
	}
	got := do("PATCH", "/api/v1/automations/"+a.ID, map[string]any{"actions": []any{runCheck, webhook(map[string]any{"url": "https://hooks.example.com/c", "secret": ""})}}, 200)
	if _, ok := got.Actions[1].Config["secret"]; ok {
		t.Fatalf("removed secret is shown: %v", got.Actions[1].Config)
	}
	if p, raw := openSecret(); raw != nil {
		t.Fatalf("removed secret is stored: %s (%q)", raw, p)
	}
	for _, b := range bodies {
		for _, p := range []string{planted, rotated, secretbox.Prefix} {
			if bytes.Contains(b, []byte(p)) {
				t.Fatalf("a response holds %q: %s", p, b)
			}
		}
	}
	// "****" with nothing stored is an error on create.
	body["actions"] = []any{webhook(map[string]any{"url": "https://hooks.example.com/x", "secret": "****"})}
	res = api.Do("POST", "/api/v1/automations", body)
	if res.Status != 422 || res.Problem(t).Errors[0].Field != "actions[0].config.secret" {
		t.Fatalf("create with **** = %d %s", res.Status, res.Body)
	}

	// A value sealed with the server's key (an export of this installation) is stored as it is;
	// one sealed with another key is a 422.
	mine, err := e.box.Seal("exported-secret")
	if err != nil {
		t.Fatal(err)
	}
	body["actions"] = []any{webhook(map[string]any{"url": "https://hooks.example.com/x", "secret": mine})}
	imported := do("POST", "/api/v1/automations", body, 201)
	if got := e.storedActionConfig(t, imported.ID, 0)["secret"]; string(got) != `"`+mine+`"` {
		t.Fatalf("imported sealed secret stored as %s", got)
	}
	theirs, err := testutil.SecretBox(t).Seal("foreign-secret")
	if err != nil {
		t.Fatal(err)
	}
	body["actions"] = []any{webhook(map[string]any{"url": "https://hooks.example.com/x", "secret": theirs})}
	res = api.Do("POST", "/api/v1/automations", body)
	if res.Status != 422 || res.Problem(t).Errors[0].Field != "actions[0].config.secret" {
		t.Fatalf("create with a value sealed by another key = %d %s", res.Status, res.Body)
	}

	// Without a secret key a secret is rejected naming the field and nothing is stored.
	e.srv = New(Config{Pool: e.pool, Entities: e.entities})
	body["actions"] = []any{webhook(map[string]any{"url": "https://hooks.example.com/x", "secret": "nokey-PLANTED"})}
	res2 := e.do("POST", "/api/v1/automations", tokManage, body)
	if p := res2.problem(t); res2.status != 422 || p.Errors[0].Field != "actions[0].config.secret" || !strings.Contains(p.Errors[0].Message, "secret key") {
		t.Fatalf("create with a secret and no key = %s", res2)
	}
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM automations WHERE config::text LIKE '%nokey-PLANTED%'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d automations hold the secret (%v)", n, err)
	}
}

// Scopes: config:read lists and reads automations and their runs, config:manage writes and
// tests them; a token without the scope is a 403 and signals nothing (every route and token is
// also in TestPermissionMatrix).
func TestAutomationScopes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustSystem("shop")
	check := e.mustCheck("web")
	id := e.mustAutomation(runCheckAutomation("shop", check))
	sample := map[string]any{"event": map[string]any{"payload": map[string]any{"systemId": "shop"}}}
	for _, c := range []struct {
		token, method, path string
		body                any
		want                int
	}{
		{tokStatus, "GET", "/api/v1/automations", nil, 403},
		{tokDetails, "GET", "/api/v1/automations/" + id, nil, 403},
		{tokNone, "GET", "/api/v1/automations", nil, 401},
		{tokRead, "GET", "/api/v1/automations", nil, 200},
		{tokRead, "GET", "/api/v1/automations/" + id, nil, 200},
		{tokRead, "GET", "/api/v1/automations/" + id + "/runs", nil, 200},
		{tokRead, "POST", "/api/v1/automations", runCheckAutomation("shop", check), 403},
		{tokRead, "PATCH", "/api/v1/automations/" + id, map[string]any{"name": "x"}, 403},
		{tokRead, "DELETE", "/api/v1/automations/" + id, nil, 403},
		{tokRead, "POST", "/api/v1/automations/" + id + ":test", sample, 403},
		{tokStatus, "POST", "/api/v1/automations", runCheckAutomation("shop", check), 403},
		{tokManage, "GET", "/api/v1/automations", nil, 200},
		{tokAdmin, "POST", "/api/v1/automations", runCheckAutomation("shop", check), 201},
	} {
		res := e.do(c.method, c.path, c.token, c.body)
		if res.status != c.want {
			t.Errorf("%s %s with %q = %s, want %d", c.method, c.path, c.token, res, c.want)
		}
	}
	if got := e.entities.automationsSignalled(); len(got) != 1 {
		t.Fatalf("signalled %v, want only the admin's create", got)
	}
}

// POST /automations/{id}:test evaluates the filter and the gate against a sample or a past
// event without recording anything: a sample that matches and one that does not, a gate below
// its count and one that fires on the stored occurrences of the partition (other partitions and
// old occurrences do not count), refire "once" past its count, a past event by key (evaluated
// at its own time, itself and later occurrences excluded), a filter that fails, and the 422s.
func TestAutomationTestEndpoint(t *testing.T) {
	t.Parallel()
	e, api := apiEnv(t)
	api = api.WithToken(e.tokens[tokManage])
	ctx := context.Background()
	e.mustSystem("shop")
	e.mustSystem("db")
	check := e.mustCheck("web")
	id := e.mustAutomation(runCheckAutomation("shop", check))
	payload := func(system, status string) map[string]any {
		return map[string]any{"systemId": system, "previousStatus": "healthy", "newStatus": status,
			"healthyChecks": 0, "totalChecks": 1, "timestamp": t0.Format(time.RFC3339)}
	}
	test := func(automationID string, body any) testResultT {
		t.Helper()
		res := api.Do("POST", "/api/v1/automations/"+automationID+":test", body)
		if res.Status != 200 {
			t.Fatalf(":test %v = %d %s", body, res.Status, res.Body)
		}
		var out testResultT
		res.Decode(t, &out)
		return out
	}
	sample := func(p map[string]any) map[string]any { return map[string]any{"event": map[string]any{"payload": p}} }
	occurrence := func(automationID, partition, key string, at time.Time) {
		t.Helper()
		if _, err := e.store.InsertOccurrence(ctx, store.Occurrence{AutomationID: automationID, PartitionKey: partition, EventKey: key, At: at}); err != nil {
			t.Fatal(err)
		}
	}

	// Matching sample, nothing stored: below the count (1 of 3).
	got := test(id, sample(payload("shop", "degraded")))
	if !got.Matched || got.PartitionKey != "shop" || got.FilterError != "" || got.Gate == nil || got.Gate.Fire ||
		got.Gate.Reason != "below_count" || got.Gate.Count != 1 || !got.At.Equal(t0) {
		t.Fatalf("matching sample = %+v", got)
	}
	// Not matching: the filter is false, or the event has another type.
	for _, body := range []map[string]any{
		sample(payload("shop", "healthy")),
		{"event": map[string]any{"type": automation.EventSystemDegraded, "payload": payload("shop", "degraded")}},
	} {
		if got := test(id, body); got.Matched || got.Gate != nil || got.PartitionKey != "" || got.FilterError != "" {
			t.Fatalf("sample %v = %+v, want no match", body, got)
		}
	}

	// Two prior occurrences of shop in the window: the sample is the third and fires. Other
	// partitions, older occurrences and later ones do not count.
	occurrence(id, "shop", "shop:1:e", t0.Add(-50*time.Minute))
	occurrence(id, "shop", "shop:2:e", t0.Add(-time.Minute))
	occurrence(id, "shop", "shop:0:e", t0.Add(-61*time.Minute))
	occurrence(id, "db", "db:1:e", t0.Add(-2*time.Minute))
	occurrence(id, "db", "db:2:e", t0.Add(-3*time.Minute))
	occurrence(id, "shop", "shop:9:e", t0.Add(time.Minute))
	got = test(id, sample(payload("shop", "unhealthy")))
	if !got.Matched || got.PartitionKey != "shop" || got.Gate == nil || !got.Gate.Fire || got.Gate.Reason != "fired" || got.Gate.Count != 3 {
		t.Fatalf("third occurrence = %+v", got)
	}
	if got := test(id, sample(payload("db", "degraded"))); got.PartitionKey != "db" || got.Gate == nil || !got.Gate.Fire || got.Gate.Count != 3 {
		t.Fatalf("db's third occurrence = %+v", got)
	}

	// refire "once", partitioned by the payload's systemId expression: past the count it does not fire again.
	once := runCheckAutomation("shop", check)
	once["trigger"] = map[string]any{"event": healthChanged, "window": map[string]any{"count": 2, "minutes": 10, "refire": "once", "partitionBy": "trigger.payload.systemId"}}
	onceID := e.mustAutomation(once)
	occurrence(onceID, "shop", "shop:1:e", t0.Add(-2*time.Minute))
	if got := test(onceID, sample(payload("shop", "degraded"))); got.Gate == nil || !got.Gate.Fire || got.Gate.Count != 2 {
		t.Fatalf("once at its count = %+v", got)
	}
	occurrence(onceID, "shop", "shop:2:e", t0.Add(-time.Minute))
	if got := test(onceID, sample(payload("shop", "healthy"))); got.Gate == nil || got.Gate.Fire || got.Gate.Reason != "already_crossed" || got.Gate.Count != 3 {
		t.Fatalf("once past its count = %+v", got)
	}

	// Without a window every matching event fires; the cooldown is never evaluated here.
	plain := runCheckAutomation("shop", check)
	plain["trigger"] = map[string]any{"event": automation.EventCheckFailed}
	plain["cooldownSeconds"] = 3600
	plainID := e.mustAutomation(plain)
	failed := map[string]any{"type": automation.EventCheckFailed, "payload": map[string]any{"systemId": "db", "configurationId": check,
		"status": "unhealthy", "timestamp": t0.Format(time.RFC3339)}}
	if got := test(plainID, map[string]any{"event": failed}); !got.Matched || got.PartitionKey != "db" || got.Gate == nil || !got.Gate.Fire || got.Gate.Count != 0 {
		t.Fatalf("no window = %+v", got)
	}

	// A filter that fails to evaluate (an optional field read without has()) does not match.
	slow := runCheckAutomation("shop", check)
	slow["trigger"] = map[string]any{"event": automation.EventCheckFailed, "filter": "trigger.payload.latencyMs > 100"}
	slowID := e.mustAutomation(slow)
	if got := test(slowID, map[string]any{"event": failed}); got.Matched || got.Gate != nil || !strings.Contains(got.FilterError, "latencyMs") {
		t.Fatalf("failing filter = %+v", got)
	}

	// A past event by key: evaluated at its own time, with the occurrences before it in the window.
	key := "shop:42:" + healthChanged
	if _, err := e.store.InsertEvent(ctx, "shop", healthChanged, key, payload("shop", "degraded")); err != nil {
		t.Fatal(err)
	}
	ev, err := e.store.EventByKey(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got = test(id, map[string]any{"eventKey": key})
	if !got.Matched || got.PartitionKey != "shop" || !got.At.Equal(ev.CreatedAt) || got.Gate == nil || got.Gate.Fire || got.Gate.Count != 1 {
		t.Fatalf("past event without prior occurrences = %+v (event at %v)", got, ev.CreatedAt)
	}
	occurrence(id, "shop", key, ev.CreatedAt)                                // the event itself, as the workflow records it
	occurrence(id, "shop", "shop:41:e", ev.CreatedAt.Add(-30*time.Minute))   // before it, in the window
	occurrence(id, "shop", "shop:40:e", ev.CreatedAt.Add(-time.Microsecond)) // just before it
	occurrence(id, "shop", "shop:43:e", ev.CreatedAt.Add(time.Microsecond))  // after it
	occurrence(id, "shop", "shop:39:e", ev.CreatedAt.Add(-61*time.Minute))   // before the window
	occurrence(id, "db", "db:41:e", ev.CreatedAt.Add(-10*time.Minute))       // another partition
	occurrence(id, "shop", "shop:44:e", ev.CreatedAt.Add(30*time.Minute))    // much later
	got = test(id, map[string]any{"eventKey": key})
	if !got.Matched || got.Gate == nil || !got.Gate.Fire || got.Gate.Reason != "fired" || got.Gate.Count != 3 {
		t.Fatalf("past event with two prior occurrences = %+v", got)
	}

	// Nothing was recorded: no occurrence beyond the seeded ones, no fire, no signal.
	if n := e.countRows(t, "automation_occurrences"); n != 15 {
		t.Fatalf("%d occurrences, want the 15 seeded", n)
	}
	if n := e.countRows(t, "automation_fires"); n != 0 {
		t.Fatalf("%d fires recorded by :test", n)
	}
	if s := e.entities.automationsSignalled(); len(s) != 0 {
		t.Fatalf(":test signalled %v", s)
	}

	// Invalid requests.
	missingField := payload("shop", "degraded")
	delete(missingField, "systemId")
	wrongType := payload("shop", "degraded")
	wrongType["healthyChecks"] = "none"
	for _, c := range []struct {
		name  string
		body  any
		field string
	}{
		{"sample without a required field", sample(missingField), "event.payload.systemId"},
		{"sample with a field of the wrong type", sample(wrongType), "event.payload.healthyChecks"},
		{"sample with a bad status", sample(payload("shop", "sick")), "event.payload.newStatus"},
		{"sample of an unknown type", map[string]any{"event": map[string]any{"type": "healthcheck.nope", "payload": payload("shop", "degraded")}}, "event.type"},
		{"sample without payload", map[string]any{"event": map[string]any{}}, "event.payload"},
		{"sample payload not an object", map[string]any{"event": map[string]any{"payload": []any{1}}}, "event.payload"},
		{"unknown event key", map[string]any{"eventKey": "shop:404:" + healthChanged}, "eventKey"},
		{"empty event key", map[string]any{"eventKey": ""}, "eventKey"},
		{"both", map[string]any{"eventKey": key, "event": map[string]any{"payload": payload("shop", "degraded")}}, "eventKey"},
		{"neither", map[string]any{}, "event"},
		{"unknown field", map[string]any{"eventKey": key, "dryRun": true}, "dryRun"},
	} {
		res := api.Do("POST", "/api/v1/automations/"+id+":test", c.body)
		if res.Status != 422 {
			t.Errorf("%s: %d %s, want 422", c.name, res.Status, res.Body)
			continue
		}
		if p := res.Problem(t); !slices.ContainsFunc(p.Errors, func(f struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		}) bool {
			return f.Field == c.field
		}) {
			t.Errorf("%s: errors %+v do not name %s", c.name, p.Errors, c.field)
		}
	}
	// The verb is part of the route: without it, or another one, there is no such operation.
	for _, path := range []string{"/api/v1/automations/" + id + ":run", "/api/v1/automations/" + id} {
		if res := e.do("POST", path, tokManage, sample(payload("shop", "degraded"))); res.status != 404 && res.status != 405 {
			t.Errorf("POST %s = %s, want 404 or 405", path, res)
		}
	}
}

// GET /automations/{id}/runs lists the fires recorded by the automation's workflow with their
// action outcomes, newest first, paginated; another automation's fires are not listed.
func TestAutomationRuns(t *testing.T) {
	t.Parallel()
	e, api := apiEnv(t)
	api = api.WithToken(e.tokens[tokRead])
	ctx := context.Background()
	e.mustSystem("shop")
	check := e.mustCheck("web")
	id := e.mustAutomation(runCheckAutomation("shop", check))
	otherID := e.mustAutomation(runCheckAutomation("shop", check))
	fire := func(automationID, eventKey string, index int, at time.Time) store.FireInput {
		return store.FireInput{AutomationID: automationID, EventKey: eventKey, EventType: healthChanged, PartitionKey: "shop",
			ActionIndex: index, ActionType: automation.ActionRunCheck, FiredAt: at}
	}
	older, newer := t0.Add(-10*time.Minute), t0.Add(-time.Minute)
	for _, in := range []store.FireInput{fire(id, "shop:1:e", 0, older), fire(id, "shop:1:e", 1, older), fire(id, "shop:2:e", 0, newer), fire(otherID, "shop:2:e", 0, newer)} {
		if _, _, err := e.store.RecordFire(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := e.store.RecordFireOutcome(ctx, fire(id, "shop:1:e", 0, older), store.FireSucceeded, "shop:"+check,
		json.RawMessage(`{"systemId":"shop","configurationId":"`+check+`","enqueued":true}`), older.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.RecordFireOutcome(ctx, fire(id, "shop:2:e", 0, newer), store.FireFailed, "Assignment not found", nil, newer.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	type fireT struct {
		ID           string          `json:"id"`
		AutomationID string          `json:"automationId"`
		EventKey     string          `json:"eventKey"`
		ActionIndex  int             `json:"actionIndex"`
		ActionType   string          `json:"actionType"`
		Outcome      string          `json:"outcome"`
		Detail       string          `json:"detail"`
		Result       json.RawMessage `json:"result"`
		FiredAt      time.Time       `json:"firedAt"`
		FinishedAt   *time.Time      `json:"finishedAt"`
	}
	list := func(query string) []fireT {
		t.Helper()
		res := api.Do("GET", "/api/v1/automations/"+id+"/runs"+query, nil)
		if res.Status != 200 {
			t.Fatalf("runs%s = %d %s", query, res.Status, res.Body)
		}
		var out struct {
			Items []fireT `json:"items"`
		}
		res.Decode(t, &out)
		return out.Items
	}
	all := list("")
	var keys []string
	for _, f := range all {
		keys = append(keys, f.ID)
	}
	want := []string{automation.ActionKey("shop:2:e", id, 0), automation.ActionKey("shop:1:e", id, 0), automation.ActionKey("shop:1:e", id, 1)}
	if !slices.Equal(keys, want) {
		t.Fatalf("runs = %v, want %v", keys, want)
	}
	if f := all[0]; f.Outcome != "failed" || f.Detail != "Assignment not found" || f.FinishedAt == nil || !f.FiredAt.Equal(newer) || f.AutomationID != id {
		t.Errorf("failed fire = %+v", f)
	}
	if f := all[1]; f.Outcome != "succeeded" || !bytes.Contains(f.Result, []byte(`"enqueued":true`)) || f.ActionType != "run_check" {
		t.Errorf("succeeded fire = %+v", f)
	}
	if f := all[2]; f.Outcome != "pending" || f.FinishedAt != nil || f.ActionIndex != 1 {
		t.Errorf("pending fire = %+v", f)
	}
	if page := list("?limit=1&offset=1"); len(page) != 1 || page[0].ID != want[1] {
		t.Errorf("second page = %+v", page)
	}
	if page := list("?offset=3"); len(page) != 0 {
		t.Errorf("past the end = %+v", page)
	}
	for _, q := range []string{"?limit=501", "?limit=x", "?order=asc"} {
		if res := api.Do("GET", "/api/v1/automations/"+id+"/runs"+q, nil); res.Status != 422 {
			t.Errorf("runs%s = %d %s, want 422", q, res.Status, res.Body)
		}
	}
	if res := api.Do("GET", "/api/v1/automations/00000000-0000-0000-0000-000000000000/runs", nil); res.Status != 404 {
		t.Errorf("runs of a missing automation = %d %s", res.Status, res.Body)
	}
}

// A write whose signal fails is saved and answered 503 entity-unreachable saying so (with
// Retry-After); GitOps-managed automations cannot be changed or deleted.
func TestAutomationSignalFailureAndGitOps(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustSystem("shop")
	check := e.mustCheck("web")
	e.entities.setFail(true)
	res := e.do("POST", "/api/v1/automations", tokManage, runCheckAutomation("shop", check))
	if p := res.problem(t); res.status != 503 || p.Type != ProblemEntityUnreachable || !strings.Contains(p.Detail, "saved") || res.header.Get("Retry-After") == "" {
		t.Fatalf("create with Temporal down = %s", res)
	}
	list, err := e.store.ListAutomations(context.Background(), store.AutomationFilter{}, store.Page{})
	if err != nil || len(list) != 1 {
		t.Fatalf("the automation was not committed before the signal: %+v (%v)", list, err)
	}
	id := list[0].ID
	res = e.do("PATCH", "/api/v1/automations/"+id, tokManage, map[string]any{"name": "saved anyway"})
	if p := res.problem(t); res.status != 503 || p.Type != ProblemEntityUnreachable || !strings.Contains(p.Detail, id) {
		t.Fatalf("patch with Temporal down = %s", res)
	}
	if cur, err := e.store.GetAutomation(context.Background(), id); err != nil || cur.Name != "saved anyway" || cur.Revision != 2 {
		t.Fatalf("the patch was not committed: %+v (%v)", cur, err)
	}
	e.entities.setFail(false)

	// Managed by GitOps: 403, nothing changed, nothing signalled.
	if _, err := e.store.SetProvenance(context.Background(), store.ProvenanceKindAutomation, id, "git@example:repo"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		method string
		body   any
	}{{"PATCH", map[string]any{"name": "x"}}, {"DELETE", nil}} {
		res := e.do(r.method, "/api/v1/automations/"+id, tokManage, r.body)
		if p := res.problem(t); res.status != 403 || p.Type != ProblemGitOps {
			t.Errorf("%s of a managed automation = %s", r.method, res)
		}
	}
	if cur, err := e.store.GetAutomation(context.Background(), id); err != nil || cur.Revision != 2 {
		t.Fatalf("the managed automation changed: %+v (%v)", cur, err)
	}
	if err := e.store.DeleteProvenance(context.Background(), store.ProvenanceKindAutomation, id); err != nil {
		t.Fatal(err)
	}

	e.entities.setFail(true)
	res = e.do("DELETE", "/api/v1/automations/"+id, tokManage, nil)
	if p := res.problem(t); res.status != 503 || p.Type != ProblemEntityUnreachable || !strings.Contains(p.Detail, "deleted") {
		t.Fatalf("delete with Temporal down = %s", res)
	}
	if _, err := e.store.GetAutomation(context.Background(), id); err == nil {
		t.Fatal("the automation survived its delete")
	}
	e.entities.setFail(false)
	if got := e.entities.automationsSignalled(); len(got) != 0 {
		t.Fatalf("failed or refused writes were signalled: %v", got)
	}

	// Without any Temporal client, writes are saved and answered the same way.
	e.srv = New(Config{Pool: e.pool}, WithClock(func() time.Time { return t0 }))
	res = e.do("POST", "/api/v1/automations", tokManage, runCheckAutomation("shop", check))
	if p := res.problem(t); res.status != 503 || p.Type != ProblemEntityUnreachable || !strings.Contains(p.Detail, "saved") {
		t.Fatalf("create without Temporal = %s", res)
	}
}

package tests

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/cli"
	"github.com/checkflow/checkflow/internal/gatusimport"
)

// Acceptance 4: a Gatus configuration of 20 endpoints with every condition form converts into
// manifests that apply, and each check passes or fails like its Gatus condition against a
// local target.
func TestGitOpsGatusImport(t *testing.T) {
	g := newGitOpsStack(t)
	ctx := context.Background()
	target := newTargetFunc(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/up":
			_, _ = w.Write([]byte(`{"status":"UP","items":[1,2,3],"count":5,"data":{"id":7}}`))
		case "/down":
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"DOWN","errors":["db"]}`))
		case "/plain":
			_, _ = w.Write([]byte(`UP`))
		case "/text":
			_, _ = w.Write([]byte(`all systems UP and running`))
		case "/slow":
			select { // the target answers late: a response time over 300 ms
			case <-time.After(600 * time.Millisecond):
			case <-r.Context().Done():
			}
			_, _ = w.Write([]byte(`{"status":"UP"}`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	type ep struct {
		name, path, cond string
		pass             bool
	}
	eps := []ep{
		{"status-200", "/up", "[STATUS] == 200", true},
		{"status-200-down", "/down", "[STATUS] == 200", false},
		{"status-ne", "/down", "[STATUS] != 200", true},
		{"status-lt", "/up", "[STATUS] < 300", true},
		{"status-lt-down", "/down", "[STATUS] < 300", false},
		{"status-any", "/up", "[STATUS] == any(200, 201)", true},
		{"status-any-down", "/down", "[STATUS] == any(200, 201)", false},
		{"rt-fast", "/up", "[RESPONSE_TIME] < 300", true},
		{"rt-slow", "/slow", "[RESPONSE_TIME] < 300", false},
		{"body-eq", "/plain", "[BODY] == UP", true},
		{"body-eq-text", "/text", "[BODY] == UP", false},
		{"body-pat", "/text", "[BODY] == pat(*UP*)", true},
		{"body-pat-down", "/down", "[BODY] == pat(*UP*)", false},
		{"json-eq", "/up", "[BODY].status == UP", true},
		{"json-eq-down", "/down", "[BODY].status == UP", false},
		{"json-gt", "/up", "[BODY].count > 2", true},
		{"len-eq", "/up", "len([BODY].items) == 3", true},
		{"len-eq-wrong", "/up", "len([BODY].items) == 2", false},
		{"has-false", "/up", "has([BODY].errors) == false", true},
		{"has-false-down", "/down", "has([BODY].errors) == false", false},
	}
	groups := []string{"core-" + g.suffix, "edge-" + g.suffix}
	var b strings.Builder
	b.WriteString("alerting:\n  slack: {webhook-url: 'https://hooks.slack.com/services/x'}\nendpoints:\n")
	for i, e := range eps {
		fmt.Fprintf(&b, "  - name: %s\n    group: %s\n    url: %q\n    interval: 1h\n    conditions: [%q]\n", e.name, groups[i%2], target.URL+e.path, e.cond)
	}
	for _, grp := range groups {
		g.sys(t, strings.TrimSuffix(grp, "-"+g.suffix)) // terminate the entities at the end
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "gatus.yaml"), b.String())
	out := filepath.Join(dir, "manifests")
	code, msg := g.cli(t, nil, "import", "gatus", filepath.Join(dir, "gatus.yaml"), "-o", out)
	if code != 0 || !strings.Contains(msg, "converted 20 endpoints into 20 checks and 2 systems") || !strings.Contains(msg, "not converted: alerting") {
		t.Fatalf("import: exit %d\n%s", code, msg)
	}
	code, msg = g.cli(t, nil, "apply", "-f", out, "--context", "gatus")
	if code != 0 || countLines(msg, "+ create") != 22 {
		t.Fatalf("apply: exit %d\n%s", code, msg)
	}
	remote, err := cli.FetchRemote(ctx, g.client(g.admin))
	if err != nil {
		t.Fatal(err)
	}
	c := g.client(g.admin)
	for i, e := range eps {
		t.Run(e.name, func(t *testing.T) {
			name := groups[i%2] + "-" + e.name
			id := remote.CheckIDs[name]
			if id == "" {
				t.Fatalf("no check %q", name)
			}
			res, err := c.RunNow(ctx, groups[i%2], id, "gatus-"+e.name)
			if err != nil {
				t.Fatal(err)
			}
			passed := res.Run.Status == "healthy"
			if passed != e.pass {
				t.Errorf("%s against %s: run %s (%s), Gatus would %s", e.cond, e.path, res.Run.Status, res.Run.Message, map[bool]string{true: "pass", false: "fail"}[e.pass])
			}
		})
	}
	if _, err := gatusimport.ConvertCondition("[CONNECTED] == true"); err == nil {
		t.Error("[CONNECTED] converted for an HTTP check")
	}
}

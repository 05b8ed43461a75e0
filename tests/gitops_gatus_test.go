package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/cli"
	"github.com/checkflow/checkflow/internal/gatusimport"
)

// Acceptance 4: a Gatus configuration of 20 endpoints of mixed conditions (every condition
// form the converter supports, and one endpoint with several) converts into manifests that
// apply — its slack provider into a channel — and each check passes like its Gatus condition
// while the local target answers well, and fails like it once the target answers badly.
func TestGitOpsGatusImport(t *testing.T) {
	g := newGitOpsStack(t)
	ctx := context.Background()
	var bad atomic.Bool // the target's mode: false answers so that every condition holds
	target := newTargetFunc(t, func(w http.ResponseWriter, r *http.Request) {
		answer := func(good, worse string) {
			body := good
			if bad.Load() {
				body = worse
			}
			_, _ = w.Write([]byte(body))
		}
		switch r.URL.Path {
		case "/status": // 200, then 503
			if bad.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		case "/error": // 200, then 500
			if bad.Load() {
				w.WriteHeader(http.StatusInternalServerError)
			}
		case "/inverse": // 503, then 200
			if !bad.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		case "/slow": // at once, then after 600 ms (a response time over 300 ms)
			if bad.Load() {
				select {
				case <-time.After(600 * time.Millisecond):
				case <-r.Context().Done():
				}
			}
		case "/plain":
			answer(`UP`, `DOWN`)
		case "/text":
			answer(`all systems UP and running`, `all systems down`)
		case "/json":
			answer(`{"status":"UP","count":5,"items":[1,2,3],"tags":["a"],"data":[{"id":7}],"ready":true}`,
				`{"status":"DOWN","count":1,"items":[],"tags":["a","b","c","d","e","f"],"data":[{"id":8}],"errors":["db"]}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	type ep struct {
		name, path string
		conds      []string
	}
	eps := []ep{
		{"status-eq", "/status", []string{"[STATUS] == 200"}},
		{"status-ne", "/error", []string{"[STATUS] != 500"}},
		{"status-lt", "/status", []string{"[STATUS] < 300"}},
		{"status-ge", "/inverse", []string{"[STATUS] >= 500"}},
		{"status-any", "/status", []string{"[STATUS] == any(200, 201)"}},
		{"rt-lt", "/slow", []string{"[RESPONSE_TIME] < 300"}},
		{"body-eq", "/plain", []string{"[BODY] == UP"}},
		{"body-pat", "/text", []string{"[BODY] == pat(*UP*)"}},
		{"json-eq", "/json", []string{"[BODY].status == UP"}},
		{"json-ne", "/json", []string{"[BODY].status != DOWN"}},
		{"json-pat", "/json", []string{"[BODY].status == pat(U*)"}},
		{"json-gt", "/json", []string{"[BODY].count > 2"}},
		{"json-ge", "/json", []string{"[BODY].count >= 5"}},
		{"json-index", "/json", []string{"[BODY].data[0].id == 7"}},
		{"len-eq", "/json", []string{"len([BODY].items) == 3"}},
		{"len-ge", "/json", []string{"len([BODY].items) >= 1"}},
		{"len-lt", "/json", []string{"len([BODY].tags) < 5"}},
		{"has-false", "/json", []string{"has([BODY].errors) == false"}},
		{"has-true", "/json", []string{"has([BODY].ready) == true"}},
		{"mixed", "/json", []string{"[STATUS] <= 299", "[RESPONSE_TIME] < 1000", "[BODY].status == UP"}},
	}
	if len(eps) != 20 {
		t.Fatalf("%d endpoints, want 20", len(eps))
	}
	groups := []string{"core-" + g.suffix, "edge-" + g.suffix}
	var b strings.Builder
	b.WriteString("alerting:\n  slack: {webhook-url: '${GATUS_TEST_SLACK}'}\n  custom: {url: 'https://hooks.example.com/x'}\nendpoints:\n")
	for i, e := range eps {
		conds, _ := json.Marshal(e.conds)
		fmt.Fprintf(&b, "  - name: %s\n    group: %s\n    url: %q\n    interval: 1h\n    conditions: %s\n", e.name, groups[i%2], target.URL+e.path, conds)
		if i == 0 {
			b.WriteString("    alerts: [{type: slack}]\n")
		}
	}
	for _, grp := range groups {
		g.sys(t, strings.TrimSuffix(grp, "-"+g.suffix)) // terminate the entities at the end
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "gatus.yaml"), b.String())
	out := filepath.Join(dir, "manifests")
	code, msg := g.cli(t, nil, "import", "gatus", filepath.Join(dir, "gatus.yaml"), "-o", out)
	if code != 0 || !strings.Contains(msg, "converted 20 endpoints into 20 checks and 2 systems, 1 alerting providers into notification channels") ||
		!strings.Contains(msg, "secret: apply reads GATUS_TEST_SLACK from its environment (the value of alerting.slack.webhook-url)") ||
		!strings.Contains(msg, "not converted: alerting.custom") || strings.Contains(msg, "not converted: condition") {
		t.Fatalf("import: exit %d\n%s", code, msg)
	}
	// apply needs the channel's secret from its environment.
	code, msg = g.cli(t, nil, "apply", "-f", out, "--context", "gatus")
	if code != cli.ExitError || !strings.Contains(msg, "GATUS_TEST_SLACK") {
		t.Fatalf("apply without the secret: exit %d\n%s", code, msg)
	}
	secretEnv := map[string]string{"GATUS_TEST_SLACK": "https://hooks.slack.com/services/T/B/gatus"}
	code, msg = g.cli(t, secretEnv, "apply", "-f", out, "--context", "gatus")
	if code != 0 || countLines(msg, "+ create") != 23 || !strings.Contains(msg, `+ create NotificationChannel "gatus-slack"`) {
		t.Fatalf("apply: exit %d\n%s", code, msg)
	}
	if code, msg = g.cli(t, secretEnv, "apply", "-f", out, "--context", "gatus", "--dry-run", "--detailed-exitcode"); code != 0 {
		t.Fatalf("second apply plans changes: exit %d\n%s", code, msg)
	}
	c := g.client(g.admin)
	channels, err := c.ListChannels(ctx)
	if err != nil || len(channels) != 1 || channels[0].Type != "slack" || strings.Join(channels[0].Systems, ",") != groups[0] {
		t.Fatalf("channels %+v (%v), want one slack channel for %s", channels, err, groups[0])
	}
	remote, err := cli.FetchRemote(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, phase := range []struct {
		name string
		bad  bool
	}{{"target good: Gatus passes", false}, {"target bad: Gatus fails", true}} {
		bad.Store(phase.bad)
		t.Run(phase.name, func(t *testing.T) {
			for i, e := range eps {
				name := groups[i%2] + "-" + e.name
				id := remote.CheckIDs[name]
				if id == "" {
					t.Errorf("no check %q", name)
					continue
				}
				res, err := c.RunNow(ctx, groups[i%2], id, fmt.Sprintf("gatus-%s-%t", e.name, phase.bad))
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				if passed := res.Run.Status == "healthy"; passed == phase.bad || res.Run.Status == "" {
					t.Errorf("%v against %s: run %q (%s), want Gatus's verdict (pass: %t)", e.conds, e.path, res.Run.Status, res.Run.Message, !phase.bad)
				}
			}
		})
	}
	if _, err := gatusimport.ConvertCondition("[CONNECTED] == true"); err == nil {
		t.Error("[CONNECTED] converted for an HTTP check")
	}
}

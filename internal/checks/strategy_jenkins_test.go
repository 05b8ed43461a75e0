package checks

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	jenkinsTestUser  = "monitor"
	jenkinsTestToken = "11aa22bb33cc44dd55ee66ff77"
)

// fakeJenkins serves the parts of the Jenkins JSON API the strategy uses. Basic auth must be
// monitor + the token (or the token echoed by the "leaky" job); jobs:
//
//	ok              last build #42 SUCCESS, 60 s ago
//	folder/nested job   (a job in a folder, name with a space) last build UNSTABLE
//	broken          last build FAILURE
//	never           never built
//	leaky           echoes the API token it was called with as its name
//	slow            never answers
//
// paths records every request path (with the escaped path) for assertions.
type fakeJenkins struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string
}

func (f *fakeJenkins) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.paths...)
}

func startFakeJenkins(t *testing.T, token string) *fakeJenkins {
	t.Helper()
	f := &fakeJenkins{}
	built := time.Now().Add(-time.Minute).UnixMilli()
	job := func(name string, lastBuild any) map[string]any {
		return map[string]any{"_class": "hudson.model.FreeStyleProject", "name": name, "buildable": true, "color": "blue", "inQueue": false, "lastBuild": lastBuild}
	}
	build := func(n int, result any) map[string]any {
		return map[string]any{"_class": "hudson.model.FreeStyleBuild", "number": n, "result": result, "duration": 12345, "timestamp": built}
	}
	routes := map[string]any{
		"/api/json":                                       map[string]any{"mode": "NORMAL", "numExecutors": 2, "usableWorkers": 3, "jobs": []any{map[string]any{"name": "ok"}, map[string]any{"name": "broken"}}},
		"/job/ok/api/json":                                job("ok", map[string]any{"number": 42}),
		"/job/ok/lastBuild/api/json":                      build(42, "SUCCESS"),
		"/job/folder/job/nested%20job/api/json":           job("nested job", map[string]any{"number": 7}),
		"/job/folder/job/nested%20job/lastBuild/api/json": build(7, "UNSTABLE"),
		"/job/broken/api/json":                            job("broken", map[string]any{"number": 9}),
		"/job/broken/lastBuild/api/json":                  build(9, "FAILURE"),
		"/job/never/api/json":                             job("never", nil),
	}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.paths = append(f.paths, r.URL.EscapedPath())
		f.mu.Unlock()
		user, pass, ok := r.BasicAuth()
		if !ok || user != jenkinsTestUser || pass != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="Jenkins"`)
			http.Error(w, "Invalid password/token for user: "+user, http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("tree") == "" {
			http.Error(w, "tree parameter expected", http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Jenkins", "2.452.1")
		var body any
		switch p := r.URL.EscapedPath(); p {
		case "/job/slow/api/json", "/job/slow/lastBuild/api/json":
			<-r.Context().Done()
			return
		case "/job/leaky/api/json":
			body = job("leaked "+pass, nil)
		default:
			var ok bool
			if body, ok = routes[p]; !ok {
				http.NotFound(w, r)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(f.Close)
	return f
}

func jenkinsCfg(f *fakeJenkins, token string) map[string]any {
	return map[string]any{"baseUrl": f.URL + "/", "username": jenkinsTestUser, "apiToken": token}
}

func TestJenkinsHealthy(t *testing.T) {
	f := startFakeJenkins(t, jenkinsTestToken)
	res := run(t, "healthcheck-jenkins.jenkins", jenkinsCfg(f, jenkinsTestToken),
		entry(t, "ok", "job-status", map[string]any{"jobName": "ok"},
			Assertion{Field: "lastBuildResult", Operator: "equals", Value: "SUCCESS"},
			Assertion{Field: "timeSinceLastBuildMs", Operator: "lessThan", Value: 3600000.0},
			Assertion{Field: "timeSinceLastBuildMs", Operator: "greaterThanOrEqual", Value: 60000.0}),
		entry(t, "nested", "healthcheck-jenkins.job-status", map[string]any{"jobName": "folder/nested job"},
			Assertion{Field: "lastBuildResult", Operator: "equals", Value: "UNSTABLE"}),
		entry(t, "never", "job-status", map[string]any{"jobName": "never"}, Assertion{Field: "lastBuildNumber", Operator: "notExists"}),
		entry(t, "job-only", "job-status", map[string]any{"jobName": "broken", "checkLastBuild": false}),
		entry(t, "server", "server-info", nil, Assertion{Field: "totalJobs", Operator: "equals", Value: 2.0}))
	requireHealthy(t, res)
	c := collector(t, res, "ok")
	if c["jobName"] != "ok" || c["lastBuildNumber"] != int64(42) || c["lastBuildSuccess"] != true || c["lastBuildDurationMs"] != int64(12345) || c["buildable"] != true || c["color"] != "blue" {
		t.Fatalf("collector %v", c)
	}
	if c := collector(t, res, "job-only"); c["lastBuildResult"] != nil {
		t.Fatalf("checkLastBuild=false still read the last build: %v", c)
	}
	if c := collector(t, res, "server"); c["jenkinsVersion"] != "2.452.1" || c["mode"] != "NORMAL" || c["numExecutors"] != 2 || c["usableWorkers"] != 3 {
		t.Fatalf("collector %v", c)
	}
	paths := strings.Join(f.seen(), " ")
	for _, want := range []string{"/job/ok/lastBuild/api/json", "/job/folder/job/nested%20job/lastBuild/api/json"} {
		if !strings.Contains(paths, want) {
			t.Errorf("no request to %s (got %s)", want, paths)
		}
	}
	if strings.Contains(paths, "/job/never/lastBuild") || strings.Contains(paths, "/job/broken/lastBuild") {
		t.Errorf("last build fetched for a job that has none or when disabled: %s", paths)
	}
}

func TestJenkinsFailing(t *testing.T) {
	f := startFakeJenkins(t, jenkinsTestToken)
	tests := []struct {
		name    string
		cfg     map[string]any
		job     string
		asserts []Assertion
		wantMsg string
		conn    bool
	}{
		{"wrong token", jenkinsCfg(f, "wrong-token-value"), "ok", nil, `Jenkins rejected user "monitor": HTTP 401 Unauthorized`, false},
		{"nothing listening", withCfg(jenkinsCfg(f, jenkinsTestToken), "baseUrl", "http://127.0.0.1:"+strconv.Itoa(closedPort(t))), "ok", nil, "connection refused", false},
		{"failed last build", jenkinsCfg(f, jenkinsTestToken), "broken", nil, "Check failed: Last build: FAILURE", true},
		{"missing job", jenkinsCfg(f, jenkinsTestToken), "nope", nil, `Jenkins job "nope" not found (HTTP 404 Not Found)`, true},
		{"build too old", jenkinsCfg(f, jenkinsTestToken), "ok", []Assertion{{Field: "timeSinceLastBuildMs", Operator: "lessThan", Value: 1000.0}}, "Assertion failed: timeSinceLastBuildMs lessThan 1000", true},
		{"unstable is not success", jenkinsCfg(f, jenkinsTestToken), "folder/nested job", []Assertion{{Field: "lastBuildSuccess", Operator: "isTrue"}}, "Assertion failed: lastBuildSuccess isTrue", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, "jenkins", tc.cfg, entry(t, "j", "job-status", map[string]any{"jobName": tc.job}, tc.asserts...))
			requireUnhealthy(t, res, tc.wantMsg)
			if res.Metadata["connected"] != tc.conn {
				t.Fatalf("connected %v", res.Metadata)
			}
		})
	}
}

func TestJenkinsTimeout(t *testing.T) {
	f := startFakeJenkins(t, jenkinsTestToken)
	silentHost, silentPort := silentListener(t)
	tests := []struct {
		name string
		cfg  map[string]any
	}{
		{"job request never answered", jenkinsCfg(f, jenkinsTestToken)},
		{"server never answers", withCfg(jenkinsCfg(f, jenkinsTestToken), "baseUrl", "http://"+silentHost+":"+strconv.Itoa(silentPort))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, "jenkins", withCfg(tc.cfg, "timeout", 300), entry(t, "j", "job-status", map[string]any{"jobName": "slow"}))
			requireTimeout(t, res, 300)
		})
	}
}

func TestJenkinsSecretsNeverInResults(t *testing.T) {
	planted := plantedSecret(t)
	f := startFakeJenkins(t, planted)
	res := run(t, "jenkins", jenkinsCfg(f, planted), entry(t, "j", "job-status", map[string]any{"jobName": "leaky"}))
	requireHealthy(t, res)
	if got := collector(t, res, "j")["jobName"]; got != "leaked ****" {
		t.Fatalf("jobName %q: the echoed token is not masked", got)
	}
	requireNoSecret(t, res, planted)

	other := plantedSecret(t)
	res = run(t, "jenkins", withCfg(jenkinsCfg(f, other), "baseUrl", strings.Replace(f.URL, "http://", "http://"+jenkinsTestUser+":"+other+"@", 1)), entry(t, "j", "job-status", map[string]any{"jobName": "ok"}))
	requireUnhealthy(t, res, "HTTP 401")
	requireNoSecret(t, res, other)
}

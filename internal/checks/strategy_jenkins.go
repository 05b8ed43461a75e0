package checks

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxJenkinsBody caps the JSON read from one Jenkins API response.
const maxJenkinsBody = 1 << 20

func jenkinsStrategy() *strategyDef {
	return withConfigSecrets(&strategyDef{
		id: "jenkins", plugin: "healthcheck-jenkins", displayName: "Jenkins",
		description: "Checks a Jenkins server and its jobs' last builds through the JSON API (basic auth with an API token).",
		config: objectSchema{Props: []prop{
			{Name: "baseUrl", Type: "string", Title: "Jenkins URL", Description: "e.g. https://jenkins.example.com (a path prefix such as /jenkins is kept).", Required: true, MinLength: 1, Check: checkHTTPURL},
			{Name: "username", Type: "string", Title: "Username", Description: "Jenkins user the API token belongs to.", Required: true, MinLength: 1},
			{Name: "apiToken", Type: "string", Title: "API token", Description: "Generate one under User > Configure > API Token.", Required: true, MinLength: 1, Secret: true},
		}},
		connect: connectJenkins,
		collectors: []*collectorDef{
			{
				id: "job-status", displayName: "Job Status", allowMultiple: true,
				description: "Reads a job and its last build: result, duration and age. A last build that FAILED or was ABORTED fails the collector.",
				config: objectSchema{Props: []prop{
					{Name: "jobName", Type: "string", Title: "Job", Description: `Full job path, e.g. "my-job" or "folder/my-job".`, Required: true, MinLength: 1, Check: checkJenkinsJob},
					{Name: "checkLastBuild", Type: "boolean", Title: "Check the last build", Default: true},
				}},
				result: objectSchema{Props: []prop{
					{Name: "jobName", Type: "string"},
					{Name: "buildable", Type: "boolean"},
					{Name: "color", Type: "string"},
					{Name: "inQueue", Type: "boolean"},
					{Name: "lastBuildNumber", Type: "integer"},
					{Name: "lastBuildResult", Type: "string", Description: "SUCCESS, UNSTABLE, FAILURE, ABORTED, NOT_BUILT or UNKNOWN (still running)."},
					{Name: "lastBuildSuccess", Type: "boolean", Description: "lastBuildResult is SUCCESS."},
					{Name: "lastBuildDurationMs", Type: "integer"},
					{Name: "lastBuildTimestamp", Type: "integer", Description: "Start of the last build, Unix milliseconds."},
					{Name: "timeSinceLastBuildMs", Type: "integer", Description: "Age of the last build (now - lastBuildTimestamp)."},
				}},
				aggregates: []aggSpec{
					{Name: "avgBuildDurationMs", Type: "average", Source: "lastBuildDurationMs"},
					{Name: "successRate", Type: "rate", Source: "lastBuildSuccess"},
					{Name: "buildableRate", Type: "rate", Source: "buildable"},
				},
				collect: collectJenkinsJob,
			},
			{
				id: "server-info", displayName: "Server Info",
				description: "Reads the server's version, mode, executors and job count.",
				result: objectSchema{Props: []prop{
					{Name: "jenkinsVersion", Type: "string"},
					{Name: "mode", Type: "string"},
					{Name: "numExecutors", Type: "integer"},
					{Name: "usableWorkers", Type: "integer"},
					{Name: "totalJobs", Type: "integer"},
				}},
				aggregates: []aggSpec{
					{Name: "avgExecutors", Type: "average", Source: "numExecutors"},
					{Name: "avgTotalJobs", Type: "average", Source: "totalJobs"},
				},
				collect: collectJenkinsServer,
			},
		},
	})
}

func checkJenkinsJob(v any) string {
	for _, part := range strings.Split(v.(string), "/") {
		if strings.TrimSpace(part) == "" {
			return `must be a job path such as "my-job" or "folder/my-job" (no empty segments)`
		}
	}
	return ""
}

type jenkinsConfig struct {
	BaseURL  string `json:"baseUrl"`
	Username string `json:"username"`
	APIToken string `json:"apiToken"`
}

type jenkinsClient struct {
	hc       *http.Client
	tr       *http.Transport
	base     string
	username string
	token    string
	version  string // X-Jenkins header of the connect request
}

func (c *jenkinsClient) Close() error {
	c.tr.CloseIdleConnections()
	return nil
}

// jenkinsHTTPError is a non-2xx answer of the Jenkins API.
type jenkinsHTTPError struct {
	Status int
	Text   string
}

func (e *jenkinsHTTPError) Error() string { return fmt.Sprintf("HTTP %d %s", e.Status, e.Text) }

func connectJenkins(ctx context.Context, raw map[string]any) (client, error) {
	cfg, err := decodeInto[jenkinsConfig](raw)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true, MaxResponseHeaderBytes: 1 << 20}
	c := &jenkinsClient{
		hc: &http.Client{Transport: tr}, tr: tr,
		base:     strings.TrimRight(cfg.BaseURL, "/"),
		username: cfg.Username, token: cfg.APIToken,
	}
	// Reaching /api/json with the credentials proves the server is up and the token valid.
	var info struct{}
	hdr, err := c.get(ctx, "/api/json", url.Values{"tree": {"mode"}}, &info)
	if err != nil {
		tr.CloseIdleConnections()
		var he *jenkinsHTTPError
		if errors.As(err, &he) && (he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden) {
			return nil, fmt.Errorf("Jenkins rejected user %q: %w (check username and API token)", cfg.Username, err) //nolint:staticcheck // proper noun
		}
		shown := c.base
		if u, perr := url.Parse(c.base); perr == nil {
			shown = u.Redacted()
		}
		return nil, fmt.Errorf("Jenkins API at %s: %w", shown, err) //nolint:staticcheck // proper noun
	}
	c.version = hdr.Get("X-Jenkins")
	return c, nil
}

// get fetches base+path?query as JSON into out, with basic auth.
func (c *jenkinsClient) get(ctx context.Context, path string, query url.Values, out any) (http.Header, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	req.SetBasicAuth(c.username, c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "checkflow-healthcheck/1")
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("request cancelled: %w", context.Cause(ctx))
		}
		return nil, fmt.Errorf("request failed: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxJenkinsBody))
		return resp.Header, &jenkinsHTTPError{Status: resp.StatusCode, Text: http.StatusText(resp.StatusCode)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJenkinsBody+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("reading response cancelled: %w", context.Cause(ctx))
		}
		return nil, fmt.Errorf("reading response: %w", err)
	}
	if len(body) > maxJenkinsBody {
		return nil, fmt.Errorf("response larger than %d bytes", maxJenkinsBody)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return nil, fmt.Errorf("response is not Jenkins JSON: %w", err)
	}
	return resp.Header, nil
}

// jenkinsJobPath turns "folder/my job" into "/job/folder/job/my%20job".
func jenkinsJobPath(name string) string {
	var sb strings.Builder
	for _, part := range strings.Split(name, "/") {
		sb.WriteString("/job/")
		sb.WriteString(url.PathEscape(part))
	}
	return sb.String()
}

func collectJenkinsJob(ctx context.Context, cl client, raw map[string]any, _ collectInput) (map[string]any, error) {
	c := cl.(*jenkinsClient)
	name := stringField(raw, "jobName")
	path := jenkinsJobPath(name)
	var job struct {
		Name      string `json:"name"`
		Buildable *bool  `json:"buildable"`
		Color     string `json:"color"`
		InQueue   bool   `json:"inQueue"`
		LastBuild *struct {
			Number int64 `json:"number"`
		} `json:"lastBuild"`
	}
	if _, err := c.get(ctx, path+"/api/json", url.Values{"tree": {"name,buildable,color,inQueue,lastBuild[number]"}}, &job); err != nil {
		var he *jenkinsHTTPError
		if errors.As(err, &he) && he.Status == http.StatusNotFound {
			return nil, fmt.Errorf("Jenkins job %q not found (%w)", name, err) //nolint:staticcheck // proper noun
		}
		return nil, fmt.Errorf("Jenkins job %q: %w", name, err) //nolint:staticcheck // proper noun
	}
	res := map[string]any{
		"jobName":   cmp.Or(job.Name, name),
		"buildable": job.Buildable == nil || *job.Buildable,
		"color":     cmp.Or(job.Color, "notbuilt"),
		"inQueue":   job.InQueue,
	}
	if !boolField(raw, "checkLastBuild", true) || job.LastBuild == nil {
		return res, nil
	}
	var build struct {
		Number    int64   `json:"number"`
		Result    *string `json:"result"`
		Duration  int64   `json:"duration"`
		Timestamp int64   `json:"timestamp"`
	}
	if _, err := c.get(ctx, path+"/lastBuild/api/json", url.Values{"tree": {"number,result,duration,timestamp"}}, &build); err != nil {
		return res, fmt.Errorf("Jenkins job %q last build: %w", name, err) //nolint:staticcheck // proper noun
	}
	result := "UNKNOWN"
	if build.Result != nil && *build.Result != "" {
		result = *build.Result
	}
	res["lastBuildNumber"] = build.Number
	res["lastBuildResult"] = result
	res["lastBuildSuccess"] = result == "SUCCESS"
	res["lastBuildDurationMs"] = build.Duration
	if build.Timestamp > 0 {
		res["lastBuildTimestamp"] = build.Timestamp
		res["timeSinceLastBuildMs"] = max(0, time.Now().UnixMilli()-build.Timestamp)
	}
	if result == "FAILURE" || result == "ABORTED" {
		return res, fmt.Errorf("Last build: %s", result) //nolint:staticcheck // reference message
	}
	return res, nil
}

func collectJenkinsServer(ctx context.Context, cl client, _ map[string]any, _ collectInput) (map[string]any, error) {
	c := cl.(*jenkinsClient)
	var info struct {
		Mode          string `json:"mode"`
		NumExecutors  int    `json:"numExecutors"`
		UsableWorkers int    `json:"usableWorkers"`
		Jobs          []struct {
			Name string `json:"name"`
		} `json:"jobs"`
	}
	hdr, err := c.get(ctx, "/api/json", url.Values{"tree": {"mode,numExecutors,usableWorkers,jobs[name]"}}, &info)
	if err != nil {
		return nil, fmt.Errorf("Jenkins server info: %w", err) //nolint:staticcheck // proper noun
	}
	return map[string]any{
		"jenkinsVersion": cmp.Or(hdr.Get("X-Jenkins"), c.version, "unknown"),
		"mode":           cmp.Or(info.Mode, "NORMAL"),
		"numExecutors":   info.NumExecutors,
		"usableWorkers":  info.UsableWorkers,
		"totalJobs":      len(info.Jobs),
	}, nil
}

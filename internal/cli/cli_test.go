package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeAPI answers GET /api/v1/systems for one token and records the tokens it saw.
func fakeAPI(t *testing.T, token string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"type":"urn:checkflow:problem:unauthorized","title":"Unauthorized","status":401,"detail":"the token is unknown or revoked"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"systems": []map[string]any{{"id": "shop", "name": "Shop", "description": "the\nshop"}}, "total": 1})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func testEnv(t *testing.T, vars map[string]string) (Env, *bytes.Buffer, *bytes.Buffer, string) {
	var out, errOut bytes.Buffer
	dir := t.TempDir()
	return Env{Stdout: &out, Stderr: &errOut,
		LookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		ConfigDir: func() (string, error) { return dir, nil }}, &out, &errOut, dir
}

func TestLoginWritesConfigAndCommandsUseIt(t *testing.T) {
	srv := fakeAPI(t, "cf_good")
	env, out, errOut, dir := testEnv(t, nil)
	if code := Run(context.Background(), "login", []string{"--server", srv.URL, "--token", "cf_bad"}, env); code != ExitError ||
		!strings.Contains(errOut.String(), "401") || strings.Contains(errOut.String(), "cf_bad") {
		t.Fatalf("login with a bad token: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "checkflow", "config.json")); !os.IsNotExist(err) {
		t.Fatalf("config written after a failed login: %v", err)
	}
	env.Stdin = strings.NewReader("cf_good\n")
	if code := Run(context.Background(), "login", []string{"--server", srv.URL}, env); code != ExitOK {
		t.Fatalf("login: exit %d: %s", code, errOut)
	}
	st, err := os.Stat(filepath.Join(dir, "checkflow", "config.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v %v", st, err)
	}
	out.Reset()
	if code := Run(context.Background(), "systems", nil, env); code != ExitOK || !strings.Contains(out.String(), "shop  Shop  the shop") {
		t.Fatalf("systems with the saved login: exit %d\n%s%s", code, out, errOut)
	}
}

func TestConnectionPrecedence(t *testing.T) {
	good := fakeAPI(t, "cf_env")
	tests := []struct {
		name string
		args []string
		vars map[string]string
		want int
	}{
		{"env", nil, map[string]string{"CHECKFLOW_SERVER": good.URL, "CHECKFLOW_TOKEN": "cf_env"}, ExitOK},
		{"flag beats env", []string{"--token", "cf_flag"}, map[string]string{"CHECKFLOW_SERVER": good.URL, "CHECKFLOW_TOKEN": "cf_env"}, ExitError},
		{"bad server url", []string{"--server", "ftp://x"}, nil, ExitError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _, errOut, _ := testEnv(t, tt.vars)
			if code := Run(context.Background(), "systems", tt.args, env); code != tt.want {
				t.Errorf("exit %d, want %d: %s", code, tt.want, errOut)
			}
		})
	}
}

func TestApplyUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "-f <file|dir> is required"},
		{[]string{"-f", "x.yaml", "extra"}, "unexpected arguments"},
		{[]string{"--nope"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		env, _, errOut, _ := testEnv(t, nil)
		if code := Run(context.Background(), "apply", tt.args, env); code != ExitError || !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("apply %v: exit %d, stderr %q, want %q", tt.args, code, errOut, tt.want)
		}
	}
}

func TestApplyInvalidManifestsNameFileAndLine(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("apiVersion: checkflow.io/v1alpha1\nkind: System\nmetadata: {name: x}\nspec: {colour: red}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env, _, errOut, _ := testEnv(t, map[string]string{"CHECKFLOW_SERVER": "http://127.0.0.1:1"})
	code := Run(context.Background(), "apply", []string{"-f", dir}, env)
	if code != ExitError || !strings.Contains(errOut.String(), "bad.yaml:4:8: System \"x\": spec.colour: unknown field") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/checkflow/checkflow/internal/devenv"
	"github.com/checkflow/checkflow/internal/devenv/temporalserver"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/workflows"
)

// The test binary doubles as the checkflow binary: with CHECKFLOW_TEST_RUN_MAIN=1 it runs main()
// with its arguments, so process-level tests (signals, exit codes) need no separate build.
func TestMain(m *testing.M) {
	if os.Getenv("CHECKFLOW_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

type devProcess struct {
	cmd                        *exec.Cmd
	stderr                     *testutil.LockedBuffer
	httpAddr, uiAddr, temporal string
	exited                     chan error
}

func freeAddr(t *testing.T) string {
	t.Helper()
	p, err := devenv.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
}

// bannerAddrs reads the API's and Temporal's host:port from dev's ready banner.
var bannerAddrs = regexp.MustCompile(`(?m)^  API:\s+http://(\S+)$[\s\S]*^  Temporal:\s+(\S+) \(namespace`)

// startDev starts `checkflow dev` as a child process and waits for its ready banner. The API and
// Temporal listen on ports dev picks itself (port 0, shown in the banner): a port chosen here and
// released until the child binds it can be taken meanwhile by anything else running on the
// machine. The UI needs a port up front (the UI server cannot be handed a listener).
func startDev(t *testing.T, dataDir string, extra ...string) *devProcess {
	t.Helper()
	d := &devProcess{uiAddr: freeAddr(t), stderr: &testutil.LockedBuffer{}, exited: make(chan error, 1)}
	args := append([]string{"dev", "--http-addr", "127.0.0.1:0", "--ui-addr", d.uiAddr, "--temporal-port", "0", "--data-dir", dataDir}, extra...)
	d.cmd = exec.Command(os.Args[0], args...)
	d.cmd.Env = append(os.Environ(), "CHECKFLOW_TEST_RUN_MAIN=1")
	d.cmd.Stderr = d.stderr
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var banner strings.Builder
		for sc.Scan() {
			banner.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
				ready <- banner.String()
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Kill()
		}
	})
	select {
	case banner := <-ready:
		m := bannerAddrs.FindStringSubmatch(banner)
		if m == nil {
			t.Fatalf("ready banner does not show the API's and Temporal's addresses:\n%s", banner)
		}
		d.httpAddr, d.temporal = m[1], m[2]
		for _, addr := range []string{d.httpAddr, d.temporal} {
			if host, port, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" || port == "0" {
				t.Errorf("ready banner shows %q, want 127.0.0.1 and the port in use:\n%s", addr, banner)
			}
		}
		if !slices.Contains(extra, "--no-ui") && !strings.Contains(banner, "http://"+d.uiAddr) {
			t.Errorf("ready banner does not show http://%s:\n%s", d.uiAddr, banner)
		}
	case err := <-d.exited:
		t.Fatalf("dev exited before ready: %v\nstderr:\n%s", err, d.stderr.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("dev not ready within 90 s; stderr:\n%s", d.stderr.String())
	}
	return d
}

// stop sends SIGTERM and requires exit status 0 within 10 s and every port released.
func (d *devProcess) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.exited:
		if err != nil {
			t.Fatalf("dev exited with %v after SIGTERM; stderr:\n%s", err, d.stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("dev still running 10 s after SIGTERM")
	}
	for _, addr := range []string{d.httpAddr, d.uiAddr, d.temporal} {
		if err := devenv.CheckPortFree(addr); err != nil {
			t.Errorf("after stop: %v", err)
		}
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Acceptance 1 and 3 of the foundation issue.
func TestDevStartsEverythingAndStopsOnSIGTERM(t *testing.T) {
	d := startDev(t, t.TempDir(), "--database-url", testutil.NewDatabase(t))
	if code, body := get(t, "http://"+d.httpAddr+"/readyz"); code != http.StatusOK || !strings.Contains(body, `"ready"`) {
		t.Errorf("/readyz = %d %s", code, body)
	}
	if code, body := get(t, "http://"+d.uiAddr+"/"); code != http.StatusOK || !strings.Contains(strings.ToLower(body), "<html") {
		t.Errorf("UI / = %d, body does not look like HTML: %.200s", code, body)
	}
	if code, body := get(t, "http://"+d.httpAddr+"/api/v1/version"); code != http.StatusOK || !strings.Contains(body, `"version"`) {
		t.Errorf("/api/v1/version = %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: d.temporal, Namespace: "default", Logger: devenv.SDKLogger(testutil.Logger(t))})
	if err != nil {
		t.Fatal(err)
	}
	sa, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range temporalserver.SearchAttributes() {
		if got, ok := sa.GetCustomAttributes()[name]; !ok || got != typ {
			t.Errorf("namespace default: search attribute %s = %v (present %v), want %v", name, got, ok, typ)
		}
	}
	d.stop(t)
	if s := d.stderr.String(); strings.Contains(s, "level=ERROR") {
		t.Errorf("errors logged during a clean start/stop:\n%s", s)
	}
}

// Acceptance 2: nothing listens at --database-url → a private cluster under <data-dir>/pg; a
// second start reuses it with its data; SIGTERM stops it.
func TestDevProvisionsAndReusesPrivatePostgres(t *testing.T) {
	if devenv.FindPostgresBin() == "" {
		t.Fatal("initdb/pg_ctl not found: this machine is expected to have PostgreSQL binaries")
	}
	dataDir := t.TempDir()
	// The cluster runs as the postgres user when we are root: let it reach the data dir.
	for dir := dataDir; dir != os.TempDir() && dir != "/"; dir = filepath.Dir(dir) {
		_ = os.Chmod(dir, 0o755)
	}
	dbURL := "postgres://postgres@" + freeAddr(t) + "/checkflow"
	d := startDev(t, dataDir, "--database-url", dbURL, "--no-ui")
	privateURL := readPrivateURL(t, dataDir)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, privateURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO systems (id, name) VALUES ('kept', 'Kept across restarts')"); err != nil {
		t.Fatalf("insert into private cluster (migrations applied?): %v", err)
	}
	conn.Close(ctx)
	d.stop(t)
	if _, err := pgx.Connect(ctx, privateURL); err == nil {
		t.Fatalf("private cluster still accepts connections after dev stopped")
	}

	d = startDev(t, dataDir, "--database-url", dbURL, "--no-ui")
	conn, err = pgx.Connect(ctx, readPrivateURL(t, dataDir))
	if err != nil {
		t.Fatal(err)
	}
	var name string
	err = conn.QueryRow(ctx, "SELECT name FROM systems WHERE id = 'kept'").Scan(&name)
	conn.Close(ctx)
	if err != nil || name != "Kept across restarts" {
		t.Errorf("second start lost the data: name=%q err=%v", name, err)
	}
	d.stop(t)
}

func readPrivateURL(t *testing.T, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "pg", "checkflow.port"))
	if err != nil {
		t.Fatalf("no private cluster port file: %v", err)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%s/checkflow", strings.TrimSpace(string(b)))
}

// Acceptance 5: a worker started with --temporal-address serves a Temporal server that is not
// embedded in it.
func TestWorkerAgainstExternalTemporal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := startExternalWorker(ctx, t)
	dbURL, queue, c, stderr, done, stopWorker := w.dbURL, w.queue, w.client, w.stderr, w.done, w.stop
	wf, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: queue, TaskQueue: queue}, workflows.SelfTestWorkflow)
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.SelfTestResult
	if err := wf.Get(ctx, &res); err != nil {
		t.Fatalf("workflow on external server: %v", err)
	}
	if !strings.HasSuffix(dbURL, "/"+res.Database.Database) {
		t.Errorf("worker used database %q, want the one in --database-url %s", res.Database.Database, dbURL)
	}
	stopWorker()
	if code := <-done; code != 0 {
		t.Errorf("worker exit code %d after cancel; stderr: %s", code, stderr.String())
	}
}

// externalWorker is `checkflow worker` run in-process against an embedded Temporal server of its
// own, with a client to that server.
type externalWorker struct {
	srv          *temporalserver.Temporal
	dbURL, queue string
	client       client.Client
	stderr       *testutil.LockedBuffer
	done         chan int
	stop         context.CancelFunc
}

// startExternalWorker starts a Temporal server and `checkflow worker` (with extra flags) on it,
// and returns once the worker polls. Everything stops when the test ends.
func startExternalWorker(ctx context.Context, t *testing.T, extra ...string) *externalWorker {
	t.Helper()
	srv, err := temporalserver.StartTemporal(ctx, temporalserver.TemporalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	w := &externalWorker{srv: srv, dbURL: testutil.NewDatabase(t), queue: testutil.UniqueName(t), stderr: &testutil.LockedBuffer{}, done: make(chan int, 1)}
	wctx, stop := context.WithCancel(ctx)
	w.stop = stop
	stdoutR, stdoutW := io.Pipe()
	go func() {
		w.done <- run(wctx, append([]string{"worker", "--temporal-address", srv.HostPort(), "--database-url", w.dbURL, "--task-queue", w.queue}, extra...), stdoutW, w.stderr)
		stdoutW.Close()
	}()
	line, err := bufio.NewReader(stdoutR).ReadString('\n')
	if err != nil || !strings.Contains(line, "polling") {
		t.Fatalf("worker did not start: %q %v; stderr: %s", line, err, w.stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, stdoutR) }()
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.HostPort(), Logger: devenv.SDKLogger(testutil.Logger(t))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	w.client = c
	return w
}

// Acceptance 6: bad configuration → one line on stderr naming the flag, non-zero exit, nothing
// started (the ports of a later step stay free).
func TestBadConfigurationIsOneClearLine(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	unreachable := freeAddr(t)
	cases := []struct {
		name string
		args []string
		flag string
		env  map[string]string
	}{
		{"unparseable database url", []string{"dev", "--database-url", "::not a url", "--http-addr", freeAddr(t)}, "--database-url", nil},
		{"http port in use", []string{"dev", "--http-addr", busy.Addr().String()}, "--http-addr", nil},
		{"ui port in use", []string{"dev", "--http-addr", freeAddr(t), "--ui-addr", busy.Addr().String()}, "--ui-addr", nil},
		{"temporal port in use", []string{"dev", "--http-addr", freeAddr(t), "--ui-addr", freeAddr(t), "--temporal-port", strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)}, "--temporal-port", nil},
		{"temporal port out of range", []string{"dev", "--http-addr", freeAddr(t), "--ui-addr", freeAddr(t), "--temporal-port", "70000"}, "--temporal-port", nil},
		{"unreachable temporal (worker)", []string{"worker", "--temporal-address", unreachable}, "--temporal-address", nil},
		{"unreachable temporal (server)", []string{"server", "--temporal-address", unreachable, "--http-addr", freeAddr(t)}, "--temporal-address", nil},
		{"temporal address not host:port", []string{"worker", "--temporal-address", "nonsense"}, "--temporal-address", nil},
		{"bad log level", []string{"dev", "--log-level", "loud"}, "--log-level", nil},
		{"workflow cache below 1 (dev)", []string{"dev", "--workflow-cache", "0", "--http-addr", freeAddr(t)}, "--workflow-cache", nil},
		{"workflow cache not a number (worker)", []string{"worker", "--workflow-cache", "many"}, "flag", nil},
		{"workflow cache below 1 (worker)", []string{"worker", "--workflow-cache", "-5"}, "--workflow-cache", nil},
		{"public url not http", []string{"dev", "--public-url", "ftp://status.example", "--http-addr", freeAddr(t)}, "--public-url", nil},
		{"public url without host (worker)", []string{"worker", "--public-url", "https://"}, "--public-url", nil},
		{"unknown flag", []string{"dev", "--no-such-flag"}, "flag", nil},
		{"rollup cadence not a duration (worker)", []string{"worker", "--rollup-every", "hourly"}, "--rollup-every", nil},
		{"retention cadence too short (dev)", []string{"dev", "--retention-every", "30s", "--http-addr", freeAddr(t)}, "--retention-every", nil},
		{"prune cadence from the environment", []string{"worker"}, "--prune-every", map[string]string{"CHECKFLOW_PRUNE_EVERY": "daily"}},
		{"prune age negative (dev)", []string{"dev", "--prune-after", "-168h", "--http-addr", freeAddr(t)}, "--prune-after", nil},
		{"prune age from the environment", []string{"worker"}, "--prune-after", map[string]string{"CHECKFLOW_PRUNE_AFTER": "7d"}},
		{"batch size zero (worker)", []string{"worker", "--job-batch-size", "0"}, "--job-batch-size", nil},
		{"batch size from the environment (dev)", []string{"dev", "--http-addr", freeAddr(t)}, "--job-batch-size", map[string]string{"CHECKFLOW_JOB_BATCH_SIZE": "lots"}},
		{"unknown maintenance job", []string{"maintenance", "run-now", "vacuum"}, `unknown job "vacuum"`, nil},
		{"maintenance without a job", []string{"maintenance", "run-now", "--temporal-address", unreachable}, "which job?", nil},
		{"maintenance without run-now", []string{"maintenance", "rollup"}, "run-now", nil},
		{"maintenance against an unreachable temporal", []string{"maintenance", "run-now", "prune", "--temporal-address", unreachable}, "--temporal-address", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != 2 {
				t.Fatalf("exit code %d, want 2; stdout: %s", code, stdout.String())
			}
			lines := nonEmptyLines(stderr.String())
			last := ""
			if len(lines) > 0 {
				last = lines[len(lines)-1]
			}
			if !strings.Contains(last, tc.flag) {
				t.Errorf("last stderr line %q does not name %s", last, tc.flag)
			}
			// flag's own usage text aside, the error itself is a single line
			if tc.flag != "flag" && len(lines) != 1 {
				t.Errorf("stderr has %d lines, want 1:\n%s", len(lines), stderr.String())
			}
			if strings.Contains(stdout.String(), "ready") {
				t.Errorf("printed a ready banner: %s", stdout.String())
			}
		})
	}
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// `checkflow migrate` applies everything once; a second run is a no-op.
func TestMigrateTwiceIsNoop(t *testing.T) {
	dbURL := testutil.NewDatabase(t) // already migrated from the template: nothing left to apply
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"migrate", "--database-url", dbURL}, &out, &errb); code != 0 {
		t.Fatalf("migrate: %d %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "applied 0 migration(s)") {
		t.Errorf("migrate on an up-to-date database said %q", out.String())
	}
	fresh := strings.TrimSuffix(dbURL, filepath.Base(dbURL)) + "fresh_" + filepath.Base(dbURL)
	out.Reset()
	if code := run(context.Background(), []string{"migrate", "--database-url", fresh}, &out, &errb); code != 0 {
		t.Fatalf("migrate fresh: %d %s", code, errb.String())
	}
	t.Cleanup(func() { dropDatabase(t, fresh) })
	if strings.Contains(out.String(), "applied 0 migration(s)") {
		t.Errorf("migrate on a new database applied nothing: %q", out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"migrate", "--database-url", fresh}, &out, &errb); code != 0 || !strings.Contains(out.String(), "applied 0 migration(s)") {
		t.Errorf("second migrate: code %d, %q", code, out.String())
	}
}

func dropDatabase(t *testing.T, dbURL string) {
	ctx := context.Background()
	admin := strings.TrimSuffix(dbURL, filepath.Base(dbURL)) + "postgres"
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Logf("drop: %v", err)
		return
	}
	defer c.Close(ctx)
	_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{filepath.Base(dbURL)}.Sanitize()+" WITH (FORCE)")
}

// `dev` runs the garbage collector at devGCTarget unless GOGC says otherwise.
func TestDevGCPercent(t *testing.T) {
	for _, tc := range []struct {
		gogc   string
		want   int
		wantOK bool
	}{
		{"", devGCTarget, true},
		{"100", 0, false},
		{"200", 0, false},
		{"off", 0, false},
	} {
		got, ok := devGCPercent(func(k string) string {
			if k == "GOGC" {
				return tc.gogc
			}
			return ""
		})
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("GOGC=%q: %d %v, want %d %v", tc.gogc, got, ok, tc.want, tc.wantOK)
		}
	}
}

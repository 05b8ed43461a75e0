package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/authorization"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/checkflow/checkflow/internal/devenv"
	"github.com/checkflow/checkflow/internal/devenv/temporalserver"
	"github.com/checkflow/checkflow/internal/testutil"
)

// operatorDenied is a Temporal authorizer for a worker whose credentials may not manage search
// attributes (as on a cluster where only administrators may): AddSearchAttributes is always
// denied; ListSearchAttributes too in the namespace "default" and those starting with "nolist-".
type operatorDenied struct{}

func (operatorDenied) Authorize(_ context.Context, _ *authorization.Claims, t *authorization.CallTarget) (authorization.Result, error) {
	deny := strings.HasSuffix(t.APIName, "/AddSearchAttributes") ||
		(strings.HasSuffix(t.APIName, "/ListSearchAttributes") && (t.Namespace == "default" || strings.HasPrefix(t.Namespace, "nolist-")))
	if deny {
		return authorization.Result{Decision: authorization.DecisionDeny}, nil
	}
	return authorization.Result{Decision: authorization.DecisionAllow}, nil
}

// Defect 3 of issue 17: a worker that may not register the missing search attributes fails at
// start with one line saying which are missing and the command that creates them (exit 2, like
// other bad configuration); one that may not even list them but finds them usable starts.
func TestWorkerWithoutSearchAttributePermission(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := temporalserver.StartTemporal(ctx, temporalserver.TemporalConfig{Authorizer: operatorDenied{}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop() }()
	admin, err := client.DialContext(ctx, client.Options{HostPort: srv.HostPort(), Logger: devenv.SDKLogger(testutil.Logger(t))})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	dbURL := testutil.NewDatabase(t)
	suffix := testutil.UniqueName(t)
	suffix = suffix[len(suffix)-8:]

	cases := []struct {
		name, namespace string
		bare            bool   // a new namespace without the attributes
		wantLine        string // "" = the worker starts
	}{
		{"add denied, attributes missing", "bare-" + suffix, true,
			"temporal operator search-attribute create --address " + srv.HostPort() + " --namespace bare-" + suffix +
				" --name CheckflowAutomationId --type Keyword --name CheckflowFailingChecks --type Int --name CheckflowHealth --type Keyword --name CheckflowSystemId --type Keyword"},
		{"list and add denied, attributes missing", "nolist-" + suffix, true,
			"temporal operator search-attribute create --address " + srv.HostPort() + " --namespace nolist-" + suffix + " --name CheckflowAutomationId"},
		{"list and add denied, attributes present", "default", false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.bare {
				registerNamespace(ctx, t, admin, srv.HostPort(), tc.namespace)
			}
			wctx, stop := context.WithCancel(ctx)
			defer stop()
			stdoutR, stdoutW := io.Pipe()
			var stderr testutil.LockedBuffer
			done := make(chan int, 1)
			go func() {
				done <- run(wctx, []string{"worker", "--temporal-address", srv.HostPort(), "--temporal-namespace", tc.namespace,
					"--database-url", dbURL, "--task-queue", testutil.UniqueName(t)}, stdoutW, &stderr)
				stdoutW.Close()
			}()
			line, _ := bufio.NewReader(stdoutR).ReadString('\n')
			go func() { _, _ = io.Copy(io.Discard, stdoutR) }()
			if tc.wantLine == "" {
				if !strings.Contains(line, "polling") {
					t.Fatalf("worker did not start: stdout %q; stderr: %s", line, stderr.String())
				}
				stop()
				if code := <-done; code != 0 {
					t.Errorf("exit code %d after cancel; stderr: %s", code, stderr.String())
				}
				return
			}
			code := <-done
			lines := nonEmptyLines(stderr.String())
			if code != 2 || len(lines) != 1 {
				t.Fatalf("exit code %d with %d stderr lines, want 2 and one line; stdout %q; stderr:\n%s", code, len(lines), line, stderr.String())
			}
			for _, want := range []string{"--temporal-namespace", "lacks the search attribute(s) CheckflowAutomationId, CheckflowFailingChecks, CheckflowHealth, CheckflowSystemId", "permission denied", tc.wantLine} {
				if !strings.Contains(lines[0], want) {
					t.Errorf("stderr line does not contain %q:\n%s", want, lines[0])
				}
			}
		})
	}
}

// registerNamespace creates a namespace without checkflow's search attributes and waits until
// the frontend serves it.
func registerNamespace(ctx context.Context, t *testing.T, c client.Client, hostPort, ns string) {
	t.Helper()
	if _, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: ns, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	}); err != nil {
		t.Fatalf("register namespace %s: %v", ns, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := c.WorkflowService().CountWorkflowExecutions(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: ns})
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s not served on %s: %v", ns, hostPort, err)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

package tests

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/checkflow/checkflow/internal/devenv"
	"github.com/checkflow/checkflow/internal/entityclient"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/worker"
	"github.com/checkflow/checkflow/worker/searchattrs"
	"github.com/checkflow/checkflow/workflows"
)

// newBareNamespace registers a namespace without checkflow's search attributes (like one an
// operator creates on an existing cluster) and returns its name and a client for it.
func newBareNamespace(t *testing.T) (string, client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u := testutil.UniqueName(t)
	ns := "ops-sa-" + u[len(u)-8:]
	if _, err := shared.temporal.Client.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: ns, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	}); err != nil {
		t.Fatalf("register namespace %s: %v", ns, err)
	}
	c, err := client.DialContext(ctx, client.Options{HostPort: shared.temporal.Server.HostPort(), Namespace: ns, Logger: devenv.SDKLogger(testutil.Logger(t))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	// The frontend learns about a new namespace from its registry's next refresh.
	waitFor(t, 20*time.Second, "namespace "+ns+" to be served", func() (bool, error) {
		_, err := c.WorkflowService().CountWorkflowExecutions(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: ns})
		return err == nil, nil
	})
	return ns, c
}

// newStackOn is a stack on client c's namespace, without a worker.
func newStackOn(t *testing.T, c client.Client) *stack {
	t.Helper()
	s := &stack{dbURL: testutil.NewDatabase(t), queue: testutil.UniqueName(t)}
	s.probes = s.queue + "-probes"
	pool, err := pgxpool.New(context.Background(), s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s.pool, s.store = pool, store.New(pool)
	s.entities = &entityclient.Client{Temporal: c, TaskQueue: s.queue, Options: workflows.EntityOptions{ProbeTaskQueue: s.probes}}
	return s
}

// Defect 3 of issue 17: a worker on a namespace without checkflow's search attributes
// registers them at start, so that entities can start there (before, every start answered
// "no mapping defined for search attribute CheckflowSystemId"); a second worker finds them and
// changes nothing.
func TestWorkerRegistersSearchAttributesOnNewNamespace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns, c := newBareNamespace(t)
	st := newStackOn(t, c)

	sa, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	for name := range searchattrs.All() {
		if _, ok := sa.GetCustomAttributes()[name]; ok {
			t.Fatalf("precondition: the new namespace already has %s", name)
		}
	}
	sys := "sa-" + st.queue[len(st.queue)-8:]
	if _, err := st.store.CreateSystem(ctx, store.SystemInput{ID: sys, Name: "search attributes"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.TerminateWorkflow(context.Background(), workflows.SystemWorkflowID(sys), "", "test ended")
	})
	target := newTarget(t)
	st.httpCheck(t, sys, "sa-check", target.srv.URL, 1, nil)
	if err := st.entities.ConfigChanged(ctx, sys); err == nil || !strings.Contains(err.Error(), "no mapping defined for search attribute") {
		t.Fatalf("precondition: starting an entity without the attributes = %v, want the 'no mapping' error", err)
	}

	for i := range 2 { // the second start finds everything in place
		w, err := worker.Start(worker.Config{Client: c, Namespace: ns, Pool: st.pool, TaskQueue: st.queue,
			ProbeTaskQueue: st.probes, EntityOptions: st.entities.Options, Logger: testutil.Logger(t)})
		if err != nil {
			t.Fatalf("worker start %d on a namespace without search attributes: %v", i+1, err)
		}
		t.Cleanup(w.Stop)
	}
	sa, err = c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range searchattrs.All() {
		if got, ok := sa.GetCustomAttributes()[name]; !ok || got != typ {
			t.Errorf("after worker start: %s = %v (present %v), want %v", name, got, ok, typ)
		}
	}

	// The entity starts (it sets CheckflowSystemId), runs and upserts the other two.
	if err := st.entities.ConfigChanged(ctx, sys); err != nil {
		t.Fatalf("start entity after worker start: %v", err)
	}
	waitFor(t, 30*time.Second, "a run", func() (bool, error) {
		return st.count(t, `SELECT count(*) FROM health_check_runs WHERE system_id = $1`, sys) > 0, nil
	})
	query := fmt.Sprintf(`%s = '%s' AND %s = 'healthy' AND %s = 0`, searchattrs.SystemID, sys, searchattrs.Health, searchattrs.FailingChecks)
	waitFor(t, 30*time.Second, "the entity found by its search attributes", func() (bool, error) {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: ns, Query: query})
		if err != nil {
			return false, fmt.Errorf("list %q: %w", query, err)
		}
		return len(resp.GetExecutions()) == 1 && resp.GetExecutions()[0].GetExecution().GetWorkflowId() == workflows.SystemWorkflowID(sys), nil
	})
}

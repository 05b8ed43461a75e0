package tests

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/server"
	"github.com/checkflow/checkflow/server/apitest"
	"github.com/checkflow/checkflow/workflows"
)

// apiStack is a stack with the HTTP API in front of it, served over real HTTP, and a client
// that checks every response against the API's OpenAPI document.
type apiStack struct {
	*stack
	http  *httptest.Server
	admin *apitest.Client
	anon  *apitest.Client
}

func newAPIStack(t *testing.T) *apiStack { return newAPIStackWith(t, stackOptions{}) }

// newAPIStackWith builds an API stack whose worker and API share opts.box (a fresh box when
// none is given).
func newAPIStackWith(t *testing.T, opts stackOptions) *apiStack {
	t.Helper()
	if opts.box == nil {
		opts.box = testutil.SecretBox(t)
	}
	s := newStackWith(t, opts)
	srv := server.New(server.Config{
		Pool: s.pool, Temporal: shared.temporal.Client, Entities: s.entities,
		Logger: s.opts.logger, Version: "e2e", SecretBox: opts.box,
		NotifyOptions: opts.notify.Channel,
	})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	secret, _, err := s.store.CreateToken(context.Background(), "e2e admin", []string{store.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	anon := apitest.New(t, hs.URL, hs.Client())
	return &apiStack{stack: s, http: hs, admin: anon.WithToken(secret), anon: anon}
}

// apiSystemID is a system id unique to this run (entities of the shared Temporal server
// outlive a test); the entity is terminated when the test ends.
func apiSystemID(t *testing.T, name string) string {
	t.Helper()
	u := testutil.UniqueName(t)
	id := name + "-" + u[len(u)-8:]
	t.Cleanup(func() {
		_ = shared.temporal.Client.TerminateWorkflow(context.Background(), workflows.SystemWorkflowID(id), "", "test ended")
	})
	return id
}

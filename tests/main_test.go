// Package tests holds checkflow's end-to-end tests: real PostgreSQL, an embedded Temporal server,
// the real worker and HTTP API.
package tests

import (
	"fmt"
	"os"
	"testing"

	"github.com/checkflow/checkflow/internal/testutil/testtemporal"
)

// env is the embedded Temporal server shared by every test in this binary.
type env struct {
	temporal *testtemporal.Temporal
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	tt, err := testtemporal.StartTemporal(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests: start embedded temporal:", err)
		return 1
	}
	defer tt.Stop()
	shared = &env{temporal: tt}
	return m.Run()
}

// shared is set once in TestMain before any test runs and never written again.
var shared *env

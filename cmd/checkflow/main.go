// Command checkflow is checkflow's one binary: `dev` runs everything in one process on embedded
// defaults; `server`, `worker` and `migrate` are the production pieces; `version` prints the
// version. Every flag can also be set through the environment variable named in --help.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `checkflow — health-check orchestration on Temporal and PostgreSQL

Usage: checkflow <command> [flags]

Commands:
  dev          run everything in one process: embedded Temporal + Web UI, PostgreSQL, API, worker
  server       run the HTTP API against an existing Temporal cluster and PostgreSQL
  worker       run a Temporal worker (workflows and/or probes)
  migrate      apply database migrations and exit
  token        API tokens: create (in the database, --scopes …), or list|create --api|revoke through the API
  maintenance  start a platform job now (checkflow maintenance run-now <rollup|retention|prune|reconcile>)
  version      print the version

API commands (--server / CHECKFLOW_SERVER, --token / CHECKFLOW_TOKEN, or the file written by login):
  apply        apply manifests: checkflow apply -f <file|dir> [--dry-run] [--prune] [--context NAME] [--detailed-exitcode]
  export       write the configuration as manifests: checkflow export [-o DIR]
  import       convert another tool's configuration: checkflow import gatus <config.yaml> [-o DIR]
  systems      list the systems
  health       show health: checkflow health [SYSTEM]
  runs         show a check's newest runs: checkflow runs SYSTEM CHECK
  run          run a check now: checkflow run SYSTEM CHECK
  login        check and save a server and token: checkflow login --server URL [--token TOKEN]

Run 'checkflow <command> --help' for the command's flags, their defaults and environment variables.
`

// run executes one command and returns the process exit code. Errors are printed as one line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "dev":
		err = runDev(ctx, args[1:], stdout, stderr)
	case "server":
		err = runServer(ctx, args[1:], stdout, stderr)
	case "worker":
		err = runWorker(ctx, args[1:], stdout, stderr)
	case "migrate":
		err = runMigrate(ctx, args[1:], stdout, stderr)
	case "token":
		err = runToken(ctx, args[1:], stdout, stderr)
	case "maintenance":
		err = runMaintenance(ctx, args[1:], stdout, stderr)
	case "apply", "export", "import", "systems", "health", "runs", "run", "login":
		return runAPICommand(ctx, args[0], args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, currentVersion().Line())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "checkflow: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "checkflow %s: %v\n", args[0], err)
		var fe *flagError
		var ue *usageError
		if errors.As(err, &fe) || errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

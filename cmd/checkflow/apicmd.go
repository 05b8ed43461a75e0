package main

import (
	"context"
	"io"
	"os"

	"github.com/checkflow/checkflow/internal/cli"
)

// runAPICommand runs one of the API commands of internal/cli and returns its exit code (0 done,
// 1 error, 2 apply --dry-run --detailed-exitcode with changes).
func runAPICommand(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) int {
	return cli.Run(ctx, cmd, args, apiEnv(stdout, stderr))
}

// apiEnv is the environment of the API commands: the process's.
func apiEnv(stdout, stderr io.Writer) cli.Env {
	return cli.Env{
		Stdout: stdout, Stderr: stderr, Stdin: os.Stdin,
		Color: isTerminal(stdout) && os.Getenv("NO_COLOR") == "",
	}
}

// isTerminal reports whether w is a character device (a TTY).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

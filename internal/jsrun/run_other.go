//go:build !linux

package jsrun

import (
	"context"
	"errors"
	"time"
)

// Run refuses to evaluate scripts outside Linux: the evaluator process needs /proc/self/exe and
// Linux rlimit semantics to bound a script's memory, and evaluating in-process would let a
// script exhaust the caller's memory.
func Run(_ context.Context, req Request) Result {
	start := time.Now()
	if _, err := Transpile(req.Kind, req.Script); err != nil {
		return Result{Duration: time.Since(start), Err: err}
	}
	return Result{Duration: time.Since(start), Err: errors.New("JavaScript and TypeScript scripts need a Linux worker (the sandboxed evaluator process is Linux-only)")}
}

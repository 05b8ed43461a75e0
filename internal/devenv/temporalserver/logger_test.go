package temporalserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/server/common/log/tag"
	"google.golang.org/grpc/codes"
)

// Defect 8 of issue 17: the embedded server's errors reach the operator as ERROR only when
// there is something to act on; the expected ones are demoted, and the busy ones summarised.
func TestServerLoggerLevels(t *testing.T) {
	multi := func(opErrs ...error) error {
		return serviceerror.NewMultiOperationExecution("Update-with-Start could not be executed.", opErrs)
	}
	aborted := serviceerror.NewMultiOperationAborted("Operation was aborted.")
	inFlight := serviceerror.NewResourceExhausted(enumspb.RESOURCE_EXHAUSTED_CAUSE_CONCURRENT_LIMIT, "limit on number of concurrent in-flight updates has been reached (10)")
	cases := []struct {
		name  string
		msg   string
		tags  []tag.Tag
		level string // the level written, "" = nothing at the info level
	}{
		// Kept: a failing database, an internal error, a failed operation without a benign cause.
		{"persistence unavailable", "Operation failed with internal error.",
			[]tag.Tag{tag.Error(serviceerror.NewUnavailable("UpdateWorkflowExecution operation failed. Error: database is locked")), tag.Operation("UpdateWorkflowExecution")}, "ERROR"},
		{"disk failure", "Persistent store operation failure", []tag.Tag{tag.Error(errors.New("disk I/O error"))}, "ERROR"},
		{"internal service failure", "service failures", []tag.Tag{tag.Stringer("grpc_code", codes.Internal), tag.Error(serviceerror.NewInternal("unable to load mutable state"))}, "ERROR"},
		{"update-with-start whose start failed on persistence", "service failures",
			[]tag.Tag{tag.Error(multi(serviceerror.NewUnavailable("CreateWorkflowExecution operation failed: database is locked"), aborted))}, "ERROR"},
		{"error without an error tag", "Critical error processing task", nil, "ERROR"},
		// Demoted: the caller went away, back-pressure, lifecycle.
		{"shutdown cancels a task queue update", "Operation failed with internal error.",
			[]tag.Tag{tag.Error(serviceerror.NewUnavailable("UpdateTaskQueue operation failed. Error: context canceled")), tag.Operation("UpdateTaskQueue")}, ""},
		{"cancelled context", "Persistent store operation failure", []tag.Tag{tag.Error(fmt.Errorf("read: %w", context.Canceled))}, ""},
		{"task queue unloaded", "service failures", []tag.Tag{tag.Error(errors.New("task queue shutting down"))}, ""},
		{"update-with-start over the in-flight limit", "service failures", []tag.Tag{tag.Error(multi(aborted, inFlight))}, ""},
		{"update-with-start aborted", "service failures",
			[]tag.Tag{tag.Error(multi(aborted, serviceerror.NewUnavailable("workflow update was aborted")))}, ""},
		{"aborted update as text", "service failures",
			[]tag.Tag{tag.NewStringTag("error", "MultiOperation could not be executed: Update failed: workflow update was aborted")}, ""},
		// Demoted to a warning: the server is busy; the operation is retried.
		{"persistence timeout under load", "Update workflow execution operation failed.", []tag.Tag{tag.Error(context.DeadlineExceeded)}, "WARN"},
		{"membership in flux", "service failures", []tag.Tag{tag.Error(serviceerror.NewUnavailable("Not enough hosts to serve the request"))}, "WARN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := newServerLogger(slog.New(slog.NewTextHandler(&buf, nil)), &atomic.Bool{})
			l.Error(tc.msg, tc.tags...)
			got := ""
			if out := buf.String(); out != "" {
				got = strings.TrimPrefix(strings.Fields(out)[1], "level=")
			}
			if got != tc.level {
				t.Errorf("written at %q, want %q: %s", got, tc.level, buf.String())
			}
		})
	}
}

// Demoted records are visible at the debug level, named by their demotion.
func TestServerLoggerDemotedAtDebug(t *testing.T) {
	var buf bytes.Buffer
	l := newServerLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &atomic.Bool{})
	l.Error("Operation failed with internal error.", tag.Error(errors.New("UpdateTaskQueue operation failed. Error: context canceled")))
	if out := buf.String(); !strings.Contains(out, "level=DEBUG") || !strings.Contains(out, "demoted=cancelled") {
		t.Errorf("got %q, want a DEBUG line with demoted=cancelled", out)
	}
}

// A burst of the same demoted warning is one line per interval, which counts the others.
func TestServerLoggerSummarisesBursts(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	l := newServerLogger(slog.New(slog.NewTextHandler(&buf, nil)), &atomic.Bool{}).(serverLogger)
	l.sum.now = func() time.Time { return now }
	timeout := tag.Error(context.DeadlineExceeded)
	for range 100 {
		l.Error("Update workflow execution operation failed.", timeout)
	}
	l.Error("Not enough hosts", tag.Error(serviceerror.NewUnavailable("Not enough hosts to serve the request")))
	now = now.Add(summaryEvery)
	l.Error("Update workflow execution operation failed.", timeout)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3 (first of the burst, the other message, the summary):\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[2], "similarSinceLast=99") {
		t.Errorf("summary line %q does not count the 99 folded lines", lines[2])
	}
}

// Nothing is written while the server starts or stops, and the server's own warnings (dozens
// of expected dial and poll failures) never are.
func TestServerLoggerQuietAndNoWarnings(t *testing.T) {
	var buf bytes.Buffer
	quiet := &atomic.Bool{}
	l := newServerLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), quiet)
	l.Warn("Failed to poll for task.", tag.Error(errors.New("connection refused")))
	l.Info("service started")
	quiet.Store(true)
	l.Error("Persistent store operation failure", tag.Error(errors.New("disk I/O error")))
	if buf.Len() != 0 {
		t.Errorf("wrote %q, want nothing", buf.String())
	}
}

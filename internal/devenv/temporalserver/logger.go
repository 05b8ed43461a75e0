package temporalserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/api/serviceerror"
	sdklog "go.temporal.io/sdk/log"
	tlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// serverLogger adapts a *slog.Logger to the Temporal server's logger interface. It passes only
// the server's errors (at info it writes hundreds of lines per start and stop, at warn dozens
// of expected dial and poll failures), and of those only what an operator of checkflow should
// act on as errors:
//
//   - It is quiet until the server is ready and once it is stopping: services that start or stop
//     one after another report each other as unavailable, which is expected and says nothing to
//     the user (a server that does not come up is reported by StartTemporal's error).
//   - Errors that only say that a caller went away or that the server is busy are demoted (see
//     demotions); the demoted warnings are summarised, at most one line per message and
//     summaryEvery, with the number of lines folded into it.
//   - Everything else stays an ERROR: a persistence failure (the SQLite file unwritable, the
//     disk full, a corrupt database), an internal error, a panic.
type serverLogger struct {
	l     *slog.Logger
	quiet *atomic.Bool
	sum   *summary
}

// summaryEvery is the shortest interval between two warnings of the same demoted message.
const summaryEvery = 30 * time.Second

// newServerLogger passes the server's errors to l, demoted and summarised as described above.
func newServerLogger(l *slog.Logger, quiet *atomic.Bool) tlog.Logger {
	return serverLogger{
		l:     l.With("component", "temporal"),
		quiet: quiet,
		sum:   &summary{every: summaryEvery, last: map[string]time.Time{}, folded: map[string]int{}, now: time.Now},
	}
}

// demotion is a kind of server error that is not worth an ERROR, with the level it gets and why.
type demotion struct {
	name  string
	level slog.Level
	match func(msg string, errText string, err error) bool
}

// demotions are checked in order; the first that matches sets the level.
func demotions() []demotion {
	return []demotion{
		{
			// The caller cancelled: a worker stopping ends its long polls and the sticky task
			// queue it held (the matching service then logs "UpdateTaskQueue … context canceled"),
			// a client gave up on a request, the process is shutting down. Nothing failed on the
			// server's side and there is nothing to do.
			name:  "cancelled",
			level: slog.LevelDebug,
			match: func(_ string, errText string, err error) bool {
				return errors.Is(err, context.Canceled) || strings.Contains(errText, "context canceled") ||
					strings.Contains(errText, "code = Canceled")
			},
		},
		{
			// A task queue partition was being unloaded (idle, its worker stopped, or the
			// matching service stopping) while a task was added or polled: "task queue shutting
			// down" / "task queue closed". The caller retries on the reloaded partition: a
			// lifecycle event inside the server, not a failure.
			name:  "task queue unloaded",
			level: slog.LevelDebug,
			match: func(_ string, errText string, _ error) bool {
				return strings.Contains(errText, "task queue shutting down") || strings.Contains(errText, "task queue closed")
			},
		},
		{
			// Back-pressure answered to a client: too many concurrent updates of one workflow
			// ("limit on number of concurrent in-flight updates"), a rate limit. The client backs
			// off and retries (the API answers 503 when it runs out of time). The server does
			// not log ResourceExhausted itself; it only does when an Update-with-Start wraps it.
			name:  "back-pressure",
			level: slog.LevelDebug,
			match: func(_ string, errText string, err error) bool {
				var re *serviceerror.ResourceExhausted
				return errors.As(err, &re) || strings.Contains(errText, "limit on number of concurrent in-flight updates")
			},
		},
		{
			// An update was aborted by the server because the workflow's task failed or was
			// retried, or the workflow continued as new, before the update was accepted. The
			// client retries it (Update-with-Start with the same update id is idempotent); 50
			// concurrent run-now clients produced thousands of these a minute.
			name:  "update aborted",
			level: slog.LevelDebug,
			match: func(_ string, errText string, _ error) bool {
				return strings.Contains(errText, "workflow update was aborted")
			},
		},
		{
			// An operation ran out of time: the embedded server is busy (its pure-Go SQLite with one
			// connection serialises every write; other processes compete for the CPU), and the
			// operation is retried — a workflow task by the worker, a transfer or timer task by
			// the server's queue processors. Worth knowing (the machine is too small for the
			// load), not an error to act on one by one: a summarised warning.
			name:  "deadline exceeded",
			level: slog.LevelWarn,
			match: func(_ string, errText string, err error) bool {
				return errors.Is(err, context.DeadlineExceeded) || strings.Contains(errText, "context deadline exceeded") ||
					strings.Contains(errText, "code = DeadlineExceeded")
			},
		},
		{
			// The services of this one process have not all (re)joined the membership ring: at
			// start and stop (quiet anyway), or for a moment when the machine is so busy that
			// their heartbeats come late. The caller retries; a server that never gets there fails
			// StartTemporal or every workflow call, which checkflow reports itself.
			name:  "membership",
			level: slog.LevelWarn,
			match: func(msg string, errText string, _ error) bool {
				return strings.Contains(msg, "Not enough hosts") || strings.Contains(errText, "Not enough hosts to serve the request")
			},
		},
	}
}

// classify returns the level a server record at level gets, and the demotion's name ("" when
// it keeps its level).
func classify(level slog.Level, msg string, tags []tag.Tag) (slog.Level, string) {
	if level < slog.LevelError {
		return level, ""
	}
	errText, err := errorOf(tags)
	if l, name, ok := demote(msg, errText, err); ok {
		return l, name
	}
	return level, ""
}

// demote finds the demotion of an error. An Update-with-Start that failed (a multi-operation
// error) is demoted when each of its operations' errors is: it carries the retryable status of
// the operation that failed, and "aborted" for the other.
func demote(msg, errText string, err error) (slog.Level, string, bool) {
	var multi *serviceerror.MultiOperationExecution
	if errors.As(err, &multi) && len(multi.OperationErrors()) > 0 {
		level, names := slog.LevelDebug, []string{}
		for _, opErr := range multi.OperationErrors() {
			var aborted *serviceerror.MultiOperationAborted
			if opErr == nil || errors.As(opErr, &aborted) {
				continue
			}
			l, name, ok := demote(msg, opErr.Error(), opErr)
			if !ok {
				return 0, "", false
			}
			level, names = max(level, l), append(names, name)
		}
		if len(names) > 0 {
			return level, strings.Join(names, ", "), true
		}
	}
	for _, d := range demotions() {
		if d.match(msg, errText, err) {
			return d.level, d.name, true
		}
	}
	return 0, "", false
}

// errorOf finds the error of a record's tags (tag.Error), as an error when the tag holds one.
func errorOf(tags []tag.Tag) (string, error) {
	for _, t := range tags {
		if t.Key() != "error" {
			continue
		}
		if zt, ok := t.(tag.ZapTag); ok {
			if err, ok := zt.Field().Interface.(error); ok && err != nil {
				return err.Error(), err
			}
		}
		return fmt.Sprint(t.Value()), nil
	}
	return "", nil
}

func (s serverLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	if s.quiet.Load() || level < slog.LevelError {
		return // the server's warnings and below are far too chatty; see serverLogger
	}
	level, demoted := classify(level, msg, tags)
	ctx := context.Background()
	if !s.l.Enabled(ctx, level) {
		return
	}
	attrs := make([]any, 0, 2*len(tags)+4)
	for _, t := range tags {
		attrs = append(attrs, t.Key(), t.Value())
	}
	if demoted != "" {
		folded, ok := s.sum.admit(msg)
		if !ok {
			return
		}
		attrs = append(attrs, "demoted", demoted)
		if folded > 0 {
			attrs = append(attrs, "similarSinceLast", folded)
		}
	}
	s.l.Log(ctx, level, msg, attrs...)
}

// summary lets one line per message through every interval and counts the others.
type summary struct {
	mu     sync.Mutex
	every  time.Duration
	last   map[string]time.Time
	folded map[string]int
	now    func() time.Time
}

// admit reports whether a line with msg may be written now, and how many were folded since
// the last one that was.
func (s *summary) admit(msg string) (folded int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if last, seen := s.last[msg]; seen && now.Sub(last) < s.every {
		s.folded[msg]++
		return 0, false
	}
	folded = s.folded[msg]
	s.last[msg], s.folded[msg] = now, 0
	return folded, true
}

func (s serverLogger) Debug(msg string, tags ...tag.Tag)  { s.log(slog.LevelDebug, msg, tags) }
func (s serverLogger) Info(msg string, tags ...tag.Tag)   { s.log(slog.LevelInfo, msg, tags) }
func (s serverLogger) Warn(msg string, tags ...tag.Tag)   { s.log(slog.LevelWarn, msg, tags) }
func (s serverLogger) Error(msg string, tags ...tag.Tag)  { s.log(slog.LevelError, msg, tags) }
func (s serverLogger) DPanic(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }
func (s serverLogger) Panic(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
	panic(msg)
}
func (s serverLogger) Fatal(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
	panic(msg)
}

// quietSDKLogger discards everything: used for readiness probes, where a failed dial while the
// server starts is expected.
func quietSDKLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

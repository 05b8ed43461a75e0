package devenv

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
)

// SDKLogger returns a Temporal SDK logger writing to l at warn level and above: the SDK logs
// every worker start and poll at info, which drowns checkflow's own lines. Errors that only
// say that something was cancelled are warnings (see demoteCancelled).
func SDKLogger(l *slog.Logger) sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(demoteCancelled{h: MinLevel(l.Handler(), slog.LevelWarn)}))
}

// MinLevel wraps h so that records below min are dropped.
func MinLevel(h slog.Handler, min slog.Level) slog.Handler { return levelFilter{h: h, min: min} }

type levelFilter struct {
	h   slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.h.Enabled(ctx, l)
}
func (f levelFilter) Handle(ctx context.Context, r slog.Record) error { return f.h.Handle(ctx, r) }
func (f levelFilter) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFilter{h: f.h.WithAttrs(a), min: f.min}
}
func (f levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{h: f.h.WithGroup(name), min: f.min}
}

// demoteCancelled turns the SDK's errors whose error is a cancellation into warnings: the SDK
// logs "Activity error." at ERROR for an activity that a stopping worker interrupted after its
// grace period, or that its workflow cancelled. That is flow control, not a failure — Temporal
// retries an interrupted activity on another worker — so it must not read as one an operator
// has to act on. Every other SDK error (a workflow panic, an activity that failed) stays.
type demoteCancelled struct{ h slog.Handler }

func (d demoteCancelled) Enabled(ctx context.Context, l slog.Level) bool { return d.h.Enabled(ctx, l) }

func (d demoteCancelled) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelError || !carriesCancellation(r) {
		return d.h.Handle(ctx, r)
	}
	w := slog.NewRecord(r.Time, slog.LevelWarn, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		w.AddAttrs(a)
		return true
	})
	w.AddAttrs(slog.String("demoted", "cancelled"))
	return d.h.Handle(ctx, w)
}

func (d demoteCancelled) WithAttrs(a []slog.Attr) slog.Handler {
	return demoteCancelled{h: d.h.WithAttrs(a)}
}
func (d demoteCancelled) WithGroup(name string) slog.Handler {
	return demoteCancelled{h: d.h.WithGroup(name)}
}

// carriesCancellation reports whether one of r's attributes is an error that says "cancelled".
func carriesCancellation(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && isCancellation(err) {
			found = true
		}
		return !found
	})
	return found
}

func isCancellation(err error) bool {
	return errors.Is(err, context.Canceled) || temporal.IsCanceledError(err) ||
		strings.Contains(err.Error(), "context canceled")
}

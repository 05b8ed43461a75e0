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
	if r.Level < slog.LevelError {
		return d.h.Handle(ctx, r)
	}
	level, why := slog.LevelWarn, "cancelled"
	switch {
	case carriesCancellation(r):
	case carries(r, isReceiverFailure):
		// A receiver that refused a notification: the delivery activity logged it itself (INFO)
		// and the channel shows it; the SDK's ERROR would read as checkflow's own failure.
		level, why = slog.LevelDebug, "receiver failure"
	default:
		return d.h.Handle(ctx, r)
	}
	if !d.h.Enabled(ctx, level) {
		return nil
	}
	w := slog.NewRecord(r.Time, level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		w.AddAttrs(a)
		return true
	})
	w.AddAttrs(slog.String("demoted", why))
	return d.h.Handle(ctx, w)
}

func (d demoteCancelled) WithAttrs(a []slog.Attr) slog.Handler {
	return demoteCancelled{h: d.h.WithAttrs(a)}
}
func (d demoteCancelled) WithGroup(name string) slog.Handler {
	return demoteCancelled{h: d.h.WithGroup(name)}
}

// carriesCancellation reports whether one of r's attributes is an error that says "cancelled".
func carriesCancellation(r slog.Record) bool { return carries(r, isCancellation) }

// carries reports whether one of r's attributes is an error for which is holds.
func carries(r slog.Record, is func(error) bool) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && is(err) {
			found = true
		}
		return !found
	})
	return found
}

// IsReceiverFailureType reports whether an application error type is that of a notification
// delivery that failed at the receiver (workflows.ErrTypeDeliveryFailed and
// ErrTypeDeliveryRejected; devenv does not import workflows).
func IsReceiverFailureType(t string) bool { return t == "DeliveryFailed" || t == "DeliveryRejected" }

func isReceiverFailure(err error) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app) && IsReceiverFailureType(app.Type())
}

func isCancellation(err error) bool {
	return errors.Is(err, context.Canceled) || temporal.IsCanceledError(err) ||
		strings.Contains(err.Error(), "context canceled")
}

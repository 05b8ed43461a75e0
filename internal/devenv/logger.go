package devenv

import (
	"context"
	"log/slog"

	sdklog "go.temporal.io/sdk/log"
)

// SDKLogger returns a Temporal SDK logger writing to l at warn level and above: the SDK logs
// every worker start and poll at info, which drowns checkflow's own lines.
func SDKLogger(l *slog.Logger) sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(MinLevel(l.Handler(), slog.LevelWarn)))
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

package temporalserver

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"

	sdklog "go.temporal.io/sdk/log"
	tlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"

	"github.com/checkflow/checkflow/internal/devenv"
)

// serverLogger adapts a *slog.Logger to the Temporal server's logger interface. It is quiet
// until the server is ready and once it is stopping: services that start or stop one after
// another report each other as unavailable, which is expected and says nothing to the user (a
// server that does not come up is reported by StartTemporal's error).
type serverLogger struct {
	l     *slog.Logger
	quiet *atomic.Bool
}

// newServerLogger passes only errors: at info the server writes hundreds of lines per start and stop.
func newServerLogger(l *slog.Logger, quiet *atomic.Bool) tlog.Logger {
	return serverLogger{l: slog.New(devenv.MinLevel(l.Handler(), slog.LevelError)).With("component", "temporal"), quiet: quiet}
}

func (s serverLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	if s.quiet.Load() || !s.l.Enabled(context.Background(), level) {
		return
	}
	attrs := make([]any, 0, 2*len(tags))
	for _, t := range tags {
		attrs = append(attrs, t.Key(), t.Value())
	}
	s.l.Log(context.Background(), level, msg, attrs...)
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

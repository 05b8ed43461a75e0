package devenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/checkflow/checkflow/workflows"
)

// Defect 8 of issue 17: the SDK's lines reach the operator from warn on, and an ERROR that
// only reports a cancellation (an activity interrupted by a stopping worker) is a warning.
// Issue 10: a notification receiver's failure is not checkflow's error (the delivery activity
// logs it at INFO; the channel shows it).
func TestSDKLoggerLevels(t *testing.T) {
	cases := []struct {
		name  string
		level string // the SDK's level: ERROR, WARN or INFO
		msg   string
		args  []any
		want  string // the level written, "" = nothing
	}{
		{"activity failed", "ERROR", "Activity error.", []any{"ActivityType", "PersistSystem", "Error", errors.New("connection refused")}, "ERROR"},
		{"workflow panic", "ERROR", "Workflow panic", []any{"Error", "[TMPRL1101] Potential deadlock detected"}, "ERROR"},
		{"activity interrupted by the worker stopping", "ERROR", "Activity error.", []any{"Error", fmt.Errorf("list systems: %w", context.Canceled)}, "WARN"},
		{"activity cancelled by its workflow", "ERROR", "Activity error.", []any{"Error", temporal.NewCanceledError()}, "WARN"},
		{"delivery refused by its receiver", "ERROR", "Activity error.", []any{"ActivityType", "DeliverNotification", "Error", temporal.NewApplicationError("webhook answered HTTP 500", workflows.ErrTypeDeliveryFailed)}, ""},
		{"delivery rejected for good", "ERROR", "Activity error.", []any{"Error", temporal.NewNonRetryableApplicationError("HTTP 404", workflows.ErrTypeDeliveryRejected, nil)}, ""},
		{"other application error kept", "ERROR", "Activity error.", []any{"Error", temporal.NewApplicationError("boom", "Other")}, "ERROR"},
		{"warning kept", "WARN", "Failed to poll for task.", []any{"Error", errors.New("unavailable")}, "WARN"},
		{"info dropped", "INFO", "Started Worker", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := SDKLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
			switch tc.level {
			case "ERROR":
				l.Error(tc.msg, tc.args...)
			case "WARN":
				l.Warn(tc.msg, tc.args...)
			default:
				l.Info(tc.msg, tc.args...)
			}
			got := ""
			if out := buf.String(); out != "" {
				got = strings.TrimPrefix(strings.Fields(out)[1], "level=")
			}
			if got != tc.want {
				t.Errorf("written at %q, want %q: %s", got, tc.want, buf.String())
			}
		})
	}
}

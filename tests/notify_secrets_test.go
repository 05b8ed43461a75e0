package tests

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/workflows"
)

// planted marks every secret value of this test: it must never show up in plain text.
const planted = "PLANTED-9f2c"

// Issue 10, acceptance 6: channel secrets (webhook secret, Slack URL with its token, PagerDuty
// routing key) never appear in plain text in PostgreSQL, Temporal histories, logs or API
// responses — also when deliveries fail and their errors are recorded.
func TestChannelSecretsNeverInPlainText(t *testing.T) {
	t.Parallel()
	logs := &testutil.LockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := newAPIStackWith(t, stackOptions{notify: quickNotify(), logger: logger})

	hook := newReceiver(t, planted+"-hook-secret", nil)
	failing := newReceiver(t, "", func(int) int { return http.StatusInternalServerError })
	pd := newReceiver(t, "", func(int) int { return http.StatusAccepted })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	_ = ln.Close()

	sys := a.system(t, "secretive")
	terminateNotifier(t, sys)
	channels := []string{
		a.createChannel(t, map[string]any{"name": "hook", "type": "webhook", "systems": []string{sys},
			"config": map[string]any{"url": hook.srv.URL, "secret": hook.secret, "headers": map[string]string{"Authorization": "Bearer " + planted + "-header"}}}),
		a.createChannel(t, map[string]any{"name": "slack failing", "type": "slack", "systems": []string{sys},
			"config": map[string]any{"webhookUrl": failing.srv.URL + "/services/" + planted + "-slack-token"}}),
		a.createChannel(t, map[string]any{"name": "slack refused", "type": "slack", "systems": []string{sys},
			"config": map[string]any{"webhookUrl": "http://" + refused + "/services/" + planted + "-refused-token"}}),
		a.createChannel(t, map[string]any{"name": "pagerduty", "type": "pagerduty", "systems": []string{sys},
			"config": map[string]any{"routingKey": planted + "-routing-key", "url": pd.srv.URL}}),
	}
	// The test endpoint of the refused channel records a failed test delivery.
	expectStatus(t, a.admin.Do("POST", "/api/v1/channels/"+channels[2]+"/test", nil), http.StatusOK)

	tg := newTarget(t)
	tg.code.Store(http.StatusInternalServerError)
	a.httpCheck(t, sys, "down", tg.srv.URL, 1, consecutiveThresholds(1, 1000))
	if err := a.entities.ConfigChanged(context.Background(), sys); err != nil {
		t.Fatal(err)
	}
	if p := hook.waitPosts(t, 1, 60*time.Second)[0]; !hook.signed(p) || p.header.Get("Authorization") != "Bearer "+planted+"-header" {
		t.Fatalf("webhook post: signed=%v, Authorization %q: the opened secrets did not reach the receiver", hook.signed(p), p.header.Get("Authorization"))
	}
	pd.waitPosts(t, 1, 60*time.Second)
	failing.waitPosts(t, 3, 60*time.Second)
	waitFor(t, 60*time.Second, "failed attempts of the refused channel", func() (bool, error) {
		return a.count(t, `SELECT count(*) FROM notification_deliveries WHERE channel_id = $1 AND attempts >= 2 AND last_error IS NOT NULL`, channels[2]) == 1, nil
	})

	// API responses.
	var bodies []string
	for _, path := range []string{"/api/v1/channels", "/api/v1/deliveries?systemId=" + sys, "/api/v1/events?systemId=" + sys} {
		bodies = append(bodies, string(expectStatus(t, a.admin.Do("GET", path, nil), http.StatusOK).Body))
	}
	for _, id := range channels {
		bodies = append(bodies, string(expectStatus(t, a.admin.Do("GET", "/api/v1/channels/"+id, nil), http.StatusOK).Body))
	}
	for i, b := range bodies {
		if strings.Contains(b, planted) {
			t.Errorf("API response %d holds a secret: %s", i, b)
		}
	}
	if !strings.Contains(bodies[0], `"****"`) {
		t.Errorf("channel list does not mask secrets: %s", bodies[0])
	}

	// PostgreSQL: every row of every table, as text.
	ctx := context.Background()
	tables, err := a.pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(tables, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, tbl := range names {
		var n int
		q := fmt.Sprintf(`SELECT count(*) FROM %s t WHERE t::text LIKE '%%%s%%'`, pgx.Identifier{tbl}.Sanitize(), planted)
		if err := a.pool.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			t.Errorf("table %s has %d rows with a secret in plain text", tbl, n)
		}
	}
	if a.count(t, `SELECT count(*) FROM notification_deliveries WHERE last_error IS NOT NULL`) == 0 {
		t.Error("no delivery error was recorded: the error paths were not exercised")
	}

	// Temporal histories of the system's workflows.
	for _, id := range []string{workflows.SystemWorkflowID(sys), workflows.NotifierWorkflowID(sys)} {
		it := shared.temporal.Client.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		events := 0
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			events++
			if b, _ := protojson.Marshal(ev); strings.Contains(string(b), planted) {
				t.Errorf("history of %s holds a secret: %s", id, b)
			}
		}
		if events == 0 {
			t.Errorf("no history for %s", id)
		}
	}

	// Logs (DEBUG and up, worker and API).
	if strings.Contains(logs.String(), planted) {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, planted) {
				t.Errorf("log line holds a secret: %s", line)
			}
		}
	}
	if !strings.Contains(logs.String(), "notification attempt failed") {
		t.Error("the logs do not show the failed attempts: the log path was not exercised")
	}
}

package checks

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestHeartbeatValidation(t *testing.T) {
	r := NewRegistry()
	for _, tc := range []struct {
		config string
		field  string
	}{
		{`{"periodSeconds":60,"graceSeconds":30}`, ""},
		{`{"cron":"0 3 * * *","timezone":"Europe/Berlin"}`, ""},
		{`{}`, "config.periodSeconds"},
		{`{"periodSeconds":60,"cron":"@daily"}`, "config.cron"},
		{`{"cron":"at three"}`, "config.cron"},
		{`{"cron":"@daily","timezone":"Nowhere/Town"}`, "config.timezone"},
		{`{"periodSeconds":0.5}`, "config.periodSeconds"},
		{`{"periodSeconds":60,"graceSeconds":-5}`, "config.graceSeconds"},
	} {
		err := r.Validate("healthcheck-heartbeat.heartbeat", json.RawMessage(tc.config), nil)
		var ve *ValidationError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.config, err)
		case tc.field != "" && (!errors.As(err, &ve) || len(ve.Errors) == 0 || ve.Errors[0].Field != tc.field):
			t.Errorf("%s: error %v, want one naming %s", tc.config, err, tc.field)
		}
	}
}

func TestHeartbeatIsNotProbed(t *testing.T) {
	res := run(t, "heartbeat", map[string]any{"periodSeconds": 60})
	requireUnhealthy(t, res, "heartbeat checks are not probed")
}

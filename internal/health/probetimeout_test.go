package health

import (
	"encoding/json"
	"testing"
	"time"
)

func TestProbeTimeoutMs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		config string
		want   int
	}{
		{`{"timeout": 5000}`, 5000},
		{`{"timeout": 100}`, 100},
		{`{"timeout": 50}`, 50},
		{`{"timeout": 1500.7}`, 1500},
		{`{}`, DefaultProbeTimeoutMs},
		{`{"timeout": null}`, DefaultProbeTimeoutMs},
		{`{"timeout": 0}`, DefaultProbeTimeoutMs},
		{`{"timeout": -3}`, DefaultProbeTimeoutMs},
		{`{"timeout": "5000"}`, DefaultProbeTimeoutMs},
		{`not json`, DefaultProbeTimeoutMs},
		{``, DefaultProbeTimeoutMs},
	}
	for _, c := range cases {
		if got := ProbeTimeoutMs(json.RawMessage(c.config)); got != c.want {
			t.Errorf("ProbeTimeoutMs(%q) = %d, want %d", c.config, got, c.want)
		}
		if got := ProbeTimeout(json.RawMessage(c.config)); got != time.Duration(c.want)*time.Millisecond {
			t.Errorf("ProbeTimeout(%q) = %v", c.config, got)
		}
	}
}

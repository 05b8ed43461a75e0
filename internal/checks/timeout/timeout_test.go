package timeout

import (
	"encoding/json"
	"testing"
	"time"
)

func TestMs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		config string
		want   int
	}{
		{`{"timeout": 5000}`, 5000},
		{`{"timeout": 100}`, 100},
		{`{"timeout": 50}`, 50},
		{`{"timeout": 1500.7}`, 1500},
		{`{}`, DefaultMs},
		{`{"timeout": null}`, DefaultMs},
		{`{"timeout": 0}`, DefaultMs},
		{`{"timeout": -3}`, DefaultMs},
		{`{"timeout": "5000"}`, DefaultMs},
		{`not json`, DefaultMs},
		{``, DefaultMs},
	}
	for _, c := range cases {
		if got := Ms(json.RawMessage(c.config)); got != c.want {
			t.Errorf("Ms(%q) = %d, want %d", c.config, got, c.want)
		}
		if got := Of(json.RawMessage(c.config)); got != time.Duration(c.want)*time.Millisecond {
			t.Errorf("Of(%q) = %v", c.config, got)
		}
	}
}

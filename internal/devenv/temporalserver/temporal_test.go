package temporalserver

import (
	"testing"

	"go.temporal.io/server/common/dynamicconfig"
)

// The embedded server's dynamic config: the defaults checkflow relies on, and overrides winning.
func TestDynamicConfig(t *testing.T) {
	tests := []struct {
		name  string
		extra map[string]any
		key   dynamicconfig.Key
		want  any
	}{
		{"history cache bounded", nil, dynamicconfig.HistoryCacheHostLevelMaxSize.Key(), historyCacheSize},
		{"transfer queue polled fast", nil, dynamicconfig.TransferProcessorMaxPollRPS.Key(), 1000},
		{"one task queue partition", nil, dynamicconfig.MatchingNumTaskqueueReadPartitions.Key(), 1},
		{"an override wins", map[string]any{"history.hostLevelCacheMaxSize": 5000}, dynamicconfig.HistoryCacheHostLevelMaxSize.Key(), 5000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dc := dynamicConfig(tc.extra)
			v, _ := dc[tc.key].([]dynamicconfig.ConstrainedValue)
			if len(v) != 1 || v[0].Value != tc.want {
				t.Fatalf("%s = %v, want %v", tc.key, v, tc.want)
			}
		})
	}
}

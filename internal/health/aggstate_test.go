package health

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestMergeStates(t *testing.T) {
	tests := []struct {
		name string
		got  func() map[string]any
		want string
	}{
		{"counter from nil", func() map[string]any { return MergeCounter(nil, 1) }, `{"_type":"counter","count":1}`},
		{"counter adds n", func() map[string]any { return MergeCounter(MergeCounter(nil, 2), 3) }, `{"_type":"counter","count":5}`},
		{"counter reads int and json.Number", func() map[string]any {
			return MergeCounter(map[string]any{"_type": "counter", "count": json.Number("4")}, 1)
		}, `{"_type":"counter","count":5}`},
		{"average nil initialises", func() map[string]any { return MergeAverage(nil, nil) }, `{"_count":0,"_sum":0,"_type":"average","avg":0}`},
		{"average round1", func() map[string]any {
			s := MergeAverage(nil, fp(1))
			s = MergeAverage(s, fp(2))
			s = MergeAverage(s, nil)
			return MergeAverage(s, fp(2))
		}, `{"_count":3,"_sum":5,"_type":"average","avg":1.7}`},
		{"average reads ints", func() map[string]any {
			return MergeAverage(map[string]any{"_type": "average", "_sum": 10, "_count": 4}, fp(5))
		}, `{"_count":5,"_sum":15,"_type":"average","avg":3}`},
		{"rate 2/3 → 67", func() map[string]any {
			return MergeRate(MergeRate(MergeRate(nil, true), false), true)
		}, `{"_success":2,"_total":3,"_type":"rate","rate":67}`},
		{"rate 1/8 → 13 (half up)", func() map[string]any {
			s := MergeRate(nil, true)
			for i := 0; i < 7; i++ {
				s = MergeRate(s, false)
			}
			return s
		}, `{"_success":1,"_total":8,"_type":"rate","rate":13}`},
		{"minmax nil value, nil state", func() map[string]any { return MergeMinMax(nil, nil) }, `{"_type":"minmax"}`},
		{"minmax", func() map[string]any {
			return MergeMinMax(MergeMinMax(MergeMinMax(nil, fp(5)), fp(-2)), fp(3))
		}, `{"_type":"minmax","max":5,"min":-2}`},
		{"minmax nil value keeps bounds", func() map[string]any { return MergeMinMax(MergeMinMax(nil, fp(5)), nil) }, `{"_type":"minmax","max":5,"min":5}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.got()
			if got := mustJSON(t, st); got != tc.want {
				t.Fatalf("got %s want %s", got, tc.want)
			}
			// float64 numbers survive a JSON round trip unchanged.
			var back map[string]any
			if err := json.Unmarshal([]byte(mustJSON(t, st)), &back); err != nil || !reflect.DeepEqual(back, st) {
				t.Fatalf("round trip %#v vs %#v", back, st)
			}
		})
	}
}

func TestMergeDoesNotModifyExisting(t *testing.T) {
	ex := map[string]any{"_type": "counter", "count": 1.0}
	MergeCounter(ex, 5)
	if ex["count"] != 1.0 {
		t.Fatal("existing modified")
	}
}

func TestCombineStates(t *testing.T) {
	avgA := MergeAverage(MergeAverage(nil, fp(1)), fp(2)) // 3/2
	avgB := MergeAverage(nil, fp(10))                     // 10/1
	tests := []struct {
		name string
		a, b map[string]any
		want string
	}{
		{"counters add", MergeCounter(nil, 2), MergeCounter(nil, 3), `{"_type":"counter","count":5}`},
		{"averages add sums and counts", avgA, avgB, `{"_count":3,"_sum":13,"_type":"average","avg":4.3}`},
		{"rates add", MergeRate(nil, true), MergeRate(MergeRate(nil, false), false), `{"_success":1,"_total":3,"_type":"rate","rate":33}`},
		{"minmax", MergeMinMax(nil, fp(4)), MergeMinMax(MergeMinMax(nil, fp(1)), fp(9)), `{"_type":"minmax","max":9,"min":1}`},
		{"minmax with empty side", MergeMinMax(nil, nil), MergeMinMax(nil, fp(2)), `{"_type":"minmax","max":2,"min":2}`},
		{"nil a", nil, MergeCounter(nil, 1), `{"_type":"counter","count":1}`},
		{"nil b", MergeCounter(nil, 1), nil, `{"_type":"counter","count":1}`},
		{"type mismatch keeps a", MergeCounter(nil, 1), MergeRate(nil, true), `{"_type":"counter","count":1}`},
		{"scalar conflict keeps a", map[string]any{"_collectorId": "x", "note": "first"}, map[string]any{"_collectorId": "x", "note": "second", "extra": 1.0}, `{"_collectorId":"x","extra":1,"note":"first"}`},
		{"aggregated results merge per collector and field",
			map[string]any{"collectors": map[string]any{
				"c1": map[string]any{"_collectorId": "http.request", "successRate": MergeRate(nil, true), "avg": MergeAverage(nil, fp(100))},
				"c2": map[string]any{"_collectorId": "tcp.banner", "banners": MergeCounter(nil, 1)},
			}},
			map[string]any{"collectors": map[string]any{
				"c1": map[string]any{"_collectorId": "http.request", "successRate": MergeRate(nil, false), "avg": MergeAverage(nil, fp(200))},
				"c3": map[string]any{"_collectorId": "dns.lookup", "n": MergeCounter(nil, 2)},
			}},
			`{"collectors":{"c1":{"_collectorId":"http.request","avg":{"_count":2,"_sum":300,"_type":"average","avg":150},"successRate":{"_success":1,"_total":2,"_type":"rate","rate":50}},"c2":{"_collectorId":"tcp.banner","banners":{"_type":"counter","count":1}},"c3":{"_collectorId":"dns.lookup","n":{"_type":"counter","count":2}}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ja, jb := mustJSON(t, tc.a), mustJSON(t, tc.b)
			if got := mustJSON(t, CombineStates(tc.a, tc.b)); got != tc.want {
				t.Fatalf("got %s\nwant %s", got, tc.want)
			}
			if mustJSON(t, tc.a) != ja || mustJSON(t, tc.b) != jb {
				t.Fatal("inputs modified")
			}
		})
	}
	if CombineStates(nil, nil) != nil {
		t.Fatal("nil+nil")
	}
}

func TestJSRound(t *testing.T) {
	tests := []struct{ in, want float64 }{
		{0.5, 1}, {1.5, 2}, {2.5, 3}, {-0.5, 0}, {-1.5, -1}, {-2.6, -3}, {0.49999999999999994, 0}, {4.35 * 10, 44},
	}
	for _, tc := range tests {
		if got := jsRound(tc.in); got != tc.want {
			t.Errorf("jsRound(%v)=%v want %v", tc.in, got, tc.want)
		}
	}
}

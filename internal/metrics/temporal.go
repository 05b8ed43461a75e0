package metrics

import (
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// TemporalHandler returns a Temporal SDK metrics handler (client.Options.MetricsHandler) that
// exports the SDK's own metrics (requests, polls, task latencies, slots, sticky cache…) through
// this registry:
//
//   - an SDK counter "temporal_x" is the Prometheus counter temporal_x_total;
//   - an SDK timer is the histogram temporal_x_seconds;
//   - an SDK gauge keeps its name.
//
// The SDK's tags (namespace, task_queue, workflow_type, activity_type, operation, …) become
// labels. The SDK may emit one metric with different tag sets; a series lacking a label the
// metric has elsewhere exports it as "".
func (r *Registry) TemporalHandler() client.MetricsHandler {
	if r == nil {
		return client.MetricsNopHandler
	}
	return sdkHandler{c: r.sdk}
}

// timerBuckets are the buckets of the SDK's timers (seconds).
var timerBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

type sdkKind int

const (
	sdkCounter sdkKind = iota
	sdkGauge
	sdkTimer
)

// sdkCollector holds the SDK's metrics. It is an unchecked collector (Describe sends nothing):
// the families appear as the SDK emits them.
type sdkCollector struct {
	mu       sync.RWMutex
	families map[string]*sdkFamily // by exported name
}

type sdkFamily struct {
	name string
	help string
	kind sdkKind
	// labels is the union of the label names of the family's series.
	labels map[string]struct{}
	series map[string]*sdkSeries // by canonical tag key
}

type sdkSeries struct {
	tags  map[string]string
	count atomic.Int64  // counter
	bits  atomic.Uint64 // gauge: math.Float64bits
	// timer
	mu      sync.Mutex
	buckets []uint64 // non-cumulative, per timerBuckets
	n       uint64
	sum     float64
}

func newSDKCollector() *sdkCollector {
	return &sdkCollector{families: map[string]*sdkFamily{}}
}

// exportName is the Prometheus name of an SDK metric of a kind.
func exportName(name string, k sdkKind) string {
	n := sanitizeName(name)
	switch k {
	case sdkCounter:
		if !strings.HasSuffix(n, "_total") {
			n += "_total"
		}
	case sdkTimer:
		if !strings.HasSuffix(n, "_seconds") {
			n += "_seconds"
		}
	}
	return n
}

// sanitizeName maps a name onto [a-zA-Z_][a-zA-Z0-9_]*.
func sanitizeName(s string) string {
	if s == "" {
		return "_"
	}
	b := []byte(s)
	for i, c := range b {
		ok := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}

// sanitizeLabel maps a tag key onto a valid label name that is not reserved (__…).
func sanitizeLabel(s string) string {
	n := sanitizeName(s)
	if strings.HasPrefix(n, "__") {
		n = "x" + n
	}
	return n
}

// seriesKey is the canonical key of a tag set.
func seriesKey(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(tags[k])
		b.WriteByte(0)
	}
	return b.String()
}

// get returns the series of (name, kind, tags), creating it; nil when the exported name is
// taken by a metric of another kind.
func (c *sdkCollector) get(name string, k sdkKind, tags map[string]string) *sdkSeries {
	fam := exportName(name, k)
	key := seriesKey(tags)
	c.mu.RLock()
	f := c.families[fam]
	var s *sdkSeries
	if f != nil && f.kind == k {
		s = f.series[key]
	}
	c.mu.RUnlock()
	if s != nil {
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	f = c.families[fam]
	if f == nil {
		f = &sdkFamily{name: fam, help: "Temporal SDK metric " + name + ".", kind: k,
			labels: map[string]struct{}{}, series: map[string]*sdkSeries{}}
		c.families[fam] = f
	}
	if f.kind != k {
		return nil
	}
	if s = f.series[key]; s != nil {
		return s
	}
	s = &sdkSeries{tags: tags}
	if k == sdkTimer {
		s.buckets = make([]uint64, len(timerBuckets))
	}
	for l := range tags {
		f.labels[l] = struct{}{}
	}
	f.series[key] = s
	return s
}

// Describe implements prometheus.Collector (unchecked: nothing).
func (c *sdkCollector) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (c *sdkCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, f := range c.families {
		names := make([]string, 0, len(f.labels))
		for l := range f.labels {
			names = append(names, l)
		}
		sort.Strings(names)
		desc := prometheus.NewDesc(f.name, f.help, names, nil)
		seen := make(map[string]bool, len(f.series))
		for _, s := range f.series {
			values := make([]string, len(names))
			for i, l := range names {
				values[i] = s.tags[l]
			}
			// A series with an explicit "" and one without the tag export alike: keep one.
			vk := strings.Join(values, "\x00")
			if seen[vk] {
				continue
			}
			seen[vk] = true
			var m prometheus.Metric
			var err error
			switch f.kind {
			case sdkCounter:
				m, err = prometheus.NewConstMetric(desc, prometheus.CounterValue, float64(s.count.Load()), values...)
			case sdkGauge:
				m, err = prometheus.NewConstMetric(desc, prometheus.GaugeValue, math.Float64frombits(s.bits.Load()), values...)
			case sdkTimer:
				s.mu.Lock()
				cum := make(map[float64]uint64, len(timerBuckets))
				var acc uint64
				for i, ub := range timerBuckets {
					acc += s.buckets[i]
					cum[ub] = acc
				}
				n, sum := s.n, s.sum
				s.mu.Unlock()
				m, err = prometheus.NewConstHistogram(desc, n, sum, cum, values...)
			}
			if err != nil {
				ch <- prometheus.NewInvalidMetric(desc, err)
				continue
			}
			ch <- m
		}
	}
}

// sdkHandler implements client.MetricsHandler over an sdkCollector.
type sdkHandler struct {
	c    *sdkCollector
	tags map[string]string
}

// WithTags implements client.MetricsHandler.
func (h sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[sanitizeLabel(k)] = v
	}
	return sdkHandler{c: h.c, tags: merged}
}

// Counter implements client.MetricsHandler.
func (h sdkHandler) Counter(name string) client.MetricsCounter {
	s := h.c.get(name, sdkCounter, h.tags)
	return counterFunc(func(d int64) {
		if s != nil && d > 0 {
			s.count.Add(d)
		}
	})
}

// Gauge implements client.MetricsHandler.
func (h sdkHandler) Gauge(name string) client.MetricsGauge {
	s := h.c.get(name, sdkGauge, h.tags)
	return gaugeFunc(func(v float64) {
		if s != nil {
			s.bits.Store(math.Float64bits(v))
		}
	})
}

// Timer implements client.MetricsHandler.
func (h sdkHandler) Timer(name string) client.MetricsTimer {
	s := h.c.get(name, sdkTimer, h.tags)
	return timerFunc(func(d time.Duration) {
		if s == nil {
			return
		}
		v := d.Seconds()
		i := sort.SearchFloat64s(timerBuckets, v) // first bound ≥ v; len: only +Inf
		s.mu.Lock()
		if i < len(s.buckets) {
			s.buckets[i]++
		}
		s.n++
		s.sum += v
		s.mu.Unlock()
	})
}

// counterFunc, gaugeFunc and timerFunc implement the SDK's metric interfaces with a function.
type (
	counterFunc func(int64)
	gaugeFunc   func(float64)
	timerFunc   func(time.Duration)
)

// Inc implements client.MetricsCounter.
func (f counterFunc) Inc(d int64) { f(d) }

// Update implements client.MetricsGauge.
func (f gaugeFunc) Update(v float64) { f(v) }

// Record implements client.MetricsTimer.
func (f timerFunc) Record(d time.Duration) { f(d) }

package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/health"
)

// HistoryQuery asks for the aggregated history of one check of one system (reference
// getAggregatedHistory / getDetailedAggregatedHistory, §3.2).
type HistoryQuery struct {
	SystemID        string
	ConfigurationID string
	Start, End      time.Time
	// TargetPoints is the number of buckets wanted (0 = 500; 10–2000).
	TargetPoints int
	// SourceFilter: "" = all sources, "local" = the default probes, else that source id.
	SourceFilter string
	// Detailed adds each bucket's aggregatedResult.
	Detailed bool
}

// History is the aggregated history: buckets and their width.
type History struct {
	Buckets               []health.HistoryPoint `json:"buckets"`
	BucketIntervalSeconds int                   `json:"bucketIntervalSeconds"`
}

// noMerge keeps the detailed variant when no collector merger is configured: raw buckets get no
// collector aggregates, stored tiers keep theirs.
func noMerge(string, map[string]any, map[string]any, health.RunSample) (map[string]any, bool) {
	return nil, false
}

// AggregatedHistory reads the three tiers in [Start, End] — raw runs, hourly and daily buckets
// (by bucket start) — and merges and re-buckets them with health.AggregatedHistory (raw beats
// hourly beats daily).
func (s *Store) AggregatedHistory(ctx context.Context, q HistoryQuery) (History, error) {
	var fe fieldErrors
	cfgID, ok := normUUID(q.ConfigurationID)
	if !ok {
		fe.add("configurationId", "must be a UUID")
	}
	if q.SystemID == "" {
		fe.add("systemId", "is required")
	}
	if q.Start.IsZero() || q.End.IsZero() {
		fe.add("startDate", "startDate and endDate are required")
	} else if q.End.Before(q.Start) {
		fe.add("endDate", "must not be before startDate")
	}
	if q.TargetPoints == 0 {
		q.TargetPoints = health.DefaultTargetPoints
	}
	if q.TargetPoints < health.MinTargetPoints || q.TargetPoints > health.MaxTargetPoints {
		fe.add("targetPoints", fmt.Sprintf("must be between %d and %d", health.MinTargetPoints, health.MaxTargetPoints))
	}
	if err := fe.err(); err != nil {
		return History{}, err
	}
	start, end := q.Start.UTC(), q.End.UTC()
	src := ""
	args := []any{q.SystemID, cfgID, start, end}
	switch q.SourceFilter {
	case "":
	case SourceLocal:
		src = " AND source_id IS NULL"
	default:
		src = " AND source_id = $5"
		args = append(args, q.SourceFilter)
	}
	resultCol := "NULL::jsonb"
	if q.Detailed {
		resultCol = "result->'metadata'->'collectors'"
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT "timestamp", status::text, latency_ms, `+resultCol+` FROM health_check_runs
		WHERE system_id = $1 AND configuration_id = $2::uuid AND "timestamp" >= $3 AND "timestamp" <= $4`+src+`
		ORDER BY "timestamp"`, args...)
	tierSQL := `SELECT bucket_start, run_count, healthy_count, degraded_count, unhealthy_count, latency_sum_ms,
			avg_latency_ms, min_latency_ms, max_latency_ms, p95_latency_ms, ` + map[bool]string{true: "aggregated_result", false: "NULL::jsonb"}[q.Detailed] + `
		FROM health_check_aggregates
		WHERE system_id = $1 AND configuration_id = $2::uuid AND bucket_size = '%s'
		  AND bucket_start >= $3 AND bucket_start <= $4` + src + ` ORDER BY bucket_start`
	b.Queue(fmt.Sprintf(tierSQL, "hourly"), args...)
	b.Queue(fmt.Sprintf(tierSQL, "daily"), args...)

	var raw []health.RawRun
	var hourly, daily []health.HistoryBucket
	err := func() error {
		br := s.pool.SendBatch(ctx, b)
		defer br.Close()
		rows, err := br.Query()
		if err != nil {
			return err
		}
		raw, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (health.RawRun, error) {
			var rr health.RawRun
			var status string
			var collectors []byte
			if err := r.Scan(&rr.Timestamp, &status, &rr.LatencyMs, &collectors); err != nil {
				return rr, err
			}
			rr.Timestamp = utc(rr.Timestamp)
			rr.Status = health.Status(status)
			if len(collectors) > 0 {
				_ = json.Unmarshal(collectors, &rr.Collectors) // malformed collector data is skipped
			}
			return rr, nil
		})
		if err != nil {
			return err
		}
		for _, dst := range []*[]health.HistoryBucket{&hourly, &daily} {
			rows, err := br.Query()
			if err != nil {
				return err
			}
			*dst, err = pgx.CollectRows(rows, scanHistoryBucket)
			if err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		return History{}, wrapErr("aggregated history", err)
	}
	var merge health.CollectorMerger
	if q.Detailed {
		merge = s.merge
		if merge == nil {
			merge = noMerge
		}
	}
	points, secs := health.AggregatedHistory(raw, hourly, daily, start, end, q.TargetPoints, merge)
	if points == nil {
		points = []health.HistoryPoint{}
	}
	return History{Buckets: points, BucketIntervalSeconds: secs}, nil
}

func scanHistoryBucket(r pgx.CollectableRow) (health.HistoryBucket, error) {
	var hb health.HistoryBucket
	var ar []byte
	b := &hb.Bucket
	if err := r.Scan(&hb.Start, &b.RunCount, &b.HealthyCount, &b.DegradedCount, &b.UnhealthyCount, &b.LatencySumMs,
		&b.AvgLatencyMs, &b.MinLatencyMs, &b.MaxLatencyMs, &b.P95LatencyMs, &ar); err != nil {
		return hb, err
	}
	hb.Start = utc(hb.Start)
	if len(ar) > 0 {
		if err := json.Unmarshal(ar, &b.AggregatedResult); err != nil {
			return hb, fmt.Errorf("aggregated_result: %w", err)
		}
	}
	return hb, nil
}

// Package health is checkflow's deterministic domain core: the Checkstack
// 1.5.0 health model as pure functions.
//
// It holds the status model and thresholds (§2.1–2.2), the state evaluator
// (§2.3, including the 1.5.0 fix), per-system aggregation and the health view
// (§2.4, §4.1), the structural view diff and derived trigger events
// (§4.2–4.4), transition classification and notification policy (§7), the
// health-state assembly math (§6), hourly/daily aggregation and on-read
// history re-bucketing (§3.1–3.3, §11), the automation window gate (§8.4),
// secret masking and secretEnv handling (§9) and the collector-script run
// context (§10). Section numbers refer to the Checkstack 1.5.0 reference.
//
// Rules the package keeps so that Temporal workflows can call it:
//   - no I/O, no clock (every time is a parameter), no goroutines, no randomness;
//   - outputs never depend on map iteration order (keys are sorted wherever
//     order is observable);
//   - only the standard library is imported;
//   - inputs are never modified; JSON-like maps are copied before changes.
//
// All times are handled in UTC: hours and days are floored in UTC (the
// reference floors in process-local time; checkflow runs everything in UTC,
// see §17.4).
//
// # Aggregate states
//
// Collector aggregate states are JSON-like maps with a "_type" discriminator
// (counter, average, rate, minmax). Numbers inside them are always float64 so
// a state survives a JSON round trip unchanged; readers accept float64, any
// Go integer type and json.Number.
//
// # t-digest
//
// The hourly p95 comes from a small t-digest written here (see TDigest)
// rather than an external module: it is deterministic (the JavaScript
// library the reference uses shuffles centroids with Math.random during
// compression, and the maintained Go modules pull in dependencies or use
// randomness), mergeable, and serialises to the reference's flat
// [mean1, n1, mean2, n2, …] array. It is a merging digest with the k1
// (arcsine) scale function and compression 100; equal values share a
// centroid and centroids are compressed only once there are more than 500
// of them, so an hourly bucket with up to 500 distinct latencies keeps
// every latency exactly. Quantiles interpolate linearly between centroid
// centres like the reference library, so for typical hourly volumes the
// p95 matches the reference's on the same data; beyond that any mergeable
// t-digest is acceptable (reference §17.6). The digest state of a bucket
// is exchanged with the store as Bucket.TDigest.
package health

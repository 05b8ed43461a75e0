package health

// Multi-location quorum (issue 16): a check with two or more locations is probed from every
// location each interval and stored as one run whose status the quorum decides.
//
// The rules (DecideQuorum):
//
//   - A location fails when its probe answered unhealthy. A location whose probe no worker took
//     in time is unavailable: it does not vote (neither failing nor passing).
//   - The run is unhealthy when at least quorum locations fail; else degraded when at least
//     quorum locations are degraded or failing; else healthy. So the run's status is the
//     quorum-th worst status of the locations, counting unavailable ones as not failing.
//   - When no location answered, the run is unhealthy with a message naming the unavailable
//     locations: the check could not be performed anywhere, which is an outage of the probing
//     (as a single location without workers is today), not evidence about the target. When too
//     few locations answered for the quorum to be reachable, the run is decided by the locations
//     that answered (it cannot fail) and its message says the quorum was not reachable.
//   - The run's latency is the median of the answering locations' latencies (the lower middle
//     value for an even count: an observed latency, never an average); nil when none has one.

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/checkflow/checkflow/internal/safetext"
)

// LocationUnavailable is the status of an unavailable location in a quorum run's result document.
const LocationUnavailable = "unavailable"

// LocationOutcome is one location's part of a quorum run.
type LocationOutcome struct {
	Location string
	// Unavailable is true when no probe worker of the location took the probe in time; Status,
	// LatencyMs and Result are then ignored and Message says why.
	Unavailable bool
	Status      Status
	LatencyMs   *int
	Message     string
	// Result is the location's own result document (nil when none).
	Result json.RawMessage
}

// QuorumRun is the one run a quorum decides.
type QuorumRun struct {
	Status    Status
	LatencyMs *int
	Message   string
	// Result is the run's document: status, latencyMs and message as any run's, the quorum
	// counts, and every location's outcome under locations.<location> (see QuorumDocument).
	Result json.RawMessage
}

// QuorumDocument is the result document of a quorum run.
type QuorumDocument struct {
	Status    Status                      `json:"status"`
	LatencyMs *int                        `json:"latencyMs"`
	Message   string                      `json:"message"`
	Quorum    QuorumCounts                `json:"quorum"`
	Locations map[string]LocationDocument `json:"locations"`
}

// QuorumCounts says how a quorum run was decided.
type QuorumCounts struct {
	// Required is the number of failing locations that fails the run.
	Required    int      `json:"required"`
	Locations   int      `json:"locations"`
	Answered    int      `json:"answered"`
	Failing     int      `json:"failing"`
	Degraded    int      `json:"degraded"`
	Unavailable []string `json:"unavailable"`
}

// LocationDocument is one location's entry in a quorum run's document. Status is a run status
// or LocationUnavailable.
type LocationDocument struct {
	Status    string          `json:"status"`
	LatencyMs *int            `json:"latencyMs,omitempty"`
	Message   string          `json:"message"`
	Result    json.RawMessage `json:"result,omitempty"`
}

// DefaultQuorum is the quorum of a check with the given number of locations when none is set:
// a majority.
func DefaultQuorum(locations int) int { return locations/2 + 1 }

// EffectiveQuorum is the configured quorum when it is valid for the number of locations, else
// the default (a majority).
func EffectiveQuorum(quorum, locations int) int {
	if quorum >= 1 && quorum <= locations {
		return quorum
	}
	return DefaultQuorum(locations)
}

// QuorumProblem says what is wrong with a configured quorum for the number of locations ("":
// nothing). A quorum applies only to checks with at least two locations.
func QuorumProblem(quorum, locations int) string {
	if locations < 2 {
		return "applies only to a check with at least 2 locations"
	}
	if quorum < 1 || quorum > locations {
		return fmt.Sprintf("must be an integer between 1 and %d (the number of locations)", locations)
	}
	return ""
}

// DecideQuorum decides one run from the outcomes of a check's locations, in the check's
// location order (quorum 0 or out of range: the default). It is pure and deterministic.
func DecideQuorum(outcomes []LocationOutcome, quorum int) QuorumRun {
	n := len(outcomes)
	q := EffectiveQuorum(quorum, n)
	counts := QuorumCounts{Required: q, Locations: n, Unavailable: []string{}}
	docs := make(map[string]LocationDocument, n)
	var failing, degraded, unavailable []string
	var latencies []int
	for _, o := range outcomes {
		if o.Unavailable {
			counts.Unavailable = append(counts.Unavailable, o.Location)
			unavailable = append(unavailable, o.Location)
			docs[o.Location] = LocationDocument{Status: LocationUnavailable, Message: o.Message}
			continue
		}
		st := o.Status
		if !st.Valid() {
			st = Unhealthy
		}
		counts.Answered++
		switch st {
		case Unhealthy:
			counts.Failing++
			failing = append(failing, locationMessage(o.Location, o.Message))
		case Degraded:
			counts.Degraded++
			degraded = append(degraded, locationMessage(o.Location, o.Message))
		}
		if o.LatencyMs != nil {
			latencies = append(latencies, *o.LatencyMs)
		}
		docs[o.Location] = LocationDocument{Status: string(st), LatencyMs: o.LatencyMs, Message: o.Message, Result: o.Result}
	}
	run := QuorumRun{Status: Healthy, LatencyMs: medianLatency(latencies)}
	switch {
	case counts.Answered == 0:
		run.Status = Unhealthy
	case counts.Failing >= q:
		run.Status = Unhealthy
	case counts.Failing+counts.Degraded >= q:
		run.Status = Degraded
	}
	run.Message = safetext.Truncate(quorumMessage(counts, failing, degraded, unavailable), safetext.MaxMessageBytes)
	body, err := json.Marshal(QuorumDocument{Status: run.Status, LatencyMs: run.LatencyMs, Message: run.Message, Quorum: counts, Locations: docs})
	if err != nil {
		// Unreachable: every part is encodable (results are valid JSON, made safe by the probe).
		body, _ = json.Marshal(map[string]any{"status": run.Status, "message": run.Message, "error": err.Error()})
	}
	run.Result = safetext.CapJSON(body, safetext.MaxResultBytes)
	return run
}

// quorumMessage summarises a decision: "2 of 3 locations failing (quorum 2): b: …; c: …",
// followed by the degraded and unavailable locations when there are any.
func quorumMessage(c QuorumCounts, failing, degraded, unavailable []string) string {
	if c.Answered == 0 {
		return fmt.Sprintf("no location answered (quorum %d of %d): %s unavailable", c.Required, c.Locations, strings.Join(unavailable, ", "))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d locations failing (quorum %d)", c.Failing, c.Locations, c.Required)
	if len(failing) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(failing, "; "))
	}
	if len(degraded) > 0 {
		b.WriteString("; degraded: ")
		b.WriteString(strings.Join(degraded, "; "))
	}
	if len(unavailable) > 0 {
		fmt.Fprintf(&b, "; unavailable: %s", strings.Join(unavailable, ", "))
		if c.Answered < c.Required {
			fmt.Fprintf(&b, " (quorum not reachable: %d answered)", c.Answered)
		}
	}
	return b.String()
}

func locationMessage(location, message string) string {
	if message == "" {
		return location
	}
	return location + ": " + message
}

// medianLatency is the lower median of the latencies (nil for none).
func medianLatency(latencies []int) *int {
	if len(latencies) == 0 {
		return nil
	}
	s := slices.SortedFunc(slices.Values(latencies), cmp.Compare[int])
	m := s[(len(s)-1)/2]
	return &m
}

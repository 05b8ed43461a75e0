package health

// Run ids: every stored run has a stable id "<systemId>:<key>" made by exactly one of these
// functions, so that the entity, probe sessions, the store and the API agree on it and a run
// persisted twice under its id is stored once.

import (
	"strconv"
	"strings"
)

// ProbeRunID is the id of the run of the entity's own probe number seq in the lifetime epoch:
// "<systemId>:p<epoch>.<seq>", or "<systemId>:p<seq>" for an entity without an epoch (histories
// from before the durable entity).
func ProbeRunID(systemID, epoch string, seq int64) string {
	if epoch != "" {
		return systemID + ":p" + epoch + "." + strconv.FormatInt(seq, 10)
	}
	return systemID + ":p" + strconv.FormatInt(seq, 10)
}

// SessionRunID is the id of the k-th run of probe session session: "<systemId>:s<session>.<k>".
func SessionRunID(systemID, session string, k int) string {
	return systemID + ":s" + session + "." + strconv.Itoa(k)
}

// RunNowRunID is the id of the run made by the run-check update with the given update id (the HTTP
// Idempotency-Key): "<systemId>:run:<updateId>".
func RunNowRunID(systemID, updateID string) string { return systemID + ":run:" + updateID }

// ExternalRunID is the id of a result pushed from outside (signal check-result) with the producer's
// own id: "<systemId>:ext:<producerId>". Scoping by system keeps producers of different systems
// from colliding.
func ExternalRunID(systemID, producerID string) string { return systemID + ":ext:" + producerID }

// SeqRunID is the id the first entity gave the run of its write number seq: "<systemId>:<seq>" (kept
// for stored runs and fixtures of that format).
func SeqRunID(systemID string, seq int64) string { return systemID + ":" + strconv.FormatInt(seq, 10) }

// RunOfSystem reports whether id is a run id of the system (it starts with "<systemId>:").
func RunOfSystem(systemID, id string) bool { return strings.HasPrefix(id, systemID+":") }

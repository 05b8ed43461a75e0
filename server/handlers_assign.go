package server

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
)

// ---- assignments -----------------------------------------------------------------------------

type assignmentList struct {
	Associations []store.Assignment `json:"associations"`
}

// systemExists answers 404 "System not found" for an unknown system.
func (s *Server) systemExists(ctx context.Context, id string) error {
	_, err := s.store.GetSystem(ctx, id)
	return err
}

func (s *Server) listAssignments(c echo.Context) error {
	id, err := pathParam(c, "systemId")
	if err != nil {
		return err
	}
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.systemExists(ctx, id); err != nil {
		return err
	}
	list, err := s.store.ListAssignments(ctx, id)
	if err != nil {
		return err
	}
	if list == nil {
		list = []store.Assignment{}
	}
	return c.JSON(http.StatusOK, assignmentList{Associations: list})
}

type assignBody struct {
	Enabled            opt[bool]                   `json:"enabled"`
	StateThresholds    opt[json.RawMessage]        `json:"stateThresholds"`
	NotificationPolicy opt[notificationPolicyBody] `json:"notificationPolicy"`
	Locations          opt[[]string]               `json:"locations"`
	Quorum             opt[int]                    `json:"quorum"`
}

// assignmentDTO is an assignment plus threshold warnings (levels that can never be reached).
type assignmentDTO struct {
	store.Assignment
	Warnings []FieldError `json:"warnings,omitempty"`
}

// thresholdKeys are the keys the thresholds schema knows (§2.2) at the top level ("") and in
// the nested levels.
func thresholdKeys(level string) ([]string, bool) {
	switch level {
	case "":
		return []string{"mode", "windowSize", "healthy", "degraded", "unhealthy"}, true
	case "healthy":
		return []string{"minSuccessCount"}, true
	case "degraded", "unhealthy":
		return []string{"minFailureCount"}, true
	}
	return nil, false
}

// parseThresholds validates submitted thresholds with the domain parser after rejecting keys
// the schema does not know.
func parseThresholds(raw json.RawMessage) (*health.Thresholds, []FieldError) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil || top == nil {
		return nil, []FieldError{{Field: "stateThresholds", Message: "must be an object"}}
	}
	var fe []FieldError
	known, _ := thresholdKeys("")
	for _, k := range sortedKeys(top) {
		if !slices.Contains(known, k) {
			fe = append(fe, FieldError{Field: "stateThresholds." + k, Message: "unknown field"})
			continue
		}
		if sub, nested := thresholdKeys(k); nested && k != "" {
			var m map[string]json.RawMessage
			if json.Unmarshal(top[k], &m) == nil {
				for _, sk := range sortedKeys(m) {
					if !slices.Contains(sub, sk) {
						fe = append(fe, FieldError{Field: "stateThresholds." + k + "." + sk, Message: "unknown field"})
					}
				}
			}
		}
	}
	if len(fe) > 0 {
		return nil, fe
	}
	th, err := health.ParseThresholds(raw)
	if err != nil {
		if fields, ok := validationFields(err); ok {
			return nil, prefixed("stateThresholds", fields)
		}
		return nil, []FieldError{{Field: "stateThresholds", Message: "must be an object"}}
	}
	return &th, nil
}

// assignmentParams reads the {systemId} and {checkId} path parameters of an assignment route.
func assignmentParams(c echo.Context) (systemID, checkID string, err error) {
	if systemID, err = pathParam(c, "systemId"); err != nil {
		return "", "", err
	}
	checkID, err = pathParam(c, "checkId")
	return systemID, checkID, err
}

// putAssignment associates a configuration with a system (upsert). Unlike the reference 1.5.0
// RPC, the notification policy is forwarded (the reference dropped it; fixed there in 1.11.0).
func (s *Server) putAssignment(c echo.Context) error {
	systemID, checkID, err := assignmentParams(c)
	if err != nil {
		return err
	}
	var b assignBody
	if _, err := decodeJSON(c, &b, true); err != nil {
		return err
	}
	if !isUUID(checkID) {
		return notFoundProblem("Configuration not found")
	}
	var fe []FieldError
	notNull(&fe, "enabled", b.Enabled)
	in := store.AssociateInput{SystemID: systemID, ConfigurationID: checkID}
	if b.Enabled.Set && !b.Enabled.Null {
		in.Enabled = &b.Enabled.Value
	}
	var warnings []FieldError
	if b.StateThresholds.Set {
		if b.StateThresholds.Null {
			in.StateThresholds = store.Some[*health.Thresholds](nil)
		} else if th, errs := parseThresholds(b.StateThresholds.Value); len(errs) > 0 {
			fe = append(fe, errs...)
		} else {
			w, _ := th.Validate()
			warnings = prefixed("stateThresholds", fieldsOf(w))
			in.StateThresholds = store.Some(th)
		}
	}
	if b.NotificationPolicy.Set {
		if b.NotificationPolicy.Null {
			in.NotificationPolicy = store.Some[*health.NotificationPolicy](nil)
		} else if b.NotificationPolicy.Value.SuppressDeEscalations == nil {
			fe = append(fe, FieldError{Field: "notificationPolicy.suppressDeEscalations", Message: "is required"})
		} else {
			in.NotificationPolicy = store.Some(&health.NotificationPolicy{SuppressDeEscalations: *b.NotificationPolicy.Value.SuppressDeEscalations})
		}
	}
	if b.Locations.Set {
		locations := []string{}
		if !b.Locations.Null {
			locations = b.Locations.Value
		}
		in.Locations = &locations
	}
	if b.Quorum.Set {
		// null: back to a majority. The store checks the quorum against the locations the
		// write leaves (these, or the stored ones) and answers 422 on "quorum".
		if b.Quorum.Null {
			in.Quorum = store.Some[*int](nil)
		} else {
			q := b.Quorum.Value
			in.Quorum = store.Some(&q)
		}
	}
	if len(fe) > 0 {
		return invalidFields(fe...)
	}
	ctx := c.Request().Context()
	if err := s.gitOpsLock(ctx, store.ProvenanceKindSystem, systemID); err != nil {
		return err
	}
	a, created, err := s.store.Associate(ctx, in)
	if err != nil {
		return err
	}
	if err := s.notify(ctx, systemID); err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, assignmentDTO{Assignment: a, Warnings: warnings})
}

func fieldsOf(in []health.FieldError) []FieldError { return slices.Clone(in) }

func (s *Server) deleteAssignment(c echo.Context) error {
	systemID, checkID, err := assignmentParams(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.gitOpsLock(ctx, store.ProvenanceKindSystem, systemID); err != nil {
		return err
	}
	if err := s.store.Disassociate(ctx, systemID, checkID); err != nil {
		return err
	}
	if err := s.notify(ctx, systemID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// ---- retention -------------------------------------------------------------------------------

type retentionDTO struct {
	RetentionConfig *store.RetentionConfig `json:"retentionConfig"`
}

func (s *Server) getRetention(c echo.Context) error {
	systemID, checkID, err := assignmentParams(c)
	if err != nil {
		return err
	}
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	rc, err := s.store.GetRetentionConfig(c.Request().Context(), systemID, checkID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, retentionDTO{RetentionConfig: rc})
}

type retentionBody struct {
	RetentionConfig opt[store.RetentionConfigInput] `json:"retentionConfig"`
}

// putRetention sets (or, with null, resets) an assignment's retention; the bounds and the
// ordering messages are the reference's (§1.8).
func (s *Server) putRetention(c echo.Context) error {
	systemID, checkID, err := assignmentParams(c)
	if err != nil {
		return err
	}
	var b retentionBody
	if _, err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	if !b.RetentionConfig.Set {
		return invalidField("retentionConfig", "is required (null resets to the defaults)")
	}
	var in *store.RetentionConfigInput
	if !b.RetentionConfig.Null {
		in = &b.RetentionConfig.Value
		if _, err := in.Resolve(); err != nil {
			if fields, ok := validationFields(err); ok {
				return invalidFields(prefixed("retentionConfig", fields)...)
			}
			return err
		}
	}
	ctx := c.Request().Context()
	if err := s.gitOpsLock(ctx, store.ProvenanceKindSystem, systemID); err != nil {
		return err
	}
	rc, err := s.store.SetRetentionConfig(ctx, systemID, checkID, in)
	if err != nil {
		return err
	}
	// Retention is applied by the platform retention job, not the entity; nothing to signal.
	return c.JSON(http.StatusOK, retentionDTO{RetentionConfig: rc})
}

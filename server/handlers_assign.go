package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"go.temporal.io/sdk/temporal"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/workflows"
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

// ---- run now ---------------------------------------------------------------------------------

type runBody struct {
	// Force runs a paused check too.
	Force *bool `json:"force"`
}

// runResponse is the run-check update's answer.
type runResponse struct {
	Run       workflows.CheckResult `json:"run"`
	View      *health.View          `json:"view"`
	Events    []workflows.Event     `json:"events"`
	Duplicate bool                  `json:"duplicate"`
}

// maxIdempotencyKey bounds the Idempotency-Key header (it becomes part of the run id).
const maxIdempotencyKey = 200

func validIdempotencyKey(k string) bool {
	if k == "" || len(k) > maxIdempotencyKey || !utf8.ValidString(k) {
		return false
	}
	for _, r := range k {
		if r < 0x21 || r == 0x7f {
			return false
		}
	}
	return true
}

// runCheck runs a check now through the system's entity (Update-with-Start); the
// Idempotency-Key header is the update id, so a repeated request returns the same run.
func (s *Server) runCheck(c echo.Context) error {
	systemID, checkID, err := assignmentParams(c)
	if err != nil {
		return err
	}
	key := c.Request().Header.Get("Idempotency-Key")
	if key == "" {
		key = uuid.NewString()
	} else if !validIdempotencyKey(key) {
		return invalidField("Idempotency-Key", fmt.Sprintf("must be 1 to %d visible ASCII characters", maxIdempotencyKey))
	}
	var b runBody
	if _, err := decodeJSON(c, &b, true); err != nil {
		return err
	}
	force := b.Force != nil && *b.Force
	ctx := c.Request().Context()
	a, err := s.store.GetAssignment(ctx, systemID, checkID)
	if errors.Is(err, store.ErrNotFound) {
		return notFoundProblem(fmt.Sprintf("check %s is not assigned to system %s", checkID, systemID))
	}
	if err != nil {
		return err
	}
	if !a.Enabled {
		return conflictProblem(fmt.Sprintf("check %s is disabled for system %s; enable the assignment to run it", checkID, systemID))
	}
	cfg, err := s.store.GetConfiguration(ctx, a.ConfigurationID)
	if err != nil {
		return err
	}
	if cfg.Paused && !force {
		return conflictProblem(fmt.Sprintf("check %s is paused; send {\"force\": true} to run it anyway", checkID))
	}
	if s.entities == nil {
		return newProblem(http.StatusServiceUnavailable, ProblemUnavailable, "no Temporal client is configured")
	}
	c.Response().Header().Set("Idempotency-Key", key)
	resp, err := s.runWithAdmission(ctx, systemID, key, workflows.RunCheckRequest{ConfigurationID: a.ConfigurationID, Force: force})
	if err != nil {
		return err
	}
	if resp.Events == nil {
		resp.Events = []workflows.Event{}
	}
	return c.JSON(http.StatusOK, runResponse{Run: resp.Run, View: resp.View, Events: resp.Events, Duplicate: resp.Duplicate})
}

// runWithAdmission runs the check through the entity. The entity itself applies a pending
// configuration change before it decides that a check is unknown, so a run right after an
// assignment is admitted; its typed rejections become 409s.
func (s *Server) runWithAdmission(ctx context.Context, systemID, key string, req workflows.RunCheckRequest) (workflows.RunCheckResponse, error) {
	resp, err := s.entities.RunCheck(ctx, systemID, key, req)
	if err == nil {
		return resp, nil
	}
	if ctx.Err() != nil {
		return resp, ctx.Err()
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) && (app.Type() == workflows.ErrTypeCheckNotEnabled || app.Type() == workflows.ErrTypeCheckPaused) {
		return resp, conflictProblem(fmt.Sprintf("the health entity of system %s did not accept the run: %s", systemID, app.Message()))
	}
	s.log.Warn("run-now failed", "systemId", systemID, "configurationId", req.ConfigurationID, "err", err)
	return resp, newProblem(http.StatusServiceUnavailable, ProblemUnavailable, "the health entity could not run the check; try again")
}

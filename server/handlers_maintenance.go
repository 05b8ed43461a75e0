package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/checkflow/checkflow/internal/store"
)

// Maintenance window states, relative to the server clock.
const (
	maintenanceScheduled = "scheduled"
	maintenanceActive    = "active"
	maintenanceEnded     = "ended"
)

// Maintenance window limits.
const (
	maxMaintenanceSystems     = 1000
	maxMaintenanceTitle       = 200
	maxMaintenanceDescription = 4000
)

// maintenanceDTO is a maintenance window as the API shows it.
type maintenanceDTO struct {
	ID          string     `json:"id"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	SystemIDs   []string   `json:"systemIds"`
	StartsAt    time.Time  `json:"startsAt"`
	EndsAt      time.Time  `json:"endsAt"`
	State       string     `json:"state"`
	StartedAt   *time.Time `json:"startedAt"`
	EndedAt     *time.Time `json:"endedAt"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
}

// maintenanceState says where now is relative to a window [startsAt, endsAt).
func maintenanceState(startsAt, endsAt, now time.Time) string {
	switch {
	case now.Before(startsAt):
		return maintenanceScheduled
	case now.Before(endsAt):
		return maintenanceActive
	}
	return maintenanceEnded
}

func (s *Server) maintenanceOut(w store.MaintenanceWindow) maintenanceDTO {
	ids := w.SystemIDs
	if ids == nil {
		ids = []string{}
	}
	return maintenanceDTO{
		ID: w.ID, Title: w.Title, Description: w.Description, SystemIDs: ids,
		StartsAt: w.StartsAt, EndsAt: w.EndsAt, State: maintenanceState(w.StartsAt, w.EndsAt, s.now()),
		StartedAt: w.StartedAt, EndedAt: w.EndedAt, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt,
	}
}

type maintenanceList struct {
	Items []maintenanceDTO `json:"items"`
}

// parseInstant parses an RFC 3339 date-time body field.
func parseInstant(field, v string) (time.Time, []FieldError) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, []FieldError{{Field: field, Message: "must be an RFC 3339 date-time such as 2026-05-30T12:00:00Z"}}
	}
	return t.UTC(), nil
}

// validateMaintenance checks a window as it would be stored (create, or the merged result of a
// patch). The existence of the systems is checked by the caller (only for ids it was sent).
func (s *Server) validateMaintenance(in store.MaintenanceInput) []FieldError {
	var fe []FieldError
	switch {
	case strings.TrimSpace(in.Title) == "":
		fe = append(fe, FieldError{Field: "title", Message: "must not be empty"})
	case utf8.RuneCountInString(in.Title) > maxMaintenanceTitle:
		fe = append(fe, FieldError{Field: "title", Message: fmt.Sprintf("must be at most %d characters", maxMaintenanceTitle)})
	}
	if utf8.RuneCountInString(in.Description) > maxMaintenanceDescription {
		fe = append(fe, FieldError{Field: "description", Message: fmt.Sprintf("must be at most %d characters", maxMaintenanceDescription)})
	}
	switch {
	case len(in.SystemIDs) == 0:
		fe = append(fe, FieldError{Field: "systemIds", Message: "must list at least one system id"})
	case len(in.SystemIDs) > maxMaintenanceSystems:
		fe = append(fe, FieldError{Field: "systemIds", Message: fmt.Sprintf("must list at most %d system ids", maxMaintenanceSystems)})
	default:
		seen := map[string]bool{}
		for i, id := range in.SystemIDs {
			field := fmt.Sprintf("systemIds[%d]", i)
			switch {
			case strings.TrimSpace(id) == "":
				fe = append(fe, FieldError{Field: field, Message: "must not be empty"})
			case seen[id]:
				fe = append(fe, FieldError{Field: field, Message: "is listed twice"})
			}
			seen[id] = true
		}
	}
	if !in.StartsAt.IsZero() && !in.EndsAt.IsZero() {
		switch {
		case !in.EndsAt.After(in.StartsAt):
			fe = append(fe, FieldError{Field: "endsAt", Message: "must be after startsAt"})
		case !in.EndsAt.After(s.now()):
			fe = append(fe, FieldError{Field: "endsAt", Message: "must be in the future"})
		}
	}
	return fe
}

func (s *Server) listMaintenances(c echo.Context) error {
	q := newQuery(c)
	page := q.page(store.DefaultListLimit)
	f := store.MaintenanceFilter{
		SystemID: q.str("systemId"),
		State:    q.oneOf("state", maintenanceScheduled, maintenanceActive, maintenanceEnded),
		At:       s.now(),
		Limit:    page.Limit, Offset: page.Offset,
	}
	if err := q.finish(); err != nil {
		return err
	}
	list, err := s.store.ListMaintenances(c.Request().Context(), f)
	if err != nil {
		return err
	}
	out := maintenanceList{Items: make([]maintenanceDTO, len(list))}
	for i, w := range list {
		out.Items[i] = s.maintenanceOut(w)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getMaintenance(c echo.Context) error {
	id, err := pathParam(c, "maintenanceId")
	if err != nil {
		return err
	}
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	w, err := s.store.GetMaintenance(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.maintenanceOut(w))
}

type maintenanceCreateBody struct {
	Title       *string   `json:"title"`
	Description *string   `json:"description"`
	SystemIDs   *[]string `json:"systemIds"`
	StartsAt    *string   `json:"startsAt"`
	EndsAt      *string   `json:"endsAt"`
}

func (s *Server) createMaintenance(c echo.Context) error {
	var b maintenanceCreateBody
	if _, err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	var fe []FieldError
	var in store.MaintenanceInput
	required := func(field string, set bool) {
		if !set {
			fe = append(fe, FieldError{Field: field, Message: "is required"})
		}
	}
	required("title", b.Title != nil)
	required("systemIds", b.SystemIDs != nil)
	required("startsAt", b.StartsAt != nil)
	required("endsAt", b.EndsAt != nil)
	if b.Title != nil {
		in.Title = *b.Title
	}
	if b.Description != nil {
		in.Description = *b.Description
	}
	if b.SystemIDs != nil {
		in.SystemIDs = *b.SystemIDs
	}
	var errs []FieldError
	if b.StartsAt != nil {
		in.StartsAt, errs = parseInstant("startsAt", *b.StartsAt)
		fe = append(fe, errs...)
	}
	if b.EndsAt != nil {
		in.EndsAt, errs = parseInstant("endsAt", *b.EndsAt)
		fe = append(fe, errs...)
	}
	if len(fe) > 0 {
		return invalidFields(fe...)
	}
	fe = s.validateMaintenance(in)
	ctx := c.Request().Context()
	unknown, err := s.unknownSystems(ctx, "systemIds", in.SystemIDs)
	if err != nil {
		return err
	}
	if fe = append(fe, unknown...); len(fe) > 0 {
		return invalidFields(fe...)
	}
	w, err := s.store.CreateMaintenance(ctx, in)
	if err != nil {
		return err
	}
	if err := s.notifyMaintenance(ctx, w.ID, false); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, s.maintenanceOut(w))
}

type maintenancePatchBody struct {
	Title       opt[string]   `json:"title"`
	Description opt[string]   `json:"description"`
	SystemIDs   opt[[]string] `json:"systemIds"`
	StartsAt    opt[string]   `json:"startsAt"`
	EndsAt      opt[string]   `json:"endsAt"`
}

func (s *Server) updateMaintenance(c echo.Context) error {
	id, err := pathParam(c, "maintenanceId")
	if err != nil {
		return err
	}
	var b maintenancePatchBody
	if _, err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	var fe []FieldError
	notNull(&fe, "title", b.Title)
	notNull(&fe, "description", b.Description)
	notNull(&fe, "systemIds", b.SystemIDs)
	notNull(&fe, "startsAt", b.StartsAt)
	notNull(&fe, "endsAt", b.EndsAt)
	if len(fe) > 0 {
		return invalidFields(fe...)
	}
	ctx := c.Request().Context()
	cur, err := s.store.GetMaintenance(ctx, id)
	if err != nil {
		return err
	}
	if err := s.gitOpsLock(ctx, store.ProvenanceKindMaintenanceWindow, cur.ID); err != nil {
		return err
	}
	in := store.MaintenanceInput{Title: cur.Title, Description: cur.Description, SystemIDs: cur.SystemIDs, StartsAt: cur.StartsAt, EndsAt: cur.EndsAt}
	if b.Title.Set {
		in.Title = b.Title.Value
	}
	if b.Description.Set {
		in.Description = b.Description.Value
	}
	if b.SystemIDs.Set {
		in.SystemIDs = b.SystemIDs.Value
	}
	var errs []FieldError
	if b.StartsAt.Set {
		in.StartsAt, errs = parseInstant("startsAt", b.StartsAt.Value)
		fe = append(fe, errs...)
	}
	if b.EndsAt.Set {
		in.EndsAt, errs = parseInstant("endsAt", b.EndsAt.Value)
		fe = append(fe, errs...)
	}
	if len(fe) > 0 {
		return invalidFields(fe...)
	}
	fe = s.validateMaintenance(in)
	if b.SystemIDs.Set {
		// Only the ids sent are looked up: a system deleted since does not block other edits.
		unknown, err := s.unknownSystems(ctx, "systemIds", in.SystemIDs)
		if err != nil {
			return err
		}
		fe = append(fe, unknown...)
	}
	if len(fe) > 0 {
		return invalidFields(fe...)
	}
	w, err := s.store.UpdateMaintenance(ctx, id, in)
	if err != nil {
		return err
	}
	if err := s.notifyMaintenance(ctx, w.ID, false); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.maintenanceOut(w))
}

func (s *Server) deleteMaintenance(c echo.Context) error {
	id, err := pathParam(c, "maintenanceId")
	if err != nil {
		return err
	}
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	cur, err := s.store.GetMaintenance(ctx, id)
	if err != nil {
		return err
	}
	if err := s.gitOpsLock(ctx, store.ProvenanceKindMaintenanceWindow, cur.ID); err != nil {
		return err
	}
	if err := s.store.DeleteMaintenance(ctx, cur.ID); err != nil {
		return err
	}
	if err := s.notifyMaintenance(ctx, cur.ID, true); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// notifyMaintenance signals the workflow of a maintenance window after a committed write, like
// notify does for the systems' entities: within the notify deadline (and notifySignalTimeout),
// even if the client went away; a failure is a 503 entity-unreachable saying the change was
// saved.
func (s *Server) notifyMaintenance(ctx context.Context, windowID string, deleted bool) error {
	saved := "the change was saved"
	retry := "repeat the request to retry"
	if deleted {
		saved = "the maintenance window was deleted"
		retry = "it finds the window gone when it next reloads it"
	}
	if s.entities == nil {
		return unavailable(ProblemEntityUnreachable, saved+", but no Temporal client is configured to notify the maintenance window's workflow", entityRetryAfter)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(s.timeouts.Notify, notifySignalTimeout))
	defer cancel()
	if err := s.entities.MaintenanceChanged(ctx, windowID); err != nil {
		s.log.Error("notify a maintenance window's workflow after a change", "maintenanceId", windowID, "err", err)
		return unavailable(ProblemEntityUnreachable, fmt.Sprintf("%s, but the workflow of maintenance window %s could not be notified; %s", saved, windowID, retry), entityRetryAfter)
	}
	return nil
}

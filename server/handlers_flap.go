package server

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
)

// flapDTO is a system's flap detection thresholds; null means the defaults (start 50 %, stop
// 25 %).
type flapDTO struct {
	FlapDetection *health.FlapThresholds `json:"flapDetection"`
}

type flapBody struct {
	FlapDetection opt[health.FlapThresholds] `json:"flapDetection"`
}

func (s *Server) getFlapDetection(c echo.Context) error {
	id, err := pathParam(c, "systemId")
	if err != nil {
		return err
	}
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	th, err := s.store.FlapThresholdsOf(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, flapDTO{FlapDetection: th})
}

// putFlapDetection sets (or, with null, resets) a system's flap detection thresholds and tells
// its entity, which reads them when it reloads.
func (s *Server) putFlapDetection(c echo.Context) error {
	id, err := pathParam(c, "systemId")
	if err != nil {
		return err
	}
	var b flapBody
	if _, err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	if !b.FlapDetection.Set {
		return invalidField("flapDetection", "is required (null resets to the defaults)")
	}
	var th *health.FlapThresholds
	if !b.FlapDetection.Null {
		v := b.FlapDetection.Value
		if v.StartPercent == 0 || v.StopPercent == 0 {
			return invalidField("flapDetection", "startPercent and stopPercent are both required (0 < stopPercent < startPercent ≤ 100)")
		}
		if err := v.Validate(); err != nil {
			return invalidField("flapDetection", err.Error())
		}
		th = &v
	}
	ctx := c.Request().Context()
	if err := s.gitOpsLock(ctx, store.ProvenanceKindSystem, id); err != nil {
		return err
	}
	if err := s.store.SetFlapThresholds(ctx, id, th); err != nil {
		return err
	}
	if err := s.notify(ctx, id); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, flapDTO{FlapDetection: th})
}

package server

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
)

// FieldError names one invalid input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Errors []FieldError `json:"errors,omitempty"`
}

// Error makes a Problem usable as a handler error.
func (p *Problem) Error() string { return p.Title + ": " + p.Detail }

const problemContentType = "application/problem+json"

// problemHandler turns every error into problem+json. Unknown errors become a 500 whose body
// says nothing about the cause (it is logged instead).
func problemHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		var p *Problem
		var he *echo.HTTPError
		switch {
		case errors.As(err, &p):
		case errors.As(err, &he):
			p = &Problem{Type: "about:blank", Title: http.StatusText(he.Code), Status: he.Code}
			if m, ok := he.Message.(string); ok && m != http.StatusText(he.Code) {
				p.Detail = m
			}
		default:
			log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "err", err)
			p = &Problem{Type: "about:blank", Title: http.StatusText(http.StatusInternalServerError), Status: http.StatusInternalServerError}
		}
		body, _ := json.Marshal(p)
		if c.Request().Method == http.MethodHead {
			body = nil
		}
		_ = c.Blob(p.Status, problemContentType, body)
	}
}

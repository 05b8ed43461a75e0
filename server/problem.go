package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"

	"github.com/checkflow/checkflow/internal/automation"
	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
)

// FieldError names one invalid input field.
type FieldError = health.FieldError

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Errors []FieldError `json:"errors,omitempty"`
	// retryAfter, when positive, is sent as the Retry-After header (whole seconds).
	retryAfter time.Duration
}

// Error makes a Problem usable as a handler error.
func (p *Problem) Error() string { return p.Title + ": " + p.Detail }

const problemContentType = "application/problem+json"

// Problem types (RFC 9457 "type" members). They are URNs: stable identifiers, not documents.
const (
	ProblemMalformed         = "urn:checkflow:problem:malformed-request"   // 400
	ProblemUnauthorized      = "urn:checkflow:problem:unauthorized"        // 401
	ProblemForbidden         = "urn:checkflow:problem:insufficient-scope"  // 403
	ProblemGitOps            = "urn:checkflow:problem:managed-by-gitops"   // 403
	ProblemNotFound          = "urn:checkflow:problem:not-found"           // 404
	ProblemConflict          = "urn:checkflow:problem:conflict"            // 409
	ProblemTooLarge          = "urn:checkflow:problem:body-too-large"      // 413
	ProblemMediaType         = "urn:checkflow:problem:unsupported-media"   // 415
	ProblemValidation        = "urn:checkflow:problem:validation"          // 422
	ProblemInternal          = "urn:checkflow:problem:internal"            // 500
	ProblemEntityUnreachable = "urn:checkflow:problem:entity-unreachable"  // 503
	ProblemUnavailable       = "urn:checkflow:problem:service-unavailable" // 503
	// ProblemDatabaseUnavailable: PostgreSQL cannot be reached (refused, reset, shutting down,
	// out of connections or not answering in time); nothing was done, repeat the request.
	ProblemDatabaseUnavailable = "urn:checkflow:problem:database-unavailable" // 503
)

// Retry-After values of the 503 problems: how long a client should wait before repeating.
const (
	// databaseRetryAfter follows a database outage (PostgreSQL restarts take seconds).
	databaseRetryAfter = 5 * time.Second
	// entityRetryAfter follows an unreachable Temporal or health entity.
	entityRetryAfter = 5 * time.Second
)

// unavailable is a 503 problem with a Retry-After header.
func unavailable(typ, detail string, retryAfter time.Duration) *Problem {
	p := newProblem(http.StatusServiceUnavailable, typ, detail)
	p.retryAfter = retryAfter
	return p
}

// databaseUnavailable reports whether err means that PostgreSQL could not be reached or used
// at all — as opposed to a query it answered with an error. It is the one place that
// classifies connection failures:
//
//   - connecting failed (*pgconn.ConnectError: refused, unknown host, authentication, …);
//   - the network failed (a net.Error, ECONNREFUSED, ECONNRESET, EPIPE, an unexpected EOF of
//     a connection the server closed);
//   - the request's database deadline passed (acquiring a pooled connection or waiting for
//     an answer: context.DeadlineExceeded, pgconn timeouts);
//   - PostgreSQL refused the work for its own state: SQLSTATE class 08 (connection
//     exception), class 53 (insufficient resources: too many connections, out of memory or
//     disk), 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now (starting
//     up or shutting down).
//
// A cancelled request (the client went away) is not an outage.
func databaseUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "53") ||
			pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF)
}

func newProblem(status int, typ, detail string) *Problem {
	return &Problem{Type: typ, Title: http.StatusText(status), Status: status, Detail: detail}
}

func malformed(detail string) *Problem {
	return newProblem(http.StatusBadRequest, ProblemMalformed, detail)
}

func notFoundProblem(detail string) *Problem {
	return newProblem(http.StatusNotFound, ProblemNotFound, detail)
}

func conflictProblem(detail string) *Problem {
	return newProblem(http.StatusConflict, ProblemConflict, detail)
}

// invalidFields is a 422 listing field errors; the detail repeats a single message so that
// clients showing only the detail still see it (e.g. the retention messages of §1.8).
func invalidFields(errs ...FieldError) *Problem {
	p := newProblem(http.StatusUnprocessableEntity, ProblemValidation, "the request is not valid")
	p.Errors = errs
	if len(errs) == 1 {
		if errs[0].Field != "" {
			p.Detail = errs[0].Field + ": " + errs[0].Message
		} else {
			p.Detail = errs[0].Message
		}
	}
	return p
}

func invalidField(field, message string) *Problem {
	return invalidFields(FieldError{Field: field, Message: message})
}

// prefixed prepends prefix to every field name ("retentionConfig" + "rawRetentionDays").
func prefixed(prefix string, errs []FieldError) []FieldError {
	out := make([]FieldError, len(errs))
	for i, e := range errs {
		out[i] = e
		switch {
		case prefix == "":
		case e.Field == "":
			out[i].Field = prefix
		default:
			out[i].Field = prefix + "." + e.Field
		}
	}
	return out
}

// validationFields extracts field errors from the domain validators' errors (store, checks,
// health, automation); ok is false for any other error.
func validationFields(err error) ([]FieldError, bool) {
	var sv *store.ValidationError
	if errors.As(err, &sv) {
		return slices.Clone(sv.Errors), true
	}
	var cv *checks.ValidationError
	if errors.As(err, &cv) {
		return slices.Clone(cv.Errors), true
	}
	var hv *health.ValidationError
	if errors.As(err, &hv) {
		return slices.Clone(hv.Errors), true
	}
	var av *automation.ValidationError
	if errors.As(err, &av) {
		return av.FieldErrors(), true
	}
	return nil, false
}

// toProblem maps an error to the problem the client sees. Store and validator errors carry
// their own user-facing messages; anything else is a 500 without detail.
func toProblem(err error) (*Problem, bool) {
	var p *Problem
	if errors.As(err, &p) {
		return p, true
	}
	if fields, ok := validationFields(err); ok {
		return invalidFields(fields...), true
	}
	var nf *store.NotFoundError
	if errors.As(err, &nf) {
		return notFoundProblem(nf.Error()), true
	}
	var ce *store.ConflictError
	if errors.As(err, &ce) {
		return conflictProblem(ce.Error()), true
	}
	if databaseUnavailable(err) {
		return unavailable(ProblemDatabaseUnavailable,
			"the database is unavailable or did not answer in time; repeat the request shortly",
			databaseRetryAfter), true
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		typ := "about:blank"
		switch he.Code {
		case http.StatusNotFound:
			typ = ProblemNotFound
		case http.StatusRequestEntityTooLarge:
			typ = ProblemTooLarge
		case http.StatusUnsupportedMediaType:
			typ = ProblemMediaType
		}
		p := newProblem(he.Code, typ, "")
		if m, ok := he.Message.(string); ok && m != http.StatusText(he.Code) {
			p.Detail = m
		}
		return p, true
	}
	return nil, false
}

// problemHandler turns every error into problem+json. Unknown errors become a 500 whose body
// says nothing about the cause (it is logged instead; request bodies and tokens never are).
func problemHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		p, ok := toProblem(err)
		if ok && p.Type == ProblemDatabaseUnavailable {
			log.Warn("database unavailable", "method", c.Request().Method, "route", c.Path(), "err", err)
		}
		if !ok {
			if errors.Is(err, context.Canceled) {
				log.Debug("request cancelled", "method", c.Request().Method, "route", c.Path())
			} else {
				log.Error("request failed", "method", c.Request().Method, "route", c.Path(), "err", err)
			}
			p = newProblem(http.StatusInternalServerError, ProblemInternal, "")
		}
		if p.Status == http.StatusServiceUnavailable {
			retryAfter := p.retryAfter
			if retryAfter <= 0 {
				retryAfter = entityRetryAfter
			}
			c.Response().Header().Set("Retry-After", strconv.Itoa(int((retryAfter+time.Second-1)/time.Second)))
		}
		body, _ := json.Marshal(p)
		if c.Request().Method == http.MethodHead {
			body = nil
		}
		_ = c.Blob(p.Status, problemContentType, body)
	}
}

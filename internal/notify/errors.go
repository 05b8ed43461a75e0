package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfter caps the wait a receiver may ask for.
const maxRetryAfter = 10 * time.Minute

// Retryable reports whether a failed Send may succeed later: a *SendError says so; any other
// error (context cancelled aside) counts as retryable. A nil error is not retryable.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var se *SendError
	if errors.As(err, &se) {
		return se.Retryable
	}
	return !errors.Is(err, context.Canceled)
}

// RetryAfter returns the wait a receiver asked for, 0 if none.
func RetryAfter(err error) time.Duration {
	var se *SendError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}

// retryableStatus reports whether an HTTP status may succeed on a later attempt.
func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooEarly ||
		code == http.StatusTooManyRequests || code >= 500
}

// parseRetryAfter reads a Retry-After header (delay seconds or an HTTP date), capped at
// maxRetryAfter; 0 when absent, invalid or in the past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// contextError is the SendError of a send ended by the caller's context: cancellation is final,
// a deadline may succeed with more time.
func contextError(prefix string, ctxErr error) *SendError {
	what := "cancelled"
	if errors.Is(ctxErr, context.DeadlineExceeded) {
		what = "timed out (context deadline exceeded)"
	}
	return &SendError{
		Retryable: !errors.Is(ctxErr, context.Canceled),
		Message:   prefix + ": " + what,
		cause:     ctxErr,
	}
}

// isCertificateError reports a TLS certificate verification failure: a configuration problem
// that retrying does not fix.
func isCertificateError(err error) bool {
	var cve *tls.CertificateVerificationError
	var uae x509.UnknownAuthorityError
	var he x509.HostnameError
	var cie x509.CertificateInvalidError
	return errors.As(err, &cve) || errors.As(err, &uae) || errors.As(err, &he) || errors.As(err, &cie)
}

// sendErrorf builds a SendError whose message is redacted by r.
func sendErrorf(r *redactor, retryable bool, code int, format string, args ...any) *SendError {
	return &SendError{Retryable: retryable, StatusCode: code, Message: r.redact(fmt.Sprintf(format, args...))}
}

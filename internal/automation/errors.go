package automation

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/checkflow/checkflow/internal/health"
)

// FieldError is one invalid field of an automation. Field is the JSON path of the field in the
// API body ("name", "trigger.filter", "trigger.window.count", "actions[1].config.url"); Detail
// says what is wrong. Errors of a CEL expression (trigger.filter, trigger.window.partitionBy)
// also carry the 1-based Line and Column of the problem in the expression; both are 0 for
// other errors.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
}

// Message is Detail prefixed with the position when there is one: "1:17: undefined field
// 'foo'". It is what a problem+json errors[].message carries.
func (e FieldError) Message() string {
	if e.Line > 0 {
		return fmt.Sprintf("%d:%d: %s", e.Line, e.Column, e.Detail)
	}
	return e.Detail
}

// String renders "field: message".
func (e FieldError) String() string {
	if e.Field == "" {
		return e.Message()
	}
	return e.Field + ": " + e.Message()
}

// ValidationError lists every invalid field of an automation (sorted by field, then position).
// Every validation function of this package returns it as *ValidationError; the HTTP layer
// turns it into a 422 problem+json (FieldErrors gives the project's {field, message} shape).
type ValidationError struct {
	Errors []FieldError `json:"errors"`
}

// Error joins the field errors: "automation: invalid: trigger.filter: 1:5: …; name: …".
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.String()
	}
	return "automation: invalid: " + strings.Join(parts, "; ")
}

// FieldErrors converts the errors to the {field, message} form the API's problem+json and the
// store use (health.FieldError); the message keeps the position ("1:5: …").
func (e *ValidationError) FieldErrors() []health.FieldError {
	out := make([]health.FieldError, len(e.Errors))
	for i, fe := range e.Errors {
		out[i] = health.FieldError{Field: fe.Field, Message: fe.Message()}
	}
	return out
}

// fieldErrs collects field errors while validating.
type fieldErrs []FieldError

func (f *fieldErrs) add(field, format string, args ...any) {
	*f = append(*f, FieldError{Field: field, Detail: fmt.Sprintf(format, args...)})
}

// addHealth appends the errors of a *health.ValidationError under prefix; any other error
// becomes one error on prefix.
func (f *fieldErrs) addHealth(prefix string, err error) {
	var hv *health.ValidationError
	if errors.As(err, &hv) {
		for _, fe := range hv.Errors {
			name := prefix
			if fe.Field != "" {
				name = prefix + "." + fe.Field
			}
			*f = append(*f, FieldError{Field: name, Detail: fe.Message})
		}
		return
	}
	f.add(prefix, "%s", err.Error())
}

// err returns nil or a sorted *ValidationError.
func (f fieldErrs) err() error {
	if len(f) == 0 {
		return nil
	}
	out := append([]FieldError(nil), f...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Field != out[j].Field {
			return out[i].Field < out[j].Field
		}
		if out[i].Line != out[j].Line {
			return out[i].Line < out[j].Line
		}
		return out[i].Column < out[j].Column
	})
	return &ValidationError{Errors: out}
}

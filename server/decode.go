package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// Request limits.
const (
	// maxBodyBytes is the largest request body accepted (413 beyond).
	maxBodyBytes = 1 << 20
	// maxJSONDepth bounds the nesting of request JSON (PostgreSQL's jsonb parser and the
	// validators recurse).
	maxJSONDepth = 32
)

// readBody reads the request body (at most maxBodyBytes) after checking its media type. An
// absent Content-Type is taken as JSON.
func readBody(c echo.Context) ([]byte, error) {
	if ct := c.Request().Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, newProblem(http.StatusUnsupportedMediaType, ProblemMediaType, "request bodies must be application/json")
		}
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxBodyBytes+1))
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return nil, he
		}
		return nil, malformed("the request body could not be read")
	}
	if len(body) > maxBodyBytes {
		return nil, newProblem(http.StatusRequestEntityTooLarge, ProblemTooLarge, fmt.Sprintf("request bodies are limited to %d bytes", maxBodyBytes))
	}
	return body, nil
}

// decodeJSON reads the request body into dst strictly: valid UTF-8, one JSON value, no field
// dst does not know (422 naming it), no NUL characters and at most maxJSONDepth levels. An
// empty body is accepted only when optional is true (dst is then left as is); it reports
// whether a body was present.
func decodeJSON(c echo.Context, dst any, optional bool) (bool, error) {
	body, err := readBody(c)
	if err != nil {
		return false, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return false, nil
		}
		return false, malformed("a JSON request body is required")
	}
	return true, unmarshalStrict(body, dst)
}

// readJSONDocument reads a required request body for a domain parser that decodes it itself
// (automation.Compiler.Parse): the media type, size, UTF-8, single value, depth and NUL rules of
// decodeJSON apply (400, 413, 415, 422), the decoding is the caller's.
func readJSONDocument(c echo.Context) ([]byte, error) {
	body, err := readBody(c)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, malformed("a JSON request body is required")
	}
	if !utf8.Valid(body) {
		return nil, malformed("the request body is not valid UTF-8")
	}
	if err := checkJSONShape(body); err != nil {
		return nil, err
	}
	return body, nil
}

// unmarshalStrict decodes one JSON document into dst with the rules of decodeJSON.
func unmarshalStrict(body []byte, dst any) error {
	if !utf8.Valid(body) {
		return malformed("the request body is not valid UTF-8")
	}
	if err := checkJSONShape(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeProblem(err)
	}
	return nil
}

// strictInto decodes a nested value (custom UnmarshalJSON) with unknown fields rejected.
func strictInto(data []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(dst)
}

// checkJSONShape parses body generically: it must be exactly one JSON value, nested at most
// maxJSONDepth levels, with no NUL character in any string or key (PostgreSQL text and jsonb
// cannot hold one).
func checkJSONShape(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return malformed(fmt.Sprintf("the request body is not valid JSON (at byte %d)", se.Offset))
		}
		return malformed("the request body is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return malformed("the request body must be a single JSON value")
	}
	return walkJSON(v, "", 0)
}

func walkJSON(v any, path string, depth int) error {
	switch x := v.(type) {
	case string:
		if strings.ContainsRune(x, 0) {
			return invalidField(path, "must not contain the NUL character (\\u0000)")
		}
	case []any:
		if depth >= maxJSONDepth {
			return malformed(fmt.Sprintf("the request body is nested deeper than %d levels", maxJSONDepth))
		}
		for i, e := range x {
			if err := walkJSON(e, fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		if depth >= maxJSONDepth {
			return malformed(fmt.Sprintf("the request body is nested deeper than %d levels", maxJSONDepth))
		}
		for k, e := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if strings.ContainsRune(k, 0) {
				return invalidField(path, "keys must not contain the NUL character (\\u0000)")
			}
			if err := walkJSON(e, p, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// decodeProblem maps encoding/json errors to problems naming the field.
func decodeProblem(err error) error {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		return invalidField(field, "must be "+jsonTypeName(te.Type.Kind().String(), te.Type.String()))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return malformed(fmt.Sprintf("the request body is not valid JSON (at byte %d)", se.Offset))
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return invalidField(name, "unknown field")
	}
	if fields, ok := validationFields(err); ok {
		return invalidFields(fields...)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return malformed("the request body is not valid JSON (truncated)")
	}
	return malformed("the request body does not have the expected shape")
}

func jsonTypeName(kind, typ string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	if strings.Contains(typ, "RawMessage") {
		return "a JSON value"
	}
	return "of another type"
}

// opt is a JSON field of a partial update: Set when the key was present, Null when its value
// was null, Value otherwise.
type opt[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// UnmarshalJSON records presence and decodes the value strictly.
func (o *opt[T]) UnmarshalJSON(data []byte) error {
	o.Set = true
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		o.Null = true
		return nil
	}
	return strictInto(data, &o.Value)
}

// notNull reports a present null as a field error.
func notNull[T any](fe *[]FieldError, field string, o opt[T]) {
	if o.Set && o.Null {
		*fe = append(*fe, FieldError{Field: field, Message: "must not be null"})
	}
}

// query reads query parameters, collecting field errors; finish rejects parameters the
// endpoint does not know.
type query struct {
	values url.Values
	known  map[string]bool
	errs   []FieldError
}

func newQuery(c echo.Context) *query {
	return &query{values: c.QueryParams(), known: map[string]bool{}}
}

func (q *query) fail(name, msg string) {
	q.errs = append(q.errs, FieldError{Field: name, Message: msg})
}

func (q *query) raw(name string) (string, bool) {
	q.known[name] = true
	vs, ok := q.values[name]
	if !ok || len(vs) == 0 {
		return "", false
	}
	if len(vs) > 1 {
		q.fail(name, "must be given once")
	}
	if strings.ContainsRune(vs[0], 0) || !utf8.ValidString(vs[0]) {
		q.fail(name, "must be valid UTF-8 without NUL characters")
		return "", false
	}
	return vs[0], true
}

func (q *query) str(name string) string {
	v, _ := q.raw(name)
	return v
}

// strs reads a repeatable parameter; every value may also be a comma-separated list.
func (q *query) strs(name string) []string {
	q.known[name] = true
	var out []string
	for _, v := range q.values[name] {
		if strings.ContainsRune(v, 0) || !utf8.ValidString(v) {
			q.fail(name, "must be valid UTF-8 without NUL characters")
			return nil
		}
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

func (q *query) integer(name string, def, lo, hi int) int {
	v, ok := q.raw(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		q.fail(name, fmt.Sprintf("must be an integer between %d and %d", lo, hi))
		return def
	}
	return n
}

func (q *query) int64(name string) int64 {
	v, ok := q.raw(name)
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		q.fail(name, "must be a non-negative integer")
		return 0
	}
	return n
}

func (q *query) boolean(name string) bool {
	v, ok := q.raw(name)
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		q.fail(name, "must be true or false")
	}
	return b
}

func (q *query) time(name string) *time.Time {
	v, ok := q.raw(name)
	if !ok {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		q.fail(name, "must be an RFC 3339 date-time such as 2026-05-30T12:00:00Z")
		return nil
	}
	t = t.UTC()
	return &t
}

func (q *query) oneOf(name string, allowed ...string) string {
	v, ok := q.raw(name)
	if !ok {
		return ""
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	q.fail(name, "must be one of "+strings.Join(allowed, ", "))
	return ""
}

// finish returns a 422 listing invalid and unknown parameters, or nil.
func (q *query) finish() error {
	for name := range q.values {
		if !q.known[name] {
			q.fail(name, "unknown query parameter")
		}
	}
	if len(q.errs) == 0 {
		return nil
	}
	return invalidFields(q.errs...)
}

// pathParam returns a path parameter, unescaped (echo keeps escapes when the URL has them).
func pathParam(c echo.Context, name string) (string, error) {
	v := c.Param(name)
	u, err := url.PathUnescape(v)
	if err != nil || !utf8.ValidString(u) || strings.ContainsRune(u, 0) {
		return "", malformed("path parameter " + name + " is not valid")
	}
	return u, nil
}

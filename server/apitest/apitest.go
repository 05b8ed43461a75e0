// Package apitest is a test client for checkflow's HTTP API that checks every response against
// the API's own OpenAPI document (GET /api/v1/openapi.json), loaded and validated with
// kin-openapi. Only tests import it.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Spec is a loaded and validated OpenAPI document with its router.
type Spec struct {
	Doc    *openapi3.T
	Router routers.Router
}

// LoadSpec parses and validates an OpenAPI document.
func LoadSpec(ctx context.Context, raw []byte) (*Spec, error) {
	loader := openapi3.NewLoader()
	loader.Context = ctx
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("load OpenAPI document: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("invalid OpenAPI document: %w", err)
	}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("OpenAPI router: %w", err)
	}
	return &Spec{Doc: doc, Router: r}, nil
}

// ValidateResponse checks one response (status, content type, body) against the operation
// that the request matches. Every status must be documented.
func (s *Spec) ValidateResponse(ctx context.Context, req *http.Request, status int, header http.Header, body []byte) error {
	route, params, err := s.Router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%s %s: no operation in the OpenAPI document: %w", req.Method, req.URL.Path, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: status,
		Header: header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
		},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, in); err != nil {
		return fmt.Errorf("%s %s → %d does not match the OpenAPI document: %w\nbody: %s", req.Method, req.URL.Path, status, err, truncate(body))
	}
	return nil
}

func truncate(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}

// Client sends requests to the API and validates each response against the document.
type Client struct {
	t       testing.TB
	baseURL string
	http    *http.Client
	spec    *Spec
	token   string

	mu        *sync.Mutex
	validated *int
}

// New fetches and loads the server's OpenAPI document; it fails the test when the document
// does not load or validate.
func New(t testing.TB, baseURL string, hc *http.Client) *Client {
	t.Helper()
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Get(strings.TrimSuffix(baseURL, "/") + "/api/v1/openapi.json")
	if err != nil {
		t.Fatalf("fetch openapi.json: %v", err)
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json = %d %s", resp.StatusCode, raw)
	}
	spec, err := LoadSpec(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	c := &Client{t: t, baseURL: strings.TrimSuffix(baseURL, "/"), http: hc, spec: spec, mu: &sync.Mutex{}, validated: &n}
	// The document validates itself as a response too.
	req, _ := http.NewRequest(http.MethodGet, c.baseURL+"/api/v1/openapi.json", nil)
	if err := spec.ValidateResponse(context.Background(), req, resp.StatusCode, resp.Header, raw); err != nil {
		t.Fatal(err)
	}
	c.count()
	return c
}

// Spec returns the loaded document.
func (c *Client) Spec() *Spec { return c.spec }

// WithToken returns a client sending "Authorization: Bearer token" ("" sends none).
func (c *Client) WithToken(token string) *Client {
	cp := *c
	cp.token = token
	return &cp
}

// Validated is the number of responses validated so far (by this client and its copies).
func (c *Client) Validated() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return *c.validated
}

func (c *Client) count() {
	c.mu.Lock()
	*c.validated++
	c.mu.Unlock()
}

// Response is an API answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode unmarshals the body into v, failing the test on error.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Problem is the decoded problem+json body.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// Problem decodes a problem+json body.
func (r *Response) Problem(t testing.TB) Problem {
	t.Helper()
	var p Problem
	r.Decode(t, &p)
	return p
}

// Do sends a request; body is marshalled as JSON unless it is a []byte or string (sent as
// is) or nil. headers are name, value pairs. The response is validated against the document
// (a mismatch fails the test).
func (c *Client) Do(method, path string, body any, headers ...string) *Response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatalf("marshal body: %v", err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.baseURL+path, rd)
	if err != nil {
		c.t.Fatalf("request %s %s: %v", method, path, err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	raw, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	vreq, _ := http.NewRequest(method, c.baseURL+path, nil)
	if err := c.spec.ValidateResponse(context.Background(), vreq, resp.StatusCode, resp.Header, raw); err != nil {
		c.t.Errorf("%v", err)
	} else {
		c.count()
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

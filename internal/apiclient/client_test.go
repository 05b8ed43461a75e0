package apiclient

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// PutAssignment sends every field, the quorum as null when none is set (a majority): an
// assignment PUT from a manifest without a quorum resets a stored one.
func TestPutAssignmentQuorum(t *testing.T) {
	two := 2
	tests := []struct {
		name string
		in   AssignmentInput
		want string // the quorum as sent
	}{
		{name: "majority is null", in: AssignmentInput{Enabled: true, Locations: []string{"eu", "us"}}, want: "null"},
		{name: "no locations", in: AssignmentInput{Enabled: true}, want: "null"},
		{name: "set", in: AssignmentInput{Enabled: true, Locations: []string{"eu", "us", "ap"}, Quorum: &two}, want: "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body map[string]json.RawMessage
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPut || r.URL.Path != "/api/v1/systems/sys/checks/chk" {
					t.Errorf("request %s %s", r.Method, r.URL.Path)
				}
				data, _ := io.ReadAll(r.Body)
				if err := json.Unmarshal(data, &body); err != nil {
					t.Errorf("body %s: %v", data, err)
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{}`)
			}))
			defer srv.Close()
			c := &Client{BaseURL: srv.URL}
			if err := c.PutAssignment(context.Background(), "sys", "chk", tt.in); err != nil {
				t.Fatal(err)
			}
			q, ok := body["quorum"]
			if !ok || string(q) != tt.want {
				t.Errorf("quorum sent = %s (present %v), want %s", q, ok, tt.want)
			}
		})
	}
}

// ListAssignments reads the quorum when the server has one, nil when it answers none.
func TestListAssignmentsQuorum(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"associations": [
			{"configurationId": "a", "enabled": true, "locations": ["eu", "us", "ap"], "quorum": 3},
			{"configurationId": "b", "enabled": true, "locations": ["eu", "us"]},
			{"configurationId": "c", "enabled": true, "locations": ["eu", "us"], "quorum": null}]}`)
	}))
	defer srv.Close()
	as, err := (&Client{BaseURL: srv.URL}).ListAssignments(context.Background(), "sys")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id   string
		want int // 0: none
	}{{"a", 3}, {"b", 0}, {"c", 0}}
	if len(as) != len(tests) {
		t.Fatalf("assignments = %+v", as)
	}
	for i, tt := range tests {
		got := as[i]
		if got.ConfigurationID != tt.id || (got.Quorum == nil) != (tt.want == 0) || (got.Quorum != nil && *got.Quorum != tt.want) {
			t.Errorf("assignment %s: quorum = %v, want %d", got.ConfigurationID, got.Quorum, tt.want)
		}
	}
}

package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// PUT /api/v1/systems/{systemId}/checks/{checkId} sets the assignment's quorum (issue 16); an
// invalid quorum is a 422 problem naming the field, and changes nothing.
func TestAssignmentQuorum(t *testing.T) {
	e := newEnv(t)
	e.mustSystem("s")
	id := e.mustCheck("multi")
	path := "/api/v1/systems/s/checks/" + id
	spec := loadSpec(t, e)
	steps := []struct {
		name       string
		body       string
		status     int
		wantQuorum string // `"quorum":N` expected in the answer; "" = no quorum field
		wantDetail string // 422: the problem's detail
	}{
		{"quorum on a new assignment without locations", `{"quorum":1}`, 422, "", "quorum: applies only to a check with at least 2 locations"},
		{"locations and quorum", `{"locations":["a","b","c"],"quorum":2}`, 201, `"quorum":2`, ""},
		{"quorum zero", `{"quorum":0}`, 422, "", "quorum: must be an integer between 1 and 3 (the number of locations)"},
		{"quorum above the locations", `{"quorum":4}`, 422, "", "quorum: must be an integer between 1 and 3 (the number of locations)"},
		{"quorum not an integer", `{"quorum":"two"}`, 422, "", ""},
		{"one location under a quorum", `{"locations":["a"]}`, 422, "", "quorum: applies only to a check with at least 2 locations"},
		{"other fields keep it", `{"enabled":true}`, 200, `"quorum":2`, ""},
		{"all of three", `{"quorum":3}`, 200, `"quorum":3`, ""},
		{"null: back to a majority", `{"quorum":null}`, 200, "", ""},
		{"then one location is fine", `{"locations":["a"]}`, 200, "", ""},
	}
	for _, st := range steps {
		before := e.configSnapshot(t)
		signals := len(e.entities.changed)
		res := e.do("PUT", path, tokManage, st.body)
		if res.status != st.status {
			t.Fatalf("%s: %s, want %d", st.name, res, st.status)
		}
		vreq, _ := http.NewRequest("PUT", "http://x"+path, nil)
		if err := spec.ValidateResponse(context.Background(), vreq, res.status, res.header, res.body); err != nil {
			t.Fatalf("%s: answer does not match the OpenAPI document: %v", st.name, err)
		}
		if st.status == 422 {
			p := res.problem(t)
			if len(p.Errors) != 1 || p.Errors[0].Field != "quorum" || (st.wantDetail != "" && p.Detail != st.wantDetail) {
				t.Fatalf("%s: problem %+v, want one error on quorum (%q)", st.name, p, st.wantDetail)
			}
			if e.configSnapshot(t) != before || len(e.entities.changed) != signals {
				t.Fatalf("%s: a rejected write changed the configuration or signalled the entity", st.name)
			}
			continue
		}
		got := strings.Contains(string(res.body), `"quorum"`)
		if (st.wantQuorum == "") == got || (got && !strings.Contains(string(res.body), st.wantQuorum)) {
			t.Fatalf("%s: %s, want %q", st.name, res.body, st.wantQuorum)
		}
		if len(e.entities.changed) != signals+1 {
			t.Fatalf("%s: the entity was not signalled", st.name)
		}
	}
}

package store

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestAssociateQuorum: a quorum is stored with the assignment's locations and loaded with it; a
// quorum out of range, or on an assignment with fewer than two locations — whether the write
// sets the quorum or the locations — is a validation error on "quorum" and changes nothing.
func TestAssociateQuorum(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := ctxT(t)
	mustSystem(t, s, "sys-1")
	c := mustConfig(t, s, "c")
	q := func(n int) Optional[*int] { return Some(&n) }
	locs := func(l ...string) *[]string { return &l }
	steps := []struct {
		name       string
		in         AssociateInput
		wantErr    string // substring of the "quorum" field's message; "" = accepted
		wantQuorum string // the stored quorum after the step ("<nil>" when none)
		wantLocs   string
	}{
		{"quorum without locations (new assignment)", AssociateInput{Quorum: q(1)}, "at least 2 locations", "", ""},
		{"locations only", AssociateInput{Locations: locs("a", "b", "c")}, "", "<nil>", "[a b c]"},
		{"quorum 2 of 3", AssociateInput{Quorum: q(2)}, "", "2", "[a b c]"},
		{"quorum 0", AssociateInput{Quorum: q(0)}, "between 1 and 3", "2", "[a b c]"},
		{"quorum above the locations", AssociateInput{Quorum: q(4)}, "between 1 and 3", "2", "[a b c]"},
		{"locations and quorum together", AssociateInput{Locations: locs("a", "b", "c", "d"), Quorum: q(4)}, "", "4", "[a b c d]"},
		{"fewer locations than the stored quorum", AssociateInput{Locations: locs("a", "b")}, "between 1 and 2", "4", "[a b c d]"},
		{"one location with a quorum", AssociateInput{Locations: locs("a"), Quorum: q(1)}, "at least 2 locations", "4", "[a b c d]"},
		{"fewer locations with a quorum that fits", AssociateInput{Locations: locs("a", "b"), Quorum: q(1)}, "", "1", "[a b]"},
		{"duplicates do not count", AssociateInput{Locations: locs("a", "a", "b"), Quorum: q(3)}, "between 1 and 2", "1", "[a b]"},
		{"other fields keep the quorum", AssociateInput{Enabled: new(true)}, "", "1", "[a b]"},
		{"cleared back to a majority", AssociateInput{Quorum: Some[*int](nil)}, "", "<nil>", "[a b]"},
		{"cleared quorum, then one location", AssociateInput{Locations: locs("a")}, "", "<nil>", "[a]"},
	}
	for _, st := range steps {
		in := st.in
		in.SystemID, in.ConfigurationID = "sys-1", c.ID
		a, _, err := s.Associate(ctx, in)
		if st.wantErr != "" {
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrValidation) || len(ve.Errors) != 1 || ve.Errors[0].Field != "quorum" ||
				!strings.Contains(ve.Errors[0].Message, st.wantErr) {
				t.Fatalf("%s: err = %v, want a validation error on quorum saying %q", st.name, err, st.wantErr)
			}
		} else if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if st.wantQuorum == "" {
			if _, err := s.GetAssignment(ctx, "sys-1", c.ID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("%s: a rejected first write created the assignment (%v)", st.name, err)
			}
			continue
		}
		got, err := s.GetAssignment(ctx, "sys-1", c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if quorumString(got.Quorum) != st.wantQuorum || fmt.Sprint(got.Locations) != st.wantLocs {
			t.Fatalf("%s: stored quorum %s locations %v, want %s %s", st.name, quorumString(got.Quorum), got.Locations, st.wantQuorum, st.wantLocs)
		}
		if st.wantErr == "" && (quorumString(a.Quorum) != st.wantQuorum || fmt.Sprint(a.Locations) != st.wantLocs) {
			t.Fatalf("%s: returned quorum %s locations %v", st.name, quorumString(a.Quorum), a.Locations)
		}
	}

	// The entity's load and the overview carry it.
	if _, _, err := s.Associate(ctx, AssociateInput{SystemID: "sys-1", ConfigurationID: c.ID, Locations: locs("a", "b", "c"), Quorum: q(3)}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Load(ctx, "sys-1")
	if err != nil || len(st.Checks) != 1 || quorumString(st.Checks[0].Quorum) != "3" || st.Checks[0].QuorumValue() != 3 {
		t.Fatalf("load: %+v %v, want quorum 3", st.Checks, err)
	}
	ov, err := s.Overview(ctx, "sys-1", 0)
	if err != nil || len(ov) != 1 || quorumString(ov[0].Quorum) != "3" {
		t.Fatalf("overview: %+v %v, want quorum 3", ov, err)
	}

	// The schema guards the rule by itself too.
	_, err = pool.Exec(ctx, `UPDATE system_health_checks SET locations = '{a}' WHERE system_id = 'sys-1'`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.ConstraintName != "system_health_checks_quorum_check" {
		t.Fatalf("raw update to one location under quorum 3: %v, want the quorum check constraint", err)
	}
	if f, ok := checkConstraintFields[pe.ConstraintName]; !ok || f.Field != "quorum" {
		t.Fatalf("constraint maps to %+v, want field quorum", f)
	}
}

func quorumString(q *int) string {
	if q == nil {
		return "<nil>"
	}
	return fmt.Sprint(*q)
}

package store

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/checkflow/checkflow/internal/secretbox"
)

func testSecretBox(t *testing.T) *secretbox.Box {
	t.Helper()
	b, err := secretbox.New([]byte(strings.Repeat("k", secretbox.KeySize)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSecretsPutGetListDelete(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := ctxT(t)
	box := testSecretBox(t)
	const plain = "planted-secret-value-8c1f"
	sealed, err := box.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}

	sec, created, err := s.PutSecret(ctx, "API_TOKEN", sealed, "the API token")
	if err != nil || !created || sec.Name != "API_TOKEN" || sec.Description != "the API token" || sec.CreatedAt.IsZero() {
		t.Fatalf("put = %+v created=%v, %v", sec, created, err)
	}
	// Only the sealed value is stored.
	var stored string
	if err := pool.QueryRow(ctx, `SELECT sealed_value FROM secrets WHERE name = 'API_TOKEN'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, plain) || !secretbox.IsSealed(stored) {
		t.Fatalf("stored value %q is not sealed", stored)
	}

	// Upsert replaces value and description and keeps created_at.
	sealed2, _ := box.Seal("second-value")
	sec2, created, err := s.PutSecret(ctx, "API_TOKEN", sealed2, "rotated")
	if err != nil || created || sec2.Description != "rotated" || !sec2.CreatedAt.Equal(sec.CreatedAt) || sec2.UpdatedAt.Before(sec.UpdatedAt) {
		t.Fatalf("upsert = %+v created=%v, %v (first %+v)", sec2, created, err, sec)
	}
	if _, _, err := s.PutSecret(ctx, "db-pass", sealed, ""); err != nil {
		t.Fatal(err)
	}

	got, err := s.GetSecret(ctx, "API_TOKEN")
	if err != nil || got != sec2 {
		t.Fatalf("get = %+v, %v; want %+v", got, err, sec2)
	}
	list, err := s.ListSecrets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range list {
		names = append(names, l.Name)
	}
	if !slices.Equal(names, []string{"API_TOKEN", "db-pass"}) {
		t.Fatalf("list names = %v", names)
	}

	resolved, err := s.ResolveSecrets(ctx, []string{"API_TOKEN", "nope"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resolved) != 1 {
		t.Fatalf("resolved %d secrets, want 1 (unknown names absent)", len(resolved))
	}
	if opened, err := box.Open(resolved["API_TOKEN"]); err != nil || opened != "second-value" {
		t.Fatalf("resolved value opens to %q, %v", opened, err)
	}
	missing, err := s.MissingSecrets(ctx, []string{"nope", "API_TOKEN", "other"})
	if err != nil || !slices.Equal(missing, []string{"nope", "other"}) {
		t.Fatalf("missing = %v, %v", missing, err)
	}

	if err := s.DeleteSecret(ctx, "API_TOKEN"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSecret(ctx, "API_TOKEN"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v, want not found", err)
	}
	if err := s.DeleteSecret(ctx, "API_TOKEN"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v, want not found", err)
	}
}

func TestSecretsPutRejects(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := ctxT(t)
	sealed, err := testSecretBox(t).Seal("value")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, secret, value, description, field string
	}{
		{"empty name", "", sealed, "", "name"},
		{"leading digit", "1TOKEN", sealed, "", "name"},
		{"space", "API TOKEN", sealed, "", "name"},
		{"too long", strings.Repeat("A", 64), sealed, "", "name"},
		{"plain value", "API_TOKEN", "plain-text", "", "value"},
		{"long description", "API_TOKEN", sealed, strings.Repeat("d", 1001), "description"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := s.PutSecret(ctx, c.secret, c.value, c.description)
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Field != c.field {
				t.Fatalf("put %q: %v, want a validation error on %s", c.secret, err, c.field)
			}
		})
	}
	if list, err := s.ListSecrets(ctx); err != nil || len(list) != 0 {
		t.Fatalf("rejected puts stored %v, %v", list, err)
	}
}

func TestSecretUsers(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := ctxT(t)
	mk := func(name, collectors string) string {
		t.Helper()
		c, err := s.CreateConfiguration(ctx, ConfigurationInput{Name: name, StrategyID: "script", IntervalSeconds: 60,
			Collectors: []byte(collectors)})
		if err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	exact := mk("b exact", `[{"id":"e","collectorId":"execute","config":{"secretEnv":{"T":"${{ secrets.API }}"}}}]`)
	inline := mk("a inline", `[{"id":"e","collectorId":"execute","config":{"secretEnv":{"U":"Bearer ${{secrets.API}} x"}}},{"id":"f","collectorId":"execute","config":{}}]`)
	longer := mk("longer name", `[{"id":"e","collectorId":"execute","config":{"secretEnv":{"T":"${{ secrets.API_TOKEN }}"}}}]`)
	mk("not a map", `[{"id":"e","collectorId":"execute","config":{"secretEnv":"${{ secrets.API }}"}}]`)
	mk("plain env", `[{"id":"e","collectorId":"execute","config":{"env":{"T":"${{ secrets.API }}"}}}]`)
	mk("no collectors", `null`)
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"API", []string{inline, exact}}, // by check name
		{"API_TOKEN", []string{longer}},
		{"OTHER", nil},
	} {
		got, err := s.SecretUsers(ctx, tc.name)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, u := range got {
			ids = append(ids, u.ID)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("%s: users %v, want %v", tc.name, ids, tc.want)
		}
	}
}

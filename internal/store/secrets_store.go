package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/secretbox"
)

// maxSecretDescription bounds a secret's description (secrets_description_check).
const maxSecretDescription = 1000

// Secret is a stored secret's metadata. Its value never leaves the store through this type:
// the store holds only the sealed value, returned by ResolveSecrets alone.
type Secret struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

const secretColumns = `name, description, created_at, updated_at`

func scanSecret(row pgx.Row) (Secret, error) {
	var s Secret
	if err := row.Scan(&s.Name, &s.Description, &s.CreatedAt, &s.UpdatedAt); err != nil {
		return Secret{}, err
	}
	s.CreatedAt, s.UpdatedAt = utc(s.CreatedAt), utc(s.UpdatedAt)
	return s, nil
}

// PutSecret creates or replaces the secret name. sealed must be a value sealed with
// secretbox (the store never sees a plain value); description replaces the stored one. It
// returns the metadata and whether the secret was created. A bad name, an unsealed value or a
// too long description is a *ValidationError.
func (s *Store) PutSecret(ctx context.Context, name, sealed, description string) (Secret, bool, error) {
	var fe fieldErrors
	if !health.ValidSecretName(name) {
		fe.add("name", fmt.Sprintf("must start with a letter and contain only letters, digits, '_' and '-' (at most %d characters)", health.MaxSecretNameLength))
	}
	if !secretbox.IsSealed(sealed) {
		fe.add("value", "must be sealed before it is stored")
	}
	if len([]rune(description)) > maxSecretDescription {
		fe.add("description", fmt.Sprintf("must be at most %d characters", maxSecretDescription))
	}
	if err := fe.err(); err != nil {
		return Secret{}, false, err
	}
	var sec Secret
	var created bool
	err := s.pool.QueryRow(ctx, `INSERT INTO secrets (name, sealed_value, description) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET sealed_value = EXCLUDED.sealed_value, description = EXCLUDED.description, updated_at = now()
		RETURNING `+secretColumns+`, (xmax = 0)`, name, sealed, description).
		Scan(&sec.Name, &sec.Description, &sec.CreatedAt, &sec.UpdatedAt, &created)
	if err != nil {
		return Secret{}, false, wrapErr("put secret", err)
	}
	sec.CreatedAt, sec.UpdatedAt = utc(sec.CreatedAt), utc(sec.UpdatedAt)
	return sec, created, nil
}

// GetSecret returns a secret's metadata or a *NotFoundError.
func (s *Store) GetSecret(ctx context.Context, name string) (Secret, error) {
	sec, err := scanSecret(s.pool.QueryRow(ctx, `SELECT `+secretColumns+` FROM secrets WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return Secret{}, notFound("Secret", name)
	}
	if err != nil {
		return Secret{}, wrapErr("get secret", err)
	}
	return sec, nil
}

// ListSecrets returns every secret's metadata ordered by name.
func (s *Store) ListSecrets(ctx context.Context) ([]Secret, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+secretColumns+` FROM secrets ORDER BY name`)
	if err != nil {
		return nil, wrapErr("list secrets", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Secret, error) { return scanSecret(r) })
	if err != nil {
		return nil, wrapErr("list secrets", err)
	}
	return out, nil
}

// DeleteSecret deletes a secret; an unknown name is a *NotFoundError.
func (s *Store) DeleteSecret(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM secrets WHERE name = $1`, name)
	if err != nil {
		return wrapErr("delete secret", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Secret", name)
	}
	return nil
}

// MissingSecrets returns the names among names that are not stored, in the order given.
func (s *Store) MissingSecrets(ctx context.Context, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT n FROM unnest($1::text[]) WITH ORDINALITY AS u(n, i)
		WHERE NOT EXISTS (SELECT 1 FROM secrets WHERE name = u.n) ORDER BY i`, names)
	if err != nil {
		return nil, wrapErr("missing secrets", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrapErr("missing secrets", err)
	}
	return out, nil
}

// ResolveSecrets returns the sealed values of the stored secrets among names (name → sealed
// value); names not stored are absent. Callers open the values with the secret key.
func (s *Store) ResolveSecrets(ctx context.Context, names []string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	if len(names) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT name, sealed_value FROM secrets WHERE name = ANY($1::text[])`, names)
	if err != nil {
		return nil, wrapErr("resolve secrets", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, sealed string
		if err := rows.Scan(&name, &sealed); err != nil {
			return nil, wrapErr("resolve secrets", err)
		}
		out[name] = sealed
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr("resolve secrets", err)
	}
	return out, nil
}

// CheckRef names a check configuration.
type CheckRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// SecretUsers returns the checks whose collectors' secretEnv references the secret (as
// ${{ secrets.NAME }}), by name. name must be a valid secret name (health.ValidSecretName): it
// is matched as a pattern.
func (s *Store) SecretUsers(ctx context.Context, name string) ([]CheckRef, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.id::text, c.name FROM health_check_configurations c
		WHERE jsonb_typeof(c.collectors) = 'array' AND EXISTS (
			SELECT 1 FROM jsonb_array_elements(c.collectors) e
			CROSS JOIN LATERAL jsonb_each_text(CASE WHEN jsonb_typeof(e->'config'->'secretEnv') = 'object'
				THEN e->'config'->'secretEnv' ELSE '{}'::jsonb END) kv
			WHERE kv.value ~ ('\$\{\{\s*secrets\.' || $1 || '\s*\}\}'))
		ORDER BY c.name, c.id`, name)
	if err != nil {
		return nil, wrapErr("secret users", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[CheckRef])
	return out, wrapErr("secret users", err)
}

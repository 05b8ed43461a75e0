package activities

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/secretbox"
	"github.com/checkflow/checkflow/internal/store"
)

// secretSource is the part of the store the resolver reads: sealed values by name.
type secretSource interface {
	ResolveSecrets(ctx context.Context, names []string) (map[string]string, error)
}

// StoreSecrets resolves collectors' secretEnv references from the secret store: it reads the
// sealed values and opens them, in memory, with the worker's secret key. A name that is not
// stored is absent from the answer (the run then fails with "Secret not found: NAME").
type StoreSecrets struct {
	Store secretSource
	// Box opens the sealed values; without it a stored secret cannot be resolved and the run
	// fails saying the key is missing.
	Box *secretbox.Box
}

var _ checks.SecretResolver = (*StoreSecrets)(nil)

// NewStoreSecrets returns the resolver of a worker with a database, or nil without one (a
// probe-only worker started without --secret-store-url: its runs that reference secrets fail
// saying so).
func NewStoreSecrets(pool *pgxpool.Pool, box *secretbox.Box) checks.SecretResolver {
	if pool == nil {
		return nil
	}
	return &StoreSecrets{Store: store.New(pool), Box: box}
}

// Resolve returns the plain values of the stored secrets among names.
func (r *StoreSecrets) Resolve(ctx context.Context, names []string) (map[string]string, error) {
	sealed, err := r.Store.ResolveSecrets(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("read secret store: %w", err)
	}
	out := make(map[string]string, len(sealed))
	for name, v := range sealed {
		if r.Box == nil {
			return nil, fmt.Errorf("secret %s: %w", name, secretbox.ErrNoKey)
		}
		plain, err := r.Box.Open(v)
		if err != nil {
			// The error of Open names no value (it is the sealed form's problem).
			return nil, fmt.Errorf("secret %s cannot be opened with this worker's secret key: %w", name, err)
		}
		out[name] = plain
	}
	return out, nil
}

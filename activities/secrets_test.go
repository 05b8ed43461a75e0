package activities

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/checkflow/checkflow/internal/secretbox"
)

type fakeSecretSource map[string]string

func (f fakeSecretSource) ResolveSecrets(_ context.Context, names []string) (map[string]string, error) {
	out := map[string]string{}
	for _, n := range names {
		if v, ok := f[n]; ok {
			out[n] = v
		}
	}
	return out, nil
}

func TestStoreSecretsResolve(t *testing.T) {
	t.Parallel()
	box, err := secretbox.New([]byte(strings.Repeat("s", secretbox.KeySize)))
	if err != nil {
		t.Fatal(err)
	}
	other, err := secretbox.New([]byte(strings.Repeat("o", secretbox.KeySize)))
	if err != nil {
		t.Fatal(err)
	}
	const plain = "resolver-planted-value"
	sealed, err := box.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	src := fakeSecretSource{"API_TOKEN": sealed}
	cases := []struct {
		name    string
		box     *secretbox.Box
		names   []string
		want    map[string]string
		wantErr string
	}{
		{"opens a stored secret", box, []string{"API_TOKEN"}, map[string]string{"API_TOKEN": plain}, ""},
		{"unknown names are absent", box, []string{"API_TOKEN", "NOPE"}, map[string]string{"API_TOKEN": plain}, ""},
		{"no key", nil, []string{"API_TOKEN"}, nil, "no secret key is configured"},
		{"wrong key", other, []string{"API_TOKEN"}, nil, "does not open with this key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := (&StoreSecrets{Store: src, Box: c.box}).Resolve(t.Context(), c.names)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), "API_TOKEN") {
					t.Fatalf("err = %v, want one naming API_TOKEN and %q", err, c.wantErr)
				}
				if strings.Contains(err.Error(), plain) {
					t.Fatalf("error leaks the value: %v", err)
				}
				if c.box == nil && !errors.Is(err, secretbox.ErrNoKey) {
					t.Fatalf("err = %v, want ErrNoKey", err)
				}
				return
			}
			if err != nil || len(got) != len(c.want) || got["API_TOKEN"] != c.want["API_TOKEN"] {
				t.Fatalf("resolve = %v, %v; want %v", got, err, c.want)
			}
		})
	}
	if NewStoreSecrets(nil, box) != nil {
		t.Fatal("NewStoreSecrets without a pool is not nil")
	}
}

package devenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestEnsurePostgresRejectsBadURLs(t *testing.T) {
	for _, raw := range []string{"http://127.0.0.1/x", "::nope", "postgres:///nohost", "postgres://127.0.0.1:99999/x"} {
		t.Run(raw, func(t *testing.T) {
			_, err := EnsurePostgres(context.Background(), PostgresConfig{URL: raw})
			if err == nil || !strings.Contains(err.Error(), "database url") {
				t.Fatalf("EnsurePostgres(%q) = %v, want a database url error", raw, err)
			}
		})
	}
}

func TestEnsurePostgresUnreachableWithoutClusterDir(t *testing.T) {
	p, err := FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = EnsurePostgres(context.Background(), PostgresConfig{URL: "postgres://postgres@127.0.0.1:" + strconv.Itoa(p) + "/x"})
	if !errors.Is(err, ErrNoPostgres) || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("err = %v, want ErrNoPostgres telling what to set", err)
	}
}

// The database named in the URL is created when missing, and a second call finds it.
func TestEnsurePostgresCreatesDatabase(t *testing.T) {
	ctx := context.Background()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "checkflow_devenv_" + hex.EncodeToString(b[:])
	url := "postgres://postgres@127.0.0.1:5432/" + name
	for i := 0; i < 2; i++ {
		pg, err := EnsurePostgres(ctx, PostgresConfig{URL: url})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if pg.Private || pg.URL != url {
			t.Fatalf("call %d: got %+v, want the existing server at %s", i, pg, url)
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("database was not created: %v", err)
	}
	conn.Close(ctx)
	admin, err := pgx.Connect(ctx, "postgres://postgres@127.0.0.1:5432/postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
}

func TestCheckPortFree(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := CheckPortFree(l.Addr().String()); !errors.Is(err, ErrPortInUse) {
		t.Errorf("CheckPortFree(busy) = %v, want ErrPortInUse", err)
	}
	p, err := FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckPortFree("127.0.0.1:" + strconv.Itoa(p)); err != nil {
		t.Errorf("CheckPortFree(free) = %v", err)
	}
}

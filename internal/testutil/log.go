package testutil

import (
	"log/slog"
	"testing"

	"github.com/checkflow/checkflow/internal/secretbox"
)

// Logger returns a slog logger writing through t.Log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// SecretBox returns a secret box with a fresh random key.
func SecretBox(t testing.TB) *secretbox.Box {
	t.Helper()
	k, err := secretbox.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := secretbox.ParseKey(k)
	if err != nil {
		t.Fatal(err)
	}
	b, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

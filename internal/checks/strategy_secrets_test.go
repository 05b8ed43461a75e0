package checks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// plantedSecret returns a unique, recognisable credential value for leak checks.
func plantedSecret(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "planted-" + hex.EncodeToString(b)
}

// requireNoSecret fails when secret appears anywhere in the result document (as stored).
func requireNoSecret(t testing.TB, r Result, secret string) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secret) {
		t.Fatalf("secret %q leaked into the result document: %s", secret, b)
	}
}

// inCI reports whether the tests run in CI (.ci/run exports CI=true): there, a missing local
// service fails the tests that need it instead of skipping them.
func inCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "false" && v != "0"
}

func TestConfigSecretMaskingWrapsConnectAndCollectors(t *testing.T) {
	const secret = "wrapped-secret-1234"
	s := withConfigSecrets(&strategyDef{
		config: objectSchema{Props: []prop{{Name: "password", Type: "string", Secret: true}, {Name: "user", Type: "string"}}},
		connect: func(_ context.Context, cfg map[string]any) (client, error) {
			if cfg["user"] == "bad" {
				return nil, errors.New("login failed for " + stringField(cfg, "password"))
			}
			return noClient{}, nil
		},
		collectors: []*collectorDef{{collect: func(_ context.Context, c client, _ map[string]any, _ collectInput) (map[string]any, error) {
			if _, ok := c.(noClient); !ok {
				return nil, errors.New("collector got the wrapper, not the strategy's client")
			}
			return map[string]any{"out": "pw=" + secret, secret: []any{secret}}, errors.New("echo " + secret)
		}}},
	})
	ctx := context.Background()
	if _, err := s.connect(ctx, map[string]any{"user": "bad", "password": secret}); err == nil || err.Error() != "login failed for ****" {
		t.Fatalf("connect error %v", err)
	}
	c, err := s.connect(ctx, map[string]any{"user": "ok", "password": secret})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.collectors[0].collect(ctx, c, nil, collectInput{})
	if err == nil || err.Error() != "echo ****" {
		t.Fatalf("collector error %v", err)
	}
	if res["out"] != "pw=****" || res["****"] == nil || strings.Contains(fmt.Sprint(res), secret) {
		t.Fatalf("collector result not masked: %v", res)
	}
}

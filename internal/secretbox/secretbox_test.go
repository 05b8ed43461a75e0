package secretbox

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func testBox(t *testing.T) *Box {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := ParseKey(k)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	b := testBox(t)
	for _, pt := range []string{"", "s3cret", strings.Repeat("ü", 500), Prefix + "looks sealed"} {
		s1, err := b.Seal(pt)
		if err != nil {
			t.Fatal(err)
		}
		s2, _ := b.Seal(pt)
		if !IsSealed(s1) || s1 == s2 || (pt != "" && strings.Contains(s1, pt)) {
			t.Errorf("Seal(%q) = %q / %q: want two different sealed values without the plaintext", pt, s1, s2)
		}
		if got, err := b.Open(s1); err != nil || got != pt {
			t.Errorf("Open(Seal(%q)) = %q, %v", pt, got, err)
		}
	}
}

func TestOpenRejects(t *testing.T) {
	b, other := testBox(t), testBox(t)
	sealed, _ := b.Seal("pw")
	cases := map[string]string{
		"other key":  sealed,
		"truncated":  sealed[:len(sealed)-4],
		"not base64": Prefix + "!!!",
		"not sealed": "plain",
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := other.Open(s); err == nil {
				t.Errorf("Open(%q) succeeded", s)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	k, _ := NewKey()
	for _, in := range []string{k, " " + k + "\n", strings.TrimRight(k, "=")} {
		if _, err := ParseKey(in); err != nil {
			t.Errorf("ParseKey(%q): %v", in, err)
		}
	}
	for _, in := range []string{"", "short", "aGVsbG8="} {
		if _, err := ParseKey(in); err == nil {
			t.Errorf("ParseKey(%q) accepted", in)
		}
	}
}

func TestOpenJSON(t *testing.T) {
	b := testBox(t)
	pw, _ := b.Seal("db-pass")
	tok, _ := b.Seal("tok")
	raw, _ := json.Marshal(map[string]any{"host": "h", "port": 5432, "password": pw, "nested": []any{map[string]any{"t": tok}}})
	out, err := b.OpenJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got["password"] != "db-pass" || got["nested"].([]any)[0].(map[string]any)["t"] != "tok" || got["port"] != float64(5432) {
		t.Errorf("OpenJSON = %s", out)
	}
	plain := json.RawMessage(`{"host":"h"}`)
	if out, err := (*Box)(nil).OpenJSON(plain); err != nil || string(out) != string(plain) {
		t.Errorf("nil box on a document without secrets = %s, %v", out, err)
	}
	if _, err := (*Box)(nil).OpenJSON(raw); !errors.Is(err, ErrNoKey) {
		t.Errorf("nil box on a sealed document: %v, want ErrNoKey", err)
	}
}

package health

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMaskText(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		secrets []string
		want    string
	}{
		{"every occurrence", "token=hunter22 again hunter22", []string{"hunter22"}, "token=**** again ****"},
		{"shorter than 4 never masked", "pin 123 and abcd", []string{"123", "abcd"}, "pin 123 and ****"},
		{"longest first", "pass=supersecret", []string{"secret", "supersecret"}, "pass=****"},
		{"duplicates", "aaaa bbbb", []string{"aaaa", "aaaa", "bbbb"}, "**** ****"},
		{"empty set unchanged", "nothing here", nil, "nothing here"},
		{"only short values unchanged", "abc", []string{"abc", ""}, "abc"},
		{"length counts UTF-16 units: 2 emoji = 4", "x😀😀y", []string{"😀😀"}, "x****y"},
		{"3 runes of 1 unit stay", "añb", []string{"añb"}, "añb"},
		{"overlapping occurrences", "abababab", []string{"abab"}, "********"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := MaskText(tc.text, tc.secrets); got != tc.want {
				t.Fatalf("got %q want %q", got, tc.want)
			}
		})
	}
}

func TestMaskJSON(t *testing.T) {
	secrets := []string{"s3cr3t-value", "tok3n"}
	in := map[string]any{
		"plain":        "s3cr3t-value inside",
		"s3cr3t-value": "key is secret",
		"nested":       []any{"tok3n", 42.0, true, nil, map[string]any{"deep": "x-tok3n-y"}},
		"strmap":       map[string]string{"a": "tok3n"},
		"strs":         []string{"tok3n", "ok"},
		"raw":          json.RawMessage(`{"v":"tok3n","n":1}`),
	}
	before := mustJSON(t, in)
	got := MaskJSON(in, secrets)
	want := `{"****":"key is secret","nested":["****",42,true,null,{"deep":"x-****-y"}],"plain":"**** inside","raw":{"n":1,"v":"****"},"strmap":{"a":"****"},"strs":["****","ok"]}`
	if g := mustJSON(t, got); g != want {
		t.Fatalf("got  %s\nwant %s", g, want)
	}
	if mustJSON(t, in) != before {
		t.Fatal("input modified")
	}
	if MaskJSON(42.0, secrets) != 42.0 || MaskJSON("tok3n", nil) != "tok3n" {
		t.Fatal("scalars")
	}
	// Colliding masked keys resolve deterministically (sorted key order, last wins).
	collide := map[string]any{"aaaa1": "first", "bbbb1": "second"}
	for i := 0; i < 20; i++ {
		if g := mustJSON(t, MaskJSON(collide, []string{"aaaa", "bbbb"})); g != `{"****1":"second"}` {
			t.Fatalf("collision %s", g)
		}
	}
}

// TestCollectorScriptSecrets covers the pure parts of §16.8 CS-11…CS-13 and §9's test path.
func TestCollectorScriptSecrets(t *testing.T) {
	t.Run("CS-11 no overrides → placeholder", func(t *testing.T) {
		env, mask := TestSecretEnv(map[string]string{"TOKEN": "${{ secrets.api }}"}, nil)
		deepEqual(t, env, map[string]string{"TOKEN": "__SECRET_api__"})
		if len(mask) != 0 {
			t.Fatalf("mask %v", mask)
		}
	})
	t.Run("CS-12 override injected and masked out of the output", func(t *testing.T) {
		env, mask := TestSecretEnv(map[string]string{"TOKEN": "${{ secrets.api }}"}, map[string]string{"api": "override-secret"})
		deepEqual(t, env, map[string]string{"TOKEN": "override-secret"})
		deepEqual(t, mask, []string{"override-secret"})
		out := MaskScriptRunOutput(ScriptRunOutput{Stdout: "value=override-secret", Stderr: "override-secret!", Error: "x override-secret", Result: map[string]any{"v": "override-secret"}, ExitCode: intp(0)}, mask)
		if out.Stdout != "value=****" {
			t.Fatalf("stdout %q", out.Stdout)
		}
		if s := mustJSON(t, out); strings.Contains(s, "override-secret") {
			t.Fatalf("serialized output leaks: %s", s)
		}
	})
	t.Run("CS-13 no secretEnv → no env at all", func(t *testing.T) {
		if env, mask := TestSecretEnv(nil, map[string]string{"api": "x"}); env != nil || mask != nil {
			t.Fatalf("env %v mask %v", env, mask)
		}
	})
	t.Run("first reference, inline template, no reference", func(t *testing.T) {
		env, mask := TestSecretEnv(map[string]string{
			"AUTH":  "Bearer ${{ secrets.tok }} ${{ secrets.other }}",
			"PLAIN": "no reference",
			"DUP":   "${{secrets.tok}}",
		}, map[string]string{"tok": "t0k3n-value"})
		deepEqual(t, env, map[string]string{"AUTH": "t0k3n-value", "PLAIN": "__SECRET_PLAIN__", "DUP": "t0k3n-value"})
		deepEqual(t, mask, []string{"t0k3n-value"})
	})
}

func TestParseSecretEnv(t *testing.T) {
	tests := []struct {
		name   string
		in     map[string]string
		want   map[string][]string
		fields []string
	}{
		{"valid", map[string]string{"TOKEN": "${{ secrets.api }}", "DSN": "postgres://${{ secrets.DB_USER }}:${{secrets.DB_PASS}}@h/${{ secrets.DB_USER }}"},
			map[string][]string{"TOKEN": {"api"}, "DSN": {"DB_USER", "DB_PASS"}}, nil},
		{"empty", map[string]string{}, map[string][]string{}, nil},
		{"bad env name", map[string]string{"1BAD": "${{ secrets.a }}", "OK": "${{ secrets.a }}"}, nil, []string{"secretEnv.1BAD"}},
		{"env name too long", map[string]string{strings.Repeat("A", 129): "${{ secrets.a }}"}, nil, []string{"secretEnv." + strings.Repeat("A", 129)}},
		{"no reference", map[string]string{"TOKEN": "literal", "X": "${{ secret.a }}"}, nil, []string{"secretEnv.TOKEN", "secretEnv.X"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSecretEnv(tc.in)
			if tc.fields == nil {
				if err != nil {
					t.Fatal(err)
				}
				deepEqual(t, got, tc.want)
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err %v", err)
			}
			var fields []string
			for _, fe := range ve.Errors {
				fields = append(fields, fe.Field)
			}
			deepEqual(t, fields, tc.fields)
		})
	}
	if !ValidEnvName("_X1") || ValidEnvName("") || ValidEnvName("A-B") {
		t.Fatal("ValidEnvName")
	}
	if !ValidSecretName("db-pass_1") || ValidSecretName("_x") || ValidSecretName(strings.Repeat("a", 64)) {
		t.Fatal("ValidSecretName")
	}
	// GO-13 secret name collection.
	deepEqual(t, SecretReferences("postgres://${{ secrets.DB_USER }}:${{ secrets.DB_PASS }}@host/db"), []string{"DB_USER", "DB_PASS"})
	deepEqual(t, SecretReferences("db-${{ secrets.ENV }}.internal"), []string{"ENV"})
}

func TestResolveSecretEnv(t *testing.T) {
	values := map[string]string{"api": "api-key-1", "user": "bob1", "pass": "pw"}
	env, mask, err := ResolveSecretEnv(map[string]string{"TOKEN": "Bearer ${{ secrets.api }}", "DSN": "${{ secrets.user }}:${{ secrets.pass }}"}, values)
	if err != nil {
		t.Fatal(err)
	}
	deepEqual(t, env, map[string]string{"TOKEN": "Bearer api-key-1", "DSN": "bob1:pw"})
	deepEqual(t, mask, []string{"api-key-1", "bob1", "pw"})

	_, _, err = ResolveSecretEnv(map[string]string{"TOKEN": "${{ secrets.missing }}"}, values)
	var nf *SecretNotFoundError
	if !errors.As(err, &nf) || nf.Name != "missing" || !strings.Contains(err.Error(), "Secret not found: missing") {
		t.Fatalf("err %v", err)
	}
	_, _, err = ResolveSecretEnv(map[string]string{"TOKEN": "plain"}, values)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("invalid mapping err %v", err)
	}
}

// fuzzSecrets keeps the values the masking guarantee is about: at least 4
// UTF-16 units and free of '*', the mask token's own character (a value made
// of stars could be rebuilt by adjacent tokens; Jenkins-style masking makes
// no promise there).
func fuzzSecrets(candidates ...string) []string {
	var out []string
	for _, c := range candidates {
		if jsLen(c) >= MinMaskLength && !strings.Contains(c, "*") {
			out = append(out, c)
		}
	}
	return out
}

func assertNoSecret(t *testing.T, v any, secrets []string) {
	t.Helper()
	check := func(s string) {
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				t.Fatalf("output %q still contains secret %q", s, sec)
			}
		}
	}
	switch x := v.(type) {
	case string:
		check(x)
	case []any:
		for _, e := range x {
			assertNoSecret(t, e, secrets)
		}
	case map[string]any:
		for k, e := range x {
			check(k)
			assertNoSecret(t, e, secrets)
		}
	}
}

func FuzzMaskText(f *testing.F) {
	f.Add("password is ", "hunter22", "hunter2222", "tail")
	f.Add("", "abab", "baba", "ab")
	f.Add("xx", "😀😀", "añbc", "\xff\xfe\xfd\xfc")
	f.Fuzz(func(t *testing.T, text, s1, s2, s3 string) {
		secrets := fuzzSecrets(s1, s2, s3)
		in := text + s1 + text + s2 + s1 + s3 + text + s2
		out := MaskText(in, secrets)
		assertNoSecret(t, out, secrets)
		if len(secrets) == 0 && out != in {
			t.Fatal("no maskable secret but text changed")
		}
	})
}

func FuzzMaskJSON(f *testing.F) {
	f.Add("key", "hunter22", "s3cr3t", "v")
	f.Add("", "abcd", "bcde", "abcde")
	f.Fuzz(func(t *testing.T, text, s1, s2, s3 string) {
		secrets := fuzzSecrets(s1, s2, s3)
		doc := map[string]any{
			text + s1: []any{s2 + text, 1.0, map[string]any{s3: s1 + s2, "k": []any{text, s3 + s3}}},
			s2:        s1,
			"n":       nil,
		}
		out := MaskJSON(doc, secrets)
		assertNoSecret(t, out, secrets)
		// Round trip through JSON (valid UTF-8 only: encoding/json rewrites invalid bytes).
		if utf8.ValidString(text+s1+s2+s3) && len(secrets) > 0 {
			b, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			masked := MaskJSON(json.RawMessage(b), secrets).(json.RawMessage)
			var back any
			if err := json.Unmarshal(masked, &back); err != nil {
				t.Fatalf("masked raw JSON invalid: %v", err)
			}
			assertNoSecret(t, back, secrets)
		}
	})
}

package safetext

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"plain ASCII is kept", "hello world", "hello world"},
		{"valid UTF-8 is kept", "héllo ✓ 日本", "héllo ✓ 日本"},
		{"other control characters are kept", "a\tb\nc\x01\x1f\x7f", "a\tb\nc\x01\x1f\x7f"},
		{"NUL becomes U+2400", "\x00\x00BAN\x00NER", "␀␀BAN␀NER"},
		{"each invalid byte becomes U+FFFD", "a\xffb\xfe\xfdc", "a\uFFFDb\uFFFD\uFFFDc"},
		{"a rune cut short becomes one U+FFFD per byte", "x\xe2\x9c", "x\uFFFD\uFFFD"},
		{"UTF-8 encoded surrogate is invalid", "\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"},
		{"NUL and invalid bytes together", "\x00\xff", "␀\uFFFD"},
		{"replacement characters already there stay", "␀\uFFFD", "␀\uFFFD"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := String(tc.in)
			if got != tc.want {
				t.Fatalf("String(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if again := String(got); again != got {
				t.Errorf("not idempotent: %q → %q", got, again)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 100)
	tests := []struct {
		name     string
		in       string
		max      int
		want     string
		wantSize int // when want is empty: the exact length wanted
	}{
		{name: "short enough is kept", in: "abc", max: 3, want: "abc"},
		{name: "sanitized before measuring", in: "a\x00", max: 10, want: "a␀"},
		{name: "cut with marker", in: long, max: 40, want: strings.Repeat("a", 16) + "…[truncated 84 bytes]"},
		{name: "cut at a rune boundary", in: strings.Repeat("é", 30), max: 30, want: "ééé…[truncated 54 bytes]"},
		{name: "too small for the marker: plain cut", in: long, max: 5, want: "aaaaa"},
		{name: "too small, at a rune boundary", in: "ééé", max: 3, want: "é"},
		{name: "zero", in: long, max: 0, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Truncate(tc.in, tc.max)
			if got != tc.want {
				t.Fatalf("Truncate(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
			}
			if len(got) > tc.max {
				t.Errorf("len %d > %d", len(got), tc.max)
			}
			if again := Truncate(got, tc.max); again != got {
				t.Errorf("not idempotent: %q → %q", got, again)
			}
		})
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		same           bool // the input is returned unchanged (same bytes)
	}{
		{name: "safe document is kept as is", in: `{ "a": [1, 2.50, "x"], "b": null }`, want: `{ "a": [1, 2.50, "x"], "b": null }`, same: true},
		{name: "escaped control characters are safe", in: `"a\u0001\n"`, want: `"a\u0001\n"`, same: true},
		{name: "surrogate pair is safe", in: `"\ud83d\ude00"`, want: `"\ud83d\ude00"`, same: true},
		{name: "escaped NUL in a value", in: `{"banner":"\u0000\u0000BAN\u0000NER"}`, want: `{"banner":"␀␀BAN␀NER"}`},
		{name: "escaped NUL in a key", in: `{"k\u0000":1}`, want: `{"k␀":1}`},
		{name: "NUL deep inside", in: `{"metadata":{"collectors":{"s":{"stderr":"\u0000","n":[1,{"x":"\u0000"}]}}}}`,
			want: `{"metadata":{"collectors":{"s":{"stderr":"␀","n":[1,{"x":"␀"}]}}}}`},
		{name: "invalid UTF-8 in a string", in: "{\"a\":\"x\xffy\"}", want: `{"a":"x` + "\uFFFD" + `y"}`},
		{name: "lone high surrogate", in: `["\ud800"]`, want: "[\"\uFFFD\"]"},
		{name: "lone low surrogate", in: `["\udc00x"]`, want: "[\"\uFFFDx\"]"},
		{name: "high surrogate followed by a non-surrogate escape", in: `["\ud800\u0041"]`, want: "[\"\uFFFDA\"]"},
		{name: "numbers, literals, order and duplicates are kept", in: `{"z":1e400,"a":-0.0,"z":true,"n":null,"s":"\u0000"}`,
			want: `{"z":1e400,"a":-0.0,"z":true,"n":null,"s":"␀"}`},
		{name: "re-encoding escapes only what JSON needs", in: `{"h":"<a&b>\"\\\/","s":"\u0000"}`, want: `{"h":"<a&b>\"\\/","s":"␀"}`},
		{name: "not JSON becomes a string", in: "\x00\x00BAN\x00NER\n", want: `"␀␀BAN␀NER\n"`},
		{name: "truncated JSON becomes a string", in: `{"a":`, want: `"{\"a\":"`},
		{name: "empty becomes an empty string", in: ``, want: `""`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw := json.RawMessage(tc.in)
			got := JSON(raw)
			if string(got) != tc.want {
				t.Fatalf("JSON(%q) = %s, want %s", tc.in, got, tc.want)
			}
			if tc.same && &got[0] != &raw[0] {
				t.Errorf("safe input was copied or rewritten")
			}
			assertSafeJSON(t, got)
			if again := JSON(got); !bytes.Equal(again, got) {
				t.Errorf("not idempotent: %s → %s", got, again)
			}
		})
	}
}

func TestCapJSON(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 10_000)
	nuls := strings.Repeat(`\u0000`, 5_000)
	manyNumbers := "[" + strings.TrimSuffix(strings.Repeat("12345,", 1000), ",") + "]"
	withStatus := `{"status":"unhealthy","message":"boom","n":` + manyNumbers + `}`
	hugeKey := `{"` + big + `":1}`
	tests := []struct {
		name  string
		in    string
		max   int
		check func(t *testing.T, out []byte)
	}{
		{name: "small document unchanged", in: `{"status":"healthy"}`, max: 1000, check: func(t *testing.T, out []byte) {
			if string(out) != `{"status":"healthy"}` {
				t.Errorf("out = %s", out)
			}
		}},
		{name: "non-compact document that fits once compact", in: `{"a": "` + strings.Repeat("y", 200) + `"       ` + strings.Repeat(" ", 200) + `}`, max: 250,
			check: func(t *testing.T, out []byte) {
				if string(out) != `{"a":"`+strings.Repeat("y", 200)+`"}` {
					t.Errorf("out = %s", out)
				}
			}},
		{name: "the longest string is cut first", in: `{"status":"unhealthy","message":"Check failed","metadata":{"stdout":"` + big + `","stderr":"short"}}`, max: 1000,
			check: func(t *testing.T, out []byte) {
				var r struct {
					Status, Message string
					Metadata        struct{ Stdout, Stderr string }
				}
				mustUnmarshal(t, out, &r)
				if r.Status != "unhealthy" || r.Message != "Check failed" || r.Metadata.Stderr != "short" {
					t.Errorf("short strings changed: %+v", r)
				}
				if !strings.HasPrefix(r.Metadata.Stdout, "xxx") || !strings.Contains(r.Metadata.Stdout, "…[truncated ") {
					t.Errorf("stdout = %q, want a cut marked string", r.Metadata.Stdout)
				}
				if len(out) < 900 {
					t.Errorf("cut more than needed: %d bytes", len(out))
				}
			}},
		{name: "two long strings are cut to a common limit", in: `{"a":"` + big + `","b":"` + big[:5000] + `"}`, max: 2000,
			check: func(t *testing.T, out []byte) {
				var r struct{ A, B string }
				mustUnmarshal(t, out, &r)
				if !strings.Contains(r.A, "…[truncated ") || !strings.Contains(r.B, "…[truncated ") {
					t.Fatalf("both strings should be cut: %q / %q", r.A, r.B)
				}
				if d := len(r.A) - len(r.B); d < -1 || d > 1 { // same prefix length, marker lengths differ by a digit
					t.Errorf("cut unevenly: %d vs %d bytes", len(r.A), len(r.B))
				}
			}},
		{name: "NUL is replaced before measuring", in: `{"stderr":"` + nuls + `"}`, max: 20_000, check: func(t *testing.T, out []byte) {
			var r struct{ Stderr string }
			mustUnmarshal(t, out, &r)
			if r.Stderr != strings.Repeat("␀", 5000) { // 15,000 bytes: fits without a cut
				t.Errorf("stderr cut or changed: %d bytes", len(r.Stderr))
			}
		}},
		{name: "last resort keeps status and message", in: withStatus, max: 512,
			check: func(t *testing.T, out []byte) {
				if string(out) != fmt.Sprintf(`{"status":"unhealthy","message":"boom","truncated":true,"originalBytes":%d}`, len(withStatus)) {
					t.Errorf("out = %s", out)
				}
			}},
		{name: "last resort cuts a long message", in: `{"message":"` + big + `","n":` + manyNumbers + `}`, max: 512,
			check: func(t *testing.T, out []byte) {
				var r struct {
					Message   string
					Truncated bool
				}
				mustUnmarshal(t, out, &r)
				if !r.Truncated || !strings.Contains(r.Message, "…[truncated ") {
					t.Errorf("out = %s", out)
				}
			}},
		{name: "last resort for a non-object", in: manyNumbers, max: 200, check: func(t *testing.T, out []byte) {
			if string(out) != fmt.Sprintf(`{"truncated":true,"originalBytes":%d}`, len(manyNumbers)) {
				t.Errorf("out = %s", out)
			}
		}},
		{name: "huge key", in: hugeKey, max: 1000, check: func(t *testing.T, out []byte) {
			if string(out) != fmt.Sprintf(`{"truncated":true,"originalBytes":%d}`, len(hugeKey)) {
				t.Errorf("out = %s", out)
			}
		}},
		{name: "a cap below the minimum is raised", in: `{"a":"` + big + `"}`, max: 1, check: func(t *testing.T, out []byte) {
			if len(out) > MinCapBytes || len(out) < MinCapBytes-8 {
				t.Errorf("len %d, want close to %d", len(out), MinCapBytes)
			}
		}},
		{name: "not JSON is wrapped, then cut", in: strings.Repeat("\x00", 1000), max: 300, check: func(t *testing.T, out []byte) {
			var s string
			mustUnmarshal(t, out, &s)
			if !strings.HasPrefix(s, "␀") || !strings.Contains(s, "…[truncated ") {
				t.Errorf("out = %s", out)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := CapJSON(json.RawMessage(tc.in), tc.max)
			if limit := max(tc.max, MinCapBytes); len(out) > limit {
				t.Fatalf("len %d > cap %d", len(out), limit)
			}
			assertSafeJSON(t, out)
			if again := CapJSON(out, tc.max); !bytes.Equal(again, out) {
				t.Errorf("not idempotent:\n%s\n%s", out, again)
			}
			tc.check(t, out)
		})
	}
}

// FuzzString: the output is valid UTF-8 without NUL, String is idempotent and keeps safe input.
func FuzzString(f *testing.F) {
	for _, s := range []string{"", "abc", "\x00\x00BAN\x00NER\n", "\xff\xfe", "é\xe2\x9c", "␀\uFFFD", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := String(s)
		if !utf8.ValidString(out) || strings.IndexByte(out, 0) >= 0 {
			t.Fatalf("String(%q) = %q is not safe", s, out)
		}
		if String(out) != out {
			t.Fatalf("String not idempotent on %q", out)
		}
		if isSafe(s) && out != s {
			t.Fatalf("safe %q changed to %q", s, out)
		}
		if got, want := utf8.RuneCountInString(out), len([]rune(s)); got != want {
			t.Fatalf("%d runes out of %d", got, want) // one replacement per bad byte, like []rune
		}
		tr := Truncate(s, 16)
		if len(tr) > 16 || !utf8.ValidString(tr) || strings.IndexByte(tr, 0) >= 0 || Truncate(tr, 16) != tr {
			t.Fatalf("Truncate(%q, 16) = %q", s, tr)
		}
	})
}

// FuzzJSON: JSON's output always parses, is valid UTF-8 without NUL (raw or escaped) or lone
// surrogates, is idempotent, keeps safe documents byte for byte and otherwise only changes
// strings the way String does.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":"\u0000"}`, "{\"a\":\"\xff\"}", `["\ud800"]`, `[1e400,-0.0,true,null]`,
		`{"k\u0000":{"k\u2400":"x"}}`, "\x00\x00BAN\x00NER\n", `{"a":`, ``, `"\\u0000"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out := JSON(raw)
		assertSafeJSON(t, out)
		if again := JSON(out); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q → %q", out, again)
		}
		if !json.Valid(raw) {
			var s string
			mustUnmarshal(t, out, &s)
			if s != String(string(raw)) {
				t.Fatalf("invalid JSON %q wrapped as %q", raw, s)
			}
			return
		}
		if jsonIsSafe(raw) && !bytes.Equal(out, raw) {
			t.Fatalf("safe %q changed to %q", raw, out)
		}
		want, ok := decodeMapped(raw)
		if !ok {
			return // a key collision after replacement: member order decides, nothing to compare
		}
		got, _ := decodeMapped(out)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("JSON(%q) = %q changes more than strings:\n%#v\n%#v", raw, out, got, want)
		}
	})
}

// FuzzCapJSON: CapJSON's output is safe, valid JSON within the cap, and idempotent.
func FuzzCapJSON(f *testing.F) {
	f.Add([]byte(`{"status":"unhealthy","message":"m","metadata":{"s":"`+strings.Repeat("\\u0000", 100)+`"}}`), 200)
	f.Add([]byte(`[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50]`), 0)
	f.Add([]byte(strings.Repeat("é", 200)), 150)
	f.Fuzz(func(t *testing.T, raw []byte, maxBytes int) {
		maxBytes %= 4096
		out := CapJSON(raw, maxBytes)
		assertSafeJSON(t, out)
		if limit := max(maxBytes, MinCapBytes); len(out) > limit {
			t.Fatalf("len %d > %d", len(out), limit)
		}
		if again := CapJSON(out, maxBytes); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q → %q", out, again)
		}
		if full := JSON(raw); len(full) <= max(maxBytes, MinCapBytes) && !bytes.Equal(out, full) {
			t.Fatalf("a document within the cap was changed: %q → %q", full, out)
		}
	})
}

// assertSafeJSON fails unless b is valid JSON, valid UTF-8, holds no NUL (raw or escaped) and no
// escaped lone surrogate: what PostgreSQL's jsonb accepts.
func assertSafeJSON(t testing.TB, b []byte) {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("not valid JSON: %q", b)
	}
	if !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 || !jsonIsSafe(b) {
		t.Fatalf("not safe: %q", b)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	if s := findNUL(v); s != "" {
		t.Fatalf("decoded document holds a NUL in %q", s)
	}
}

func findNUL(v any) string {
	switch x := v.(type) {
	case string:
		if strings.IndexByte(x, 0) >= 0 {
			return x
		}
	case []any:
		for _, e := range x {
			if s := findNUL(e); s != "" {
				return s
			}
		}
	case map[string]any:
		for k, e := range x {
			if strings.IndexByte(k, 0) >= 0 {
				return k
			}
			if s := findNUL(e); s != "" {
				return s
			}
		}
	}
	return ""
}

// decodeMapped decodes a valid JSON document (numbers as json.Number) with NUL replaced in every
// string; ok is false when two keys of an object collide after the replacement.
func decodeMapped(raw []byte) (v any, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		panic(fmt.Sprintf("decode %q: %v", raw, err))
	}
	ok = true
	var walk func(any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case string:
			return strings.ReplaceAll(x, "\x00", NULReplacement)
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		case map[string]any:
			m := make(map[string]any, len(x))
			for k, e := range x {
				m[strings.ReplaceAll(k, "\x00", NULReplacement)] = walk(e)
			}
			if len(m) != len(x) {
				ok = false
			}
			return m
		}
		return v
	}
	return walk(v), ok
}

func mustUnmarshal(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("unmarshal %q: %v", b, err)
	}
}

package notify

import (
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"
)

// mask replaces secrets in error texts.
const mask = "****"

// urlPartMinLen is the length from which a path segment or query value of a secret URL is
// redacted on its own (webhook tokens, ids and signatures are longer; "services" is not).
const urlPartMinLen = 16

// redactor removes the secret values of one channel's config from texts.
type redactor struct {
	secrets []string // longest first, so a secret containing another is masked whole
}

// newRedactor builds a redactor for plain secret values and secret URLs.
func newRedactor(values []string, urls []string) *redactor {
	seen := map[string]bool{}
	r := &redactor{}
	add := func(s string) {
		if s == "" || s == mask || seen[s] {
			return
		}
		seen[s] = true
		r.secrets = append(r.secrets, s)
	}
	addVariants := func(s string) {
		add(s)
		add(url.QueryEscape(s))
		add(url.PathEscape(s))
		if b, err := json.Marshal(s); err == nil {
			add(strings.Trim(string(b), `"`))
		}
	}
	for _, v := range values {
		addVariants(v)
	}
	for _, raw := range urls {
		addVariants(raw)
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		if rest := strings.TrimPrefix(raw, u.Scheme+"://"); rest != raw {
			addVariants(rest)
		}
		if p := u.EscapedPath(); len(p) > 1 {
			addVariants(p)
			addVariants(u.Path)
		}
		if u.RawQuery != "" {
			addVariants(u.RawQuery)
		}
		if pw, ok := u.User.Password(); ok {
			addVariants(pw)
		}
		for _, seg := range strings.Split(u.Path, "/") {
			if len(seg) >= urlPartMinLen {
				addVariants(seg)
			}
		}
		for _, vals := range u.Query() {
			for _, v := range vals {
				if len(v) >= urlPartMinLen {
					addVariants(v)
				}
			}
		}
	}
	sort.SliceStable(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	return r
}

// redact replaces every secret in s with "****".
func (r *redactor) redact(s string) string {
	if r == nil {
		return s
	}
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, mask)
	}
	return s
}

// excerpt turns a response body into a short single-line, valid UTF-8 text (≤ max bytes) with
// the channel's secrets masked.
func (r *redactor) excerpt(body []byte, max int) string {
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	s = strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			return ' '
		}
		return c
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	s = r.redact(s)
	return truncateBytes(s, max)
}

// truncateBytes cuts s to at most max bytes on a rune boundary, marking the cut with "…".
func truncateBytes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// truncateRunes cuts s to at most max runes, marking the cut with "…".
func truncateRunes(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	runes := []rune(s)
	return string(runes[:max-1]) + "…"
}

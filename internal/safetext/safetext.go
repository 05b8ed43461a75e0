// Package safetext makes arbitrary bytes safe to carry in Temporal payloads and to store in
// PostgreSQL text and jsonb columns. It is the one place where checkflow decides how bytes a
// monitored target sends (a TCP banner, a script's output, a response body) are represented.
//
// The rules, applied the same way to plain strings and to every string (keys and values) of a
// JSON document:
//
//   - Each byte that is not part of valid UTF-8 becomes U+FFFD "�" (one per byte, as
//     encoding/json decodes such bytes).
//   - NUL (U+0000), which PostgreSQL refuses in text and jsonb, becomes U+2400 "␀" (SYMBOL FOR
//     NULL), so that it stays visible and costs 3 bytes instead of the 6 of an escaped "\u0000".
//   - Everything else is kept as it is, including other control characters (JSON escapes them).
//
// A literal "␀" or "�" in the input is therefore indistinguishable from a replaced byte. Every
// function is pure and idempotent: applying it to its own output changes nothing.
package safetext

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	// NULReplacement replaces every NUL character.
	NULReplacement = "\u2400"
	// InvalidReplacement replaces every byte that is not part of valid UTF-8.
	InvalidReplacement = "\uFFFD"
	// MaxResultBytes is the default cap of a stored run result document (CapJSON).
	MaxResultBytes = 64 << 10
	// MaxMessageBytes is the default cap of a run's message (Truncate).
	MaxMessageBytes = 4 << 10
	// MinCapBytes is the smallest cap CapJSON honours; smaller caps are raised to it.
	MinCapBytes = 128
)

// String returns s with every invalid UTF-8 byte replaced by U+FFFD and every NUL by U+2400.
// A string that needs no change is returned as is (no allocation).
func String(s string) string {
	if isSafe(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c == 0 {
				b.WriteString(NULReplacement)
			} else {
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(InvalidReplacement)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func isSafe(s string) bool {
	return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}

// Truncate returns String(s), cut at a rune boundary so that it is at most maxBytes long; a cut
// string ends with "…[truncated N bytes]" (N counts the bytes removed) and the marker is part of
// the maxBytes. When maxBytes is too small for the marker, the string is cut without one.
func Truncate(s string, maxBytes int) string {
	s = String(s)
	if len(s) <= maxBytes {
		return s
	}
	maxBytes = max(maxBytes, 0)
	// The marker's length depends on the number of digits of N ≤ len(s): reserve the most.
	keep := maxBytes - len(marker(len(s)))
	if keep < 0 {
		for maxBytes > 0 && !utf8.RuneStart(s[maxBytes]) {
			maxBytes--
		}
		return s[:maxBytes]
	}
	return cut(s, keep)
}

// marker is the suffix of a string whose last n bytes were removed.
func marker(n int) string { return "…[truncated " + strconv.Itoa(n) + " bytes]" }

// cut keeps at most keep bytes of the valid UTF-8 string s (at a rune boundary) and appends the
// marker; s is returned unchanged when it is not longer than keep.
func cut(s string, keep int) string {
	if len(s) <= keep {
		return s
	}
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:keep] + marker(len(s)-keep)
}

// JSON returns a valid JSON document equal to raw except that every string in it — object keys
// and values — went through String: invalid UTF-8 and NUL (raw or escaped as "\u0000"), and
// escaped lone surrogates (which PostgreSQL's jsonb also refuses), are replaced. A document that
// needs no change is returned as is; a changed one is re-encoded compactly with numbers kept
// verbatim and object members in their order (duplicates included). Input that is not valid
// JSON (including empty input) is returned as one JSON string holding String(raw).
func JSON(raw json.RawMessage) json.RawMessage {
	if !json.Valid(raw) {
		return quote(nil, String(string(raw)))
	}
	if jsonIsSafe(raw) {
		return raw
	}
	n, err := parse(raw)
	if err != nil { // unreachable for valid JSON; stay safe anyway
		return quote(nil, String(string(raw)))
	}
	return n.appendTo(nil, -1)
}

// jsonIsSafe reports whether the valid JSON document raw is valid UTF-8 and has no escape that
// decodes to NUL or to a lone surrogate.
func jsonIsSafe(raw []byte) bool {
	if bytes.IndexByte(raw, 0) >= 0 || !utf8.Valid(raw) {
		return false
	}
	// raw is valid JSON: a backslash only occurs inside a string and always starts an escape.
	for i := bytes.IndexByte(raw, '\\'); i >= 0; {
		if raw[i+1] != 'u' {
			i += 2
		} else {
			r := hex4(raw[i+2 : i+6])
			switch {
			case r == 0:
				return false
			case r >= 0xD800 && r < 0xDC00: // high surrogate: a low one must follow
				if i+12 > len(raw) || raw[i+6] != '\\' || raw[i+7] != 'u' {
					return false
				}
				if lo := hex4(raw[i+8 : i+12]); lo < 0xDC00 || lo >= 0xE000 {
					return false
				}
				i += 12
			case r >= 0xDC00 && r < 0xE000: // low surrogate without a high one
				return false
			default:
				i += 6
			}
		}
		j := bytes.IndexByte(raw[i:], '\\')
		if j < 0 {
			break
		}
		i += j
	}
	return true
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			r |= rune(c-'A') + 10
		}
	}
	return r
}

// CapJSON returns JSON(raw) if it is at most maxBytes long (maxBytes below MinCapBytes counts
// as MinCapBytes). Otherwise it cuts the longest string values first — all string values longer
// than a common limit are cut to it, with the largest limit that makes the document fit — each
// cut string ending with "…[truncated N bytes]". When even cutting every string value to nothing
// does not fit (a document of very many members, or huge keys), it returns a small object
// {"status":…,"message":…,"truncated":true,"originalBytes":N} keeping the top-level status and
// message strings when the original is an object that has them (the message itself cut to fit).
// The result is always valid, safe JSON of at most maxBytes.
func CapJSON(raw json.RawMessage, maxBytes int) json.RawMessage {
	if maxBytes < MinCapBytes {
		maxBytes = MinCapBytes
	}
	doc := JSON(raw)
	if len(doc) <= maxBytes {
		return doc
	}
	n, err := parse(doc)
	if err != nil { // unreachable: doc is valid JSON
		return truncatedObject(nil, len(doc), maxBytes)
	}
	if full := n.appendTo(nil, -1); len(full) <= maxBytes { // doc was merely not compact
		return full
	}
	buf := n.appendTo(nil, 0)
	if len(buf) > maxBytes {
		return truncatedObject(n, len(doc), maxBytes)
	}
	longest := n.longestString()
	// size(limit) is not strictly monotonic (a marker can be longer than what it replaces), so
	// keep the largest limit seen to fit rather than trusting the bisection's last step.
	lo, hi := 0, longest // lo fits, hi does not (no string is longer than longest)
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if len(n.appendTo(buf[:0], mid)) <= maxBytes {
			lo = mid
		} else {
			hi = mid
		}
	}
	return n.appendTo(nil, lo)
}

// truncatedObject is CapJSON's last resort.
func truncatedObject(n *node, size, maxBytes int) json.RawMessage {
	var status, message string
	var hasStatus, hasMessage bool
	if n != nil && n.kind == kindObject {
		for i, k := range n.keys {
			v := n.kids[i]
			if v.kind != kindString {
				continue
			}
			switch k {
			case "status":
				status, hasStatus = v.text, true
			case "message":
				message, hasMessage = v.text, true
			}
		}
	}
	build := func(keepStatus, keepMessage int) []byte {
		b := []byte{'{'}
		if hasStatus && keepStatus >= 0 {
			b = append(quote(append(b, `"status":`...), cut(status, keepStatus)), ',')
		}
		if hasMessage && keepMessage >= 0 {
			b = append(quote(append(b, `"message":`...), cut(message, keepMessage)), ',')
		}
		b = append(b, `"truncated":true,"originalBytes":`...)
		b = strconv.AppendInt(b, int64(size), 10)
		return append(b, '}')
	}
	for _, keep := range [][2]int{{64, 1024}, {64, 256}, {64, 0}, {64, -1}, {0, -1}, {-1, -1}} {
		if b := build(keep[0], keep[1]); len(b) <= maxBytes {
			return b
		}
	}
	return build(-1, -1) // ~50 bytes, below MinCapBytes
}

// node is a parsed JSON value with its strings already safe.
type node struct {
	kind byte
	// text is the string (kindString) or the verbatim literal (kindLiteral: numbers, true,
	// false, null).
	text string
	keys []string // kindObject
	kids []*node  // kindObject (one per key) and kindArray
}

const (
	kindLiteral byte = iota
	kindString
	kindObject
	kindArray
)

// parse reads one valid JSON document into a tree, making every string safe.
func parse(raw []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return parseValue(dec)
}

func parseValue(dec *json.Decoder) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		n := &node{kind: kindArray}
		if t == '{' {
			n.kind = kindObject
		}
		for dec.More() {
			if n.kind == kindObject {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				ks, _ := k.(string)
				n.keys = append(n.keys, String(ks))
			}
			kid, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			n.kids = append(n.kids, kid)
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
		return n, nil
	case string:
		return &node{kind: kindString, text: String(t)}, nil
	case json.Number:
		return &node{kind: kindLiteral, text: string(t)}, nil
	case bool:
		return &node{kind: kindLiteral, text: strconv.FormatBool(t)}, nil
	default: // nil
		return &node{kind: kindLiteral, text: "null"}, nil
	}
}

// longestString is the byte length of the longest string value.
func (n *node) longestString() int {
	switch n.kind {
	case kindString:
		return len(n.text)
	case kindObject, kindArray:
		m := 0
		for _, k := range n.kids {
			m = max(m, k.longestString())
		}
		return m
	}
	return 0
}

// appendTo encodes n compactly; string values longer than keep bytes are cut (keep < 0: none).
func (n *node) appendTo(b []byte, keep int) []byte {
	switch n.kind {
	case kindString:
		s := n.text
		if keep >= 0 {
			s = cut(s, keep)
		}
		return quote(b, s)
	case kindObject:
		b = append(b, '{')
		for i, k := range n.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(quote(b, k), ':')
			b = n.kids[i].appendTo(b, keep)
		}
		return append(b, '}')
	case kindArray:
		b = append(b, '[')
		for i, k := range n.kids {
			if i > 0 {
				b = append(b, ',')
			}
			b = k.appendTo(b, keep)
		}
		return append(b, ']')
	}
	return append(b, n.text...)
}

// quote appends s (valid UTF-8 without NUL) as a JSON string: quote, backslash and control
// characters are escaped, everything else (including "<", ">", "&" and non-ASCII) is written
// as is.
func quote(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Package secretbox seals credentials stored in check configurations (x-secret fields such as
// a database password) so that they are never at rest in plain text: not in PostgreSQL, not in
// Temporal histories. Values are sealed with AES-256-GCM under one key shared by the API
// servers and the workers; a sealed value is a string "cfenc:v1:<base64 nonce+ciphertext>".
package secretbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Prefix marks a sealed value.
const Prefix = "cfenc:v1:"

// KeySize is the key length in bytes (AES-256).
const KeySize = 32

// ErrNoKey means a sealed value was met without a key to open it.
var ErrNoKey = errors.New("a configuration holds an encrypted secret but no secret key is configured (set --secret-key / CHECKFLOW_SECRET_KEY to the key the API server uses)")

// Box seals and opens values with one key.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for a KeySize-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &Box{aead: aead}, nil
}

// ParseKey decodes a base64 (standard or URL, padded or not) key of KeySize bytes.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KeySize {
				return nil, fmt.Errorf("secret key must decode to %d bytes, got %d", KeySize, len(k))
			}
			return k, nil
		}
	}
	return nil, errors.New("secret key is not base64")
}

// NewKey returns a random key, base64-encoded.
func NewKey() (string, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return "", fmt.Errorf("generate secret key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(k), nil
}

// IsSealed reports whether s is a sealed value.
func IsSealed(s string) bool { return strings.HasPrefix(s, Prefix) }

// HasSealed tells whether a JSON document may hold sealed values (OpenJSON returns it as it is
// when not).
func HasSealed(raw json.RawMessage) bool { return bytes.Contains(raw, []byte(Prefix)) }

// Seal encrypts plaintext (a fresh random nonce every time).
func (b *Box) Seal(plaintext string) (string, error) {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	out := b.aead.Seal(nonce, nonce, []byte(plaintext), []byte(Prefix))
	return Prefix + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a sealed value.
func (b *Box) Open(sealed string) (string, error) {
	if !IsSealed(sealed) {
		return "", errors.New("not a sealed value")
	}
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(sealed, Prefix))
	if err != nil || len(raw) < b.aead.NonceSize() {
		return "", errors.New("sealed value is damaged")
	}
	n := b.aead.NonceSize()
	pt, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(Prefix))
	if err != nil {
		return "", errors.New("sealed value does not open with this key (was it sealed with another key?)")
	}
	return string(pt), nil
}

// OpenJSON returns raw with every sealed string anywhere in it (values, at any depth) opened.
// b may be nil: then a document with a sealed value is ErrNoKey and one without is returned as is.
func (b *Box) OpenJSON(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || !HasSealed(raw) {
		return raw, nil
	}
	if b == nil {
		return nil, ErrNoKey
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("open secrets: %w", err)
	}
	v, err := b.openAny(v)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("open secrets: %w", err)
	}
	return out, nil
}

func (b *Box) openAny(v any) (any, error) {
	switch t := v.(type) {
	case string:
		if IsSealed(t) {
			return b.Open(t)
		}
	case map[string]any:
		for k, e := range t {
			o, err := b.openAny(e)
			if err != nil {
				return nil, err
			}
			t[k] = o
		}
	case []any:
		for i, e := range t {
			o, err := b.openAny(e)
			if err != nil {
				return nil, err
			}
			t[i] = o
		}
	}
	return v, nil
}

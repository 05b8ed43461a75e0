package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/checkflow/checkflow/internal/notify"
	"github.com/checkflow/checkflow/internal/secretbox"
)

// Channel configs keep their secrets (notify.SecretFields: top-level keys such as a webhook's
// secret and headers or a Slack webhook URL) sealed with the secret box, like check configs.
// A secret's value is sealed as one string: a string value as it is, any other value (the
// headers object of a webhook) as its JSON text. Opening a secret whose JSON Schema type is not
// "string" therefore decodes the opened text back into the JSON value (notify.SecretFromText).

// channelSecretPaths lists the secret keys of a channel type as paths for the mask helpers.
func channelSecretPaths(typ string) [][]string {
	if !slices.Contains(notify.Types(), typ) {
		return nil
	}
	var out [][]string
	for _, k := range notify.SecretFields(typ) {
		out = append(out, []string{k})
	}
	return out
}

// maskChannelConfig replaces every present, non-empty secret value of a stored channel config
// with "****".
func maskChannelConfig(typ string, raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("{}")
	}
	return maskObject(raw, channelSecretPaths(typ))
}

// objectMembers decodes a JSON object into its members; ok is false for anything else.
func objectMembers(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.TrimSpace(raw)[0] != '{' {
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

// jsonString decodes a JSON string value; ok is false for any other JSON value.
func jsonString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// emptySecret reports a secret value that holds nothing to protect: null or "".
func emptySecret(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null" || string(raw) == `""`
}

// openChannelValue opens one sealed secret value of a channel config (a JSON string) into the
// plain JSON value it stands for.
func (s *Server) openChannelValue(typ, key string, sealed json.RawMessage) (json.RawMessage, error) {
	str, ok := jsonString(sealed)
	if !ok || !secretbox.IsSealed(str) {
		return sealed, nil
	}
	if s.box == nil {
		return nil, secretbox.ErrNoKey
	}
	plain, err := s.box.Open(str)
	if err != nil {
		return nil, err
	}
	if v, ok := notify.SecretFromText(typ, key, plain); ok {
		return v, nil
	}
	return json.Marshal(plain)
}

// openChannelConfig returns a stored channel config with every sealed value opened (OpenJSON)
// and every non-string secret decoded from its JSON text: the config notify.New needs.
func (s *Server) openChannelConfig(typ string, stored json.RawMessage) (json.RawMessage, error) {
	opened, err := s.box.OpenJSON(stored)
	if err != nil {
		return nil, fmt.Errorf("open the secrets of the channel config: %w", err)
	}
	return notify.SecretsFromText(typ, opened), nil
}

// channelConfig prepares a channel config sent by a client for validation and storage. stored
// is the channel's current config (nil on create): a secret sent back as "****" keeps its
// stored value. plain has every secret in clear (to validate, never to store or show); sealed
// has every non-empty secret sealed (what is stored). A secret that cannot be sealed (no secret
// key) or a mask with nothing stored is a field error "config.<key>".
func (s *Server) channelConfig(typ string, incoming, stored json.RawMessage) (plain, sealed json.RawMessage, fe []FieldError) {
	in, ok := objectMembers(incoming)
	if !ok {
		return nil, nil, []FieldError{{Field: "config", Message: "must be an object"}}
	}
	old, _ := objectMembers(stored)
	plainM := make(map[string]json.RawMessage, len(in))
	sealedM := make(map[string]json.RawMessage, len(in))
	for k, v := range in {
		plainM[k], sealedM[k] = v, v
	}
	secrets := notify.SecretFields(typ)
	sort.Strings(secrets)
	for _, k := range secrets {
		v, present := in[k]
		if !present || emptySecret(v) {
			continue
		}
		field := "config." + k
		str, isStr := jsonString(v)
		switch {
		case isStr && str == secretMask:
			prev, ok := old[k]
			if !ok || emptySecret(prev) {
				fe = append(fe, FieldError{Field: field, Message: `"****" stands for a stored secret, but none is stored; send the real value`})
				continue
			}
			opened, err := s.openChannelValue(typ, k, prev)
			if err != nil {
				fe = append(fe, secretOpenError(field, err))
				continue
			}
			plainM[k], sealedM[k] = opened, prev
		case isStr && secretbox.IsSealed(str):
			// A sealed value (from an export of this installation) is stored as it is.
			opened, err := s.openChannelValue(typ, k, v)
			if err != nil {
				fe = append(fe, secretOpenError(field, err))
				continue
			}
			plainM[k] = opened
		default:
			text := str
			if !isStr {
				var buf bytes.Buffer
				if err := json.Compact(&buf, v); err != nil {
					fe = append(fe, FieldError{Field: field, Message: "is not valid JSON"})
					continue
				}
				text = buf.String()
			}
			if s.box == nil {
				fe = append(fe, FieldError{Field: field, Message: "storing a secret needs a secret key; start the server with --secret-key / CHECKFLOW_SECRET_KEY"})
				continue
			}
			box, err := s.box.Seal(text)
			if err != nil {
				fe = append(fe, FieldError{Field: field, Message: "could not be encrypted"})
				continue
			}
			sealedM[k], _ = json.Marshal(box)
		}
	}
	if len(fe) > 0 {
		return nil, nil, fe
	}
	plain, err := json.Marshal(plainM)
	if err != nil {
		return nil, nil, []FieldError{{Field: "config", Message: "could not be encoded"}}
	}
	sealed, err = json.Marshal(sealedM)
	if err != nil {
		return nil, nil, []FieldError{{Field: "config", Message: "could not be encoded"}}
	}
	return plain, sealed, nil
}

func secretOpenError(field string, err error) FieldError {
	if errors.Is(err, secretbox.ErrNoKey) {
		return FieldError{Field: field, Message: "the stored secret cannot be opened: the server has no secret key (--secret-key / CHECKFLOW_SECRET_KEY)"}
	}
	return FieldError{Field: field, Message: "is a sealed value that does not open with the server's secret key"}
}

// plainSecrets lists the secret strings of a plain channel config (string values and the
// strings inside object values), to scrub them from error texts.
func plainSecrets(typ string, plain json.RawMessage) []string {
	m, ok := objectMembers(plain)
	if !ok {
		return nil
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			if len(x) >= 4 {
				out = append(out, x)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	for _, k := range notify.SecretFields(typ) {
		if v, ok := m[k]; ok {
			if d, ok := decodeGeneric(v); ok {
				walk(d)
			}
		}
	}
	// Longest first, so that a secret containing another is replaced whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// scrub replaces every secret in text with "****" (defence in depth: notify already redacts
// the errors it returns).
func scrub(text string, secrets []string) string {
	for _, sec := range secrets {
		text = strings.ReplaceAll(text, sec, secretMask)
	}
	return text
}

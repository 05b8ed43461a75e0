package notify

import (
	"encoding/json"
	"strings"
)

// A sealed secret is a string, so a secret whose value is not a string (a webhook's headers
// object) is sealed as its JSON text. SecretFromText and SecretsFromText undo that after the
// sealed values were opened; the API and the workers both build channels through them.

// SecretFromText returns the JSON value a secret of typ stored as text stands for: for a key
// whose schema type is not a string and whose text is valid JSON, that JSON; ok is false
// otherwise (the text is the value).
func SecretFromText(typ, key, text string) (json.RawMessage, bool) {
	spec, found := lookup(typ)
	if !found {
		return nil, false
	}
	for _, f := range spec.fields() {
		if f.name != key || !f.secret || f.kind == "string" {
			continue
		}
		t := strings.TrimSpace(text)
		if !json.Valid([]byte(t)) {
			return nil, false
		}
		return json.RawMessage(t), true
	}
	return nil, false
}

// SecretsFromText applies SecretFromText to every secret of an opened config of typ. A config
// that is not a JSON object is returned as it is (notify.New reports it).
func SecretsFromText(typ string, opened json.RawMessage) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(opened, &m) != nil || m == nil {
		return opened
	}
	changed := false
	for _, k := range SecretFields(typ) {
		var text string
		if json.Unmarshal(m[k], &text) != nil {
			continue
		}
		if v, ok := SecretFromText(typ, k, text); ok {
			m[k], changed = v, true
		}
	}
	if !changed {
		return opened
	}
	out, err := json.Marshal(m)
	if err != nil {
		return opened
	}
	return out
}

package notify

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/checkflow/checkflow/internal/health"
)

// typeSpec describes one channel type: its config fields (schema, secrets) and its builder.
type typeSpec struct {
	fields func() []fieldSpec
	build  func(config json.RawMessage, opts Options) (Channel, error)
}

// lookup returns the spec of typ. A switch rather than a map keeps the package free of
// package-level variables.
func lookup(typ string) (typeSpec, bool) {
	switch typ {
	case TypeWebhook:
		return typeSpec{fields: webhookFields, build: newWebhook}, true
	case TypeSlack:
		return typeSpec{fields: slackFields, build: newSlack}, true
	case TypeDiscord:
		return typeSpec{fields: discordFields, build: newDiscord}, true
	case TypeMSTeams:
		return typeSpec{fields: msteamsFields, build: newMSTeams}, true
	case TypePagerDuty:
		return typeSpec{fields: pagerdutyFields, build: newPagerDuty}, true
	case TypeEmail:
		return typeSpec{fields: emailFields, build: newEmail}, true
	}
	return typeSpec{}, false
}

// Types lists the channel types in a stable order.
func Types() []string {
	return []string{TypeWebhook, TypeSlack, TypeDiscord, TypeMSTeams, TypePagerDuty, TypeEmail}
}

// New validates config (plain JSON: secrets already opened) and builds the channel of typ. An
// invalid config is a *health.ValidationError whose fields are named "config.<key>"; an unknown
// type names "type".
func New(typ string, config json.RawMessage, opts Options) (Channel, error) {
	spec, ok := lookup(typ)
	if !ok {
		return nil, unknownTypeError(typ)
	}
	return spec.build(config, opts)
}

// Validate checks a config of typ without building a channel (same errors as New).
func Validate(typ string, config json.RawMessage) error {
	_, err := New(typ, config, Options{})
	return err
}

// SecretFields lists the top-level config keys of typ that are secrets (x-secret): sealed at
// rest, masked in API output, redacted from errors. An unknown type has none.
func SecretFields(typ string) []string {
	spec, ok := lookup(typ)
	if !ok {
		return nil
	}
	var out []string
	for _, f := range spec.fields() {
		if f.secret {
			out = append(out, f.name)
		}
	}
	return out
}

// ConfigSchema is the JSON Schema (draft 2020-12) of typ's config (secrets marked
// "x-secret": true); nil for an unknown type.
func ConfigSchema(typ string) json.RawMessage {
	spec, ok := lookup(typ)
	if !ok {
		return nil
	}
	return renderSchema(typ, spec.fields())
}

func unknownTypeError(typ string) error {
	shown := typ
	if len(shown) > 40 {
		shown = shown[:40] + "…"
	}
	return &health.ValidationError{Errors: []health.FieldError{{
		Field:   "type",
		Message: fmt.Sprintf("unknown channel type %q (one of %s)", shown, strings.Join(Types(), ", ")),
	}}}
}

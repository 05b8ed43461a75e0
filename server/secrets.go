package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/secretbox"
)

// secretMask replaces credentials (x-secret fields) in API output. A client that sends it back
// unchanged in a PATCH keeps the stored value.
const secretMask = "****"

// secretFields knows, per strategy and collector id (short ids and aliases), the paths of the
// config fields marked x-secret in their JSON Schemas.
type secretFields struct {
	strategies map[string][][]string
	collectors map[string][][]string
}

func newSecretFields(reg *checks.Registry) secretFields {
	sf := secretFields{strategies: map[string][][]string{}, collectors: map[string][][]string{}}
	for _, s := range reg.Strategies() {
		paths := schemaSecretPaths(s.ConfigSchema)
		for _, id := range append([]string{s.ID}, s.Aliases...) {
			sf.strategies[id] = paths
		}
		for _, c := range s.Collectors {
			cp := schemaSecretPaths(c.ConfigSchema)
			for _, id := range append([]string{c.ID}, c.Aliases...) {
				sf.collectors[id] = cp
			}
		}
	}
	return sf
}

// schemaSecretPaths lists the property paths marked "x-secret": true, descending into nested
// object properties.
func schemaSecretPaths(raw json.RawMessage) [][]string {
	var root map[string]any
	if err := json.Unmarshal(raw, &root); err != nil {
		return nil
	}
	var out [][]string
	var walk func(s map[string]any, prefix []string)
	walk = func(s map[string]any, prefix []string) {
		props, _ := s["properties"].(map[string]any)
		for name, p := range props {
			ps, ok := p.(map[string]any)
			if !ok {
				continue
			}
			path := append(append([]string(nil), prefix...), name)
			if b, _ := ps["x-secret"].(bool); b {
				out = append(out, path)
				continue
			}
			walk(ps, path)
		}
	}
	walk(root, nil)
	return out
}

func decodeGeneric(raw json.RawMessage) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	return v, true
}

// lookup returns the value at path in a decoded object.
func lookup(v any, path []string) (any, bool) {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

func setPath(v any, path []string, val any) {
	for i, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		if i == len(path)-1 {
			m[k] = val
			return
		}
		v = m[k]
	}
}

// maskObject replaces every present, non-empty secret value of a config object with "****".
func maskObject(raw json.RawMessage, paths [][]string) json.RawMessage {
	if len(paths) == 0 || len(raw) == 0 {
		return raw
	}
	v, ok := decodeGeneric(raw)
	if !ok {
		return raw
	}
	changed := false
	for _, p := range paths {
		if cur, ok := lookup(v, p); ok && cur != nil && cur != "" {
			setPath(v, p, secretMask)
			changed = true
		}
	}
	if !changed {
		return raw
	}
	out, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return out
}

// maskConfig masks a strategy config.
func (sf secretFields) maskConfig(strategyID string, raw json.RawMessage) json.RawMessage {
	return maskObject(raw, sf.strategies[strategyID])
}

// maskCollectors masks the config of every collector entry of a collectors array.
func (sf secretFields) maskCollectors(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return raw
	}
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return raw
	}
	changed := false
	for _, e := range entries {
		var id string
		_ = json.Unmarshal(e["collectorId"], &id)
		if cfg, ok := e["config"]; ok {
			if masked := maskObject(cfg, sf.collectors[id]); !bytes.Equal(masked, cfg) {
				e["config"] = masked
				changed = true
			}
		}
	}
	if !changed {
		return raw
	}
	out, err := json.Marshal(entries)
	if err != nil {
		return raw
	}
	return out
}

// restoreObject replaces "****" at secret paths of incoming with the stored value. A mask with
// no stored value to stand for is a field error (field prefix + path).
func restoreObject(incoming, stored json.RawMessage, paths [][]string, prefix string) (json.RawMessage, []FieldError) {
	if len(paths) == 0 || len(incoming) == 0 || !bytes.Contains(incoming, []byte(secretMask)) {
		return incoming, nil
	}
	v, ok := decodeGeneric(incoming)
	if !ok {
		return incoming, nil
	}
	var old any
	if len(stored) > 0 {
		old, _ = decodeGeneric(stored)
	}
	var errs []FieldError
	changed := false
	for _, p := range paths {
		cur, ok := lookup(v, p)
		if !ok || cur != secretMask {
			continue
		}
		prev, ok := lookup(old, p)
		if !ok || prev == nil || prev == "" {
			errs = append(errs, FieldError{Field: prefix + "." + strings.Join(p, "."), Message: `"****" stands for a stored secret, but none is stored; send the real value`})
			continue
		}
		setPath(v, p, prev)
		changed = true
	}
	if !changed || len(errs) > 0 {
		return incoming, errs
	}
	out, err := json.Marshal(v)
	if err != nil {
		return incoming, nil
	}
	return out, nil
}

// rejectMasks reports secret fields whose value is the mask (a create has nothing stored).
func rejectMasks(raw json.RawMessage, paths [][]string, prefix string) []FieldError {
	_, errs := restoreObject(raw, nil, paths, prefix)
	return errs
}

// sealObject seals every present, non-empty secret value of a config object that is not sealed
// yet (a value restored from "****" is). Without a box a secret value is a field error: it would
// otherwise be stored in plain text.
func (s *Server) sealObject(raw json.RawMessage, paths [][]string, prefix string) (json.RawMessage, []FieldError) {
	if len(paths) == 0 || len(raw) == 0 {
		return raw, nil
	}
	v, ok := decodeGeneric(raw)
	if !ok {
		return raw, nil
	}
	var errs []FieldError
	changed := false
	for _, p := range paths {
		cur, ok := lookup(v, p)
		str, isStr := cur.(string)
		if !ok || !isStr || str == "" || secretbox.IsSealed(str) {
			continue
		}
		if s.box == nil {
			errs = append(errs, FieldError{Field: prefix + "." + strings.Join(p, "."),
				Message: "storing a secret needs a secret key; start the server with --secret-key / CHECKFLOW_SECRET_KEY"})
			continue
		}
		sealed, err := s.box.Seal(str)
		if err != nil {
			errs = append(errs, FieldError{Field: prefix + "." + strings.Join(p, "."), Message: "could not be encrypted"})
			continue
		}
		setPath(v, p, sealed)
		changed = true
	}
	if !changed || len(errs) > 0 {
		return raw, errs
	}
	out, err := json.Marshal(v)
	if err != nil {
		return raw, []FieldError{{Field: prefix, Message: "could not be encoded"}}
	}
	return out, nil
}

// sealCheck seals the secrets of a strategy config and of every collector entry's config.
func (s *Server) sealCheck(strategyID string, config json.RawMessage, entries []checks.CollectorEntry) (json.RawMessage, []checks.CollectorEntry, []FieldError) {
	config, fe := s.sealObject(config, s.secrets.strategies[strategyID], "config")
	out := slices.Clone(entries)
	for i := range out {
		var errs []FieldError
		out[i].Config, errs = s.sealObject(out[i].Config, s.secrets.collectors[out[i].CollectorID], fmt.Sprintf("collectors[%d].config", i))
		fe = append(fe, errs...)
	}
	return config, out, fe
}

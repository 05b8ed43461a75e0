package checks

import (
	"context"
	"strings"
)

// withConfigSecrets wraps a strategy's connect step and collectors so that the values of its
// x-secret config fields (passwords, keys, tokens) never reach a result document or an error
// message: connect errors, collector errors and every collector result (strings, arrays,
// object keys and values) are masked with the platform's rules (health.MaskText /
// health.MaskJSON, "****"). Collectors receive the strategy's own client, unwrapped.
func withConfigSecrets(s *strategyDef) *strategyDef {
	var names []string
	for _, p := range s.config.Props {
		if p.Secret {
			names = append(names, p.Name)
		}
	}
	if len(names) == 0 {
		return s
	}
	inner := s.connect
	s.connect = func(ctx context.Context, cfg map[string]any) (client, error) {
		mask := newMasker(configSecretValues(cfg, names))
		c, err := inner(ctx, cfg)
		if err != nil {
			return nil, maskError(mask, err)
		}
		return &maskedClient{client: c, mask: mask}, nil
	}
	for _, cd := range s.collectors {
		collect := cd.collect
		cd.collect = func(ctx context.Context, c client, cfg map[string]any, in collectInput) (map[string]any, error) {
			mc, ok := c.(*maskedClient)
			if !ok {
				return collect(ctx, c, cfg, in)
			}
			res, err := collect(ctx, mc.client, cfg, in)
			if res != nil && mc.mask != nil {
				masked, _ := mc.mask.deep(res).(map[string]any)
				res = masked
			}
			return res, maskError(mc.mask, err)
		}
	}
	return s
}

// configSecretValues returns the values to mask for the named secret fields of a validated
// config: each value, and each line of a multi-line value (a private key) on its own.
func configSecretValues(cfg map[string]any, names []string) []string {
	var out []string
	for _, n := range names {
		v, _ := cfg[n].(string)
		if v == "" {
			continue
		}
		out = append(out, v)
		if strings.Contains(v, "\n") {
			for _, line := range strings.Split(v, "\n") {
				if line = strings.TrimSpace(line); len(line) >= 8 {
					out = append(out, line)
				}
			}
		}
	}
	return out
}

// maskedClient carries a strategy client together with the masker of its config secrets.
type maskedClient struct {
	client
	mask *masker
}

// maskedError is an error whose text has the config secrets masked out; errors.Is and
// errors.As still see the original chain (context cancellation, driver errors).
type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }

func maskError(m *masker, err error) error {
	if err == nil || m == nil {
		return err
	}
	msg := m.text(err.Error())
	if msg == err.Error() {
		return err
	}
	return &maskedError{msg: msg, err: err}
}

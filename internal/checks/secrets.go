package checks

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/checkflow/checkflow/internal/health"
)

// secretRef matches a "${{ secrets.NAME }}" reference (reference §9).
var secretRef = regexp.MustCompile(`\$\{\{\s*secrets\.([a-zA-Z0-9_-]+)\s*\}\}`)

// envNamePattern is the allowed shape of an environment variable name in env and secretEnv.
const envNamePattern = `^[a-zA-Z_][a-zA-Z0-9_]*$`

// secretEnvProp is the schema of a collector's secretEnv map.
func secretEnvProp() prop {
	return prop{
		Name: "secretEnv", Type: "object", SecretEnv: true, Title: "Secret environment",
		Description: `Environment variables whose values reference secrets, e.g. {"TOKEN": "${{ secrets.api_token }}"}. Resolved at run time and masked out of the output.`,
		Values: &prop{Type: "string", Check: func(v any) string {
			if !secretRef.MatchString(v.(string)) {
				return "must reference at least one secret as ${{ secrets.NAME }}"
			}
			return ""
		}},
		Check: checkEnvNames,
	}
}

func checkEnvNames(v any) string {
	m, _ := v.(map[string]any)
	for _, k := range sortedKeys(m) {
		if !health.ValidEnvName(k) {
			return fmt.Sprintf("invalid environment variable name %q (must match %s, at most 128 characters)", k, envNamePattern)
		}
	}
	return ""
}

// parseSecretEnv extracts the ENV -> template map of a validated collector config.
func parseSecretEnv(cfg map[string]any) map[string]string {
	raw, ok := cfg["secretEnv"].(map[string]any)
	if !ok || len(raw) == 0 {
		return nil
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		s, ok := v.(string)
		if !ok {
			return nil // an invalid mapping injects nothing (reference §9)
		}
		out[k] = s
	}
	return out
}

// resolveSecretEnv resolves every referenced secret through r and substitutes it into the
// templates (health.ResolveSecretEnv). It returns the environment and the secret values to mask.
// A missing secret is reported as "Secret not found: NAME".
func resolveSecretEnv(ctx context.Context, r SecretResolver, templates map[string]string) (map[string]string, []string, error) {
	values, err := r.Resolve(ctx, secretNames(templates))
	if err != nil {
		return nil, nil, fmt.Errorf("resolving secrets: %w", err)
	}
	env, mask, err := health.ResolveSecretEnv(templates, values)
	if err != nil {
		var nf *health.SecretNotFoundError
		if errors.As(err, &nf) {
			return nil, nil, nf
		}
		return nil, nil, err
	}
	return env, mask, nil
}

// noSecretResolverMessage is the error of a collector whose secretEnv references secrets on a
// worker that has no secret store (a probe-only worker started without --secret-store-url).
func noSecretResolverMessage(templates map[string]string) string {
	return fmt.Sprintf("Required secret not available: %s (this worker has no secret store: start probe-only workers with --secret-store-url)", strings.Join(secretNames(templates), ", "))
}

// secretNames are the distinct secrets the templates reference, in the order of their
// environment variables' names.
func secretNames(templates map[string]string) []string {
	seen := map[string]bool{}
	var names []string
	for _, k := range sortedKeys(templates) {
		for _, n := range health.SecretReferences(templates[k]) {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	return names
}

// masker masks resolved secret values out of a collector's output with the platform's
// Jenkins-style rules (health.MaskText / health.MaskJSON). A nil masker changes nothing.
type masker struct{ values []string }

func newMasker(values []string) *masker {
	if len(values) == 0 {
		return nil
	}
	return &masker{values: values}
}

func (m *masker) text(s string) string {
	if m == nil {
		return s
	}
	return health.MaskText(s, m.values)
}

func (m *masker) deep(v any) any {
	if m == nil {
		return v
	}
	return health.MaskJSON(v, m.values)
}

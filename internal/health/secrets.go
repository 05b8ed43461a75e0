package health

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf16"
)

// Masking and secretEnv constants (§9, §18).
const (
	// MaskToken replaces every occurrence of a secret value.
	MaskToken = "****"
	// MinMaskLength is the shortest value (in UTF-16 code units, like
	// JavaScript's length) that is masked; shorter values never are.
	MinMaskLength = 4
	// MaxEnvNameLength bounds a secretEnv variable name.
	MaxEnvNameLength = 128
	// MaxSecretNameLength bounds a secret name at creation.
	MaxSecretNameLength = 63
)

var (
	envNameRe    = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	secretNameRe = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_-]*$`)
	secretRefRe  = regexp.MustCompile(`\$\{\{\s*secrets\.([a-zA-Z0-9_-]+)\s*\}\}`)
)

// jsLen is the JavaScript string length (UTF-16 code units).
func jsLen(s string) int {
	n := 0
	for _, r := range s {
		n += max(utf16.RuneLen(r), 1)
	}
	return n
}

// maskValues dedupes the maskable values and orders them longest first
// (ties in byte order, for determinism).
func maskValues(secrets []string) []string {
	seen := make(map[string]bool, len(secrets))
	out := make([]string, 0, len(secrets))
	for _, s := range secrets {
		if jsLen(s) < MinMaskLength || seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		li, lj := jsLen(out[i]), jsLen(out[j])
		if li != lj {
			return li > lj
		}
		return out[i] < out[j]
	})
	return out
}

func maskWith(s string, values []string) string {
	for _, v := range values {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, MaskToken)
		}
	}
	return s
}

// MaskText replaces every literal occurrence of each secret value with
// "****" (Jenkins-style): values shorter than 4 characters are never
// masked; values are deduplicated and masked longest first. With no
// maskable value the text is returned unchanged.
func MaskText(s string, secrets []string) string {
	return maskWith(s, maskValues(secrets))
}

// MaskJSON masks a JSON-like value deeply: strings, array elements, object
// values and object keys. Keys are visited in sorted order, so when two keys
// mask to the same key the value of the larger original key wins.
// map[string]string, []string, []map[string]any and json.RawMessage are
// handled too (json.RawMessage is decoded, masked and re-encoded); numbers,
// booleans, nil and other types are returned as they are. The input is not
// modified.
func MaskJSON(v any, secrets []string) any {
	values := maskValues(secrets)
	if len(values) == 0 {
		return v
	}
	return maskAny(v, values)
}

func maskAny(v any, values []string) any {
	switch t := v.(type) {
	case string:
		return maskWith(t, values)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = maskAny(e, values)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for _, k := range sortedKeys(t) {
			out[maskWith(k, values)] = maskAny(t[k], values)
		}
		return out
	case map[string]string:
		out := make(map[string]string, len(t))
		for _, k := range sortedKeys(t) {
			out[maskWith(k, values)] = maskWith(t[k], values)
		}
		return out
	case []string:
		out := make([]string, len(t))
		for i, e := range t {
			out[i] = maskWith(e, values)
		}
		return out
	case []map[string]any:
		out := make([]map[string]any, len(t))
		for i, e := range t {
			out[i], _ = maskAny(e, values).(map[string]any)
		}
		return out
	case map[string]map[string]any:
		out := make(map[string]map[string]any, len(t))
		for _, k := range sortedKeys(t) {
			out[maskWith(k, values)], _ = maskAny(t[k], values).(map[string]any)
		}
		return out
	case json.RawMessage:
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.UseNumber()
		var x any
		if err := dec.Decode(&x); err == nil {
			if b, err := json.Marshal(maskAny(x, values)); err == nil {
				return json.RawMessage(b)
			}
		}
		return json.RawMessage(maskWith(string(t), values))
	default:
		return v
	}
}

// ScriptRunOutput is the result of a collector script run as returned to clients (§10).
type ScriptRunOutput struct {
	Result     any    `json:"result,omitempty"`
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	ExitCode   *int   `json:"exitCode,omitempty"`
	DurationMs int64  `json:"durationMs"`
	TimedOut   bool   `json:"timedOut"`
	Error      string `json:"error,omitempty"`
}

// MaskScriptRunOutput masks result deeply and stdout, stderr and error as text.
func MaskScriptRunOutput(o ScriptRunOutput, secrets []string) ScriptRunOutput {
	values := maskValues(secrets)
	if len(values) == 0 {
		return o
	}
	o.Result = maskAny(o.Result, values)
	o.Stdout = maskWith(o.Stdout, values)
	o.Stderr = maskWith(o.Stderr, values)
	o.Error = maskWith(o.Error, values)
	if o.ExitCode != nil {
		o.ExitCode = cloneInt(o.ExitCode)
	}
	return o
}

// SecretReferences returns the secret names referenced as ${{ secrets.NAME }}
// in s, in order of first appearance, without duplicates.
func SecretReferences(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range secretRefRe.FindAllStringSubmatch(s, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}

// ValidEnvName reports whether name is a valid secretEnv variable name
// (1–128 characters, ^[a-zA-Z_][a-zA-Z0-9_]*$).
func ValidEnvName(name string) bool {
	return len(name) <= MaxEnvNameLength && envNameRe.MatchString(name)
}

// ValidSecretName reports whether name is a valid secret name at creation
// (≤ 63 characters, ^[a-zA-Z][a-zA-Z0-9_-]*$).
func ValidSecretName(name string) bool {
	return len(name) <= MaxSecretNameLength && secretNameRe.MatchString(name)
}

// ParseSecretEnv validates a collector's secretEnv mapping (§9): every
// variable name is valid and every value references at least one secret
// (inline interpolation allowed). It returns, per variable, the referenced
// secret names (first-appearance order). Errors are a *ValidationError with
// one FieldError per bad entry (field "secretEnv.<NAME>"), sorted by field.
func ParseSecretEnv(m map[string]string) (map[string][]string, error) {
	out := make(map[string][]string, len(m))
	var errs []FieldError
	for _, name := range sortedKeys(m) {
		field := "secretEnv." + name
		if !ValidEnvName(name) {
			errs = append(errs, FieldError{field, fmt.Sprintf("invalid environment variable name (1–%d characters, ^[a-zA-Z_][a-zA-Z0-9_]*$)", MaxEnvNameLength)})
			continue
		}
		refs := SecretReferences(m[name])
		if len(refs) == 0 {
			errs = append(errs, FieldError{field, "must reference at least one secret as ${{ secrets.NAME }}"})
			continue
		}
		out[name] = refs
	}
	if err := newValidationError(errs); err != nil {
		return nil, err
	}
	return out, nil
}

// SecretNotFoundError reports a referenced secret that has no value.
type SecretNotFoundError struct{ Name string }

// Error is "Secret not found: NAME".
func (e *SecretNotFoundError) Error() string { return "Secret not found: " + e.Name }

// ResolveSecretEnv substitutes every ${{ secrets.NAME }} reference of a
// valid secretEnv mapping with values[NAME] (§9, central execution). It
// returns the environment and the resolved secret values to mask (sorted,
// distinct). A missing secret is a *SecretNotFoundError (wrapped); an
// invalid mapping is a *ValidationError.
func ResolveSecretEnv(secretEnv map[string]string, values map[string]string) (env map[string]string, mask []string, err error) {
	if _, err := ParseSecretEnv(secretEnv); err != nil {
		return nil, nil, fmt.Errorf("health: resolve secretEnv: %w", err)
	}
	env = make(map[string]string, len(secretEnv))
	used := map[string]bool{}
	for _, name := range sortedKeys(secretEnv) {
		var missing string
		env[name] = secretRefRe.ReplaceAllStringFunc(secretEnv[name], func(ref string) string {
			secret := secretRefRe.FindStringSubmatch(ref)[1]
			v, ok := values[secret]
			if !ok {
				if missing == "" {
					missing = secret
				}
				return ref
			}
			used[secret] = true
			return v
		})
		if missing != "" {
			return nil, nil, fmt.Errorf("health: resolve secretEnv %s: %w", name, &SecretNotFoundError{Name: missing})
		}
	}
	for _, secret := range sortedKeys(used) {
		mask = append(mask, values[secret])
	}
	sort.Strings(mask)
	return env, mask, nil
}

// SecretPlaceholder is the test-path stand-in for a secret: __SECRET_<NAME>__.
func SecretPlaceholder(name string) string { return "__SECRET_" + name + "__" }

// TestSecretEnv builds the environment of a collector-script test (§9 test
// path), which never resolves real secrets: for each ENV → template, the
// first referenced secret NAME gets overrides[NAME] when given (that value
// is added to the mask set) or else the placeholder __SECRET_<NAME>__; a
// template without a reference gets __SECRET_<ENV>__. No secretEnv entries →
// nil env (no env injected at all). mask is sorted and distinct.
func TestSecretEnv(secretEnv map[string]string, overrides map[string]string) (env map[string]string, mask []string) {
	if len(secretEnv) == 0 {
		return nil, nil
	}
	env = make(map[string]string, len(secretEnv))
	seen := map[string]bool{}
	for _, name := range sortedKeys(secretEnv) {
		refs := SecretReferences(secretEnv[name])
		if len(refs) == 0 {
			env[name] = SecretPlaceholder(name)
			continue
		}
		if v, ok := overrides[refs[0]]; ok {
			env[name] = v
			if !seen[v] {
				seen[v] = true
				mask = append(mask, v)
			}
			continue
		}
		env[name] = SecretPlaceholder(refs[0])
	}
	sort.Strings(mask)
	return env, mask
}

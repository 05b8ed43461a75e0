package jsrun

import (
	"errors"
	"fmt"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
)

// Kind is the language of a script.
type Kind string

const (
	// TypeScript scripts have their types stripped by esbuild before they run.
	TypeScript Kind = "typescript"
	// JavaScript scripts are only converted from ESM to the module form the evaluator runs.
	JavaScript Kind = "javascript"
)

// HelperModule is the one module a script may import: it exports defineHealthCheck, which
// returns its argument (reference §10, "@checkstack/healthcheck").
const HelperModule = "@checkstack/healthcheck"

// HelperFunction is the helper module's export.
const HelperFunction = "defineHealthCheck"

// sourceFile names the script in transpile errors.
const sourceFile = "script"

// tsconfig keeps every import, even one only used as a type or not at all: `import fs from "fs"`
// must fail at run time with a clear error rather than be dropped silently.
const tsconfig = `{"compilerOptions":{"verbatimModuleSyntax":true}}`

// Transpile turns an ESM script (TypeScript or JavaScript) into the CommonJS body the evaluator
// runs inside function(module, exports, require). A script without import or export whose top
// level uses return or await (the legacy form) is wrapped in an async function that becomes its
// default export. Syntax errors are returned as "line:column: message" lines.
func Transpile(kind Kind, src string) (string, error) {
	loader := api.LoaderTS
	switch kind {
	case TypeScript:
	case JavaScript:
		loader = api.LoaderJS
	default:
		return "", fmt.Errorf("unknown script kind %q", kind)
	}
	code, msgs := transform(loader, src)
	if len(msgs) == 0 {
		return code, nil
	}
	if legacyTopLevel(msgs) {
		// The body of an async function: return and await are allowed; its result is the
		// script's result. Line numbers shift by one, which the wrapper line accounts for.
		wrapped := "export default async function () {\n" + src + "\n}"
		code, wmsgs := transform(loader, wrapped)
		if len(wmsgs) == 0 {
			return code, nil
		}
		return "", transpileError(wmsgs, 1)
	}
	return "", transpileError(msgs, 0)
}

func transform(loader api.Loader, src string) (string, []api.Message) {
	r := api.Transform(src, api.TransformOptions{
		Loader:      loader,
		Format:      api.FormatCommonJS,
		Target:      api.ES2020,
		Sourcefile:  sourceFile,
		TsconfigRaw: tsconfig,
		LogLevel:    api.LogLevelSilent,
		// goja has no dynamic import: esbuild turns import("x") into a require("x") that
		// fails like a static import.
		Supported: map[string]bool{"dynamic-import": false},
	})
	return string(r.Code), r.Errors
}

// legacyTopLevel reports errors that wrapping the script in an async function fixes.
func legacyTopLevel(msgs []api.Message) bool {
	for _, m := range msgs {
		if !strings.Contains(m.Text, "Top-level return") && !strings.Contains(m.Text, "Top-level await") {
			return false
		}
	}
	return true
}

// transpileError joins esbuild's messages with their positions; shift is the number of lines
// added before the script.
func transpileError(msgs []api.Message, shift int) error {
	var b strings.Builder
	for i, m := range msgs {
		if i > 0 {
			b.WriteString("; ")
		}
		if m.Location != nil {
			fmt.Fprintf(&b, "%d:%d: ", max(m.Location.Line-shift, 1), m.Location.Column+1)
		}
		b.WriteString(m.Text)
	}
	return errors.New("script does not compile: " + b.String())
}

package automation

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"google.golang.org/protobuf/types/known/structpb"
)

// CEL limits.
const (
	// MaxEvalCost bounds one evaluation (CEL's cost units: roughly one per operation, a string
	// or list operation per element). A filter over a check's result map stays far below it; an
	// expression that exceeds it is an evaluation error.
	MaxEvalCost = 100_000
)

// Expression fields, as named in errors.
const (
	FieldFilter      = "trigger.filter"
	FieldPartitionBy = "trigger.window.partitionBy"
)

// Compiler compiles and type-checks automation expressions (CEL, github.com/google/cel-go)
// against the payload schemas of Events. Each event has its own CEL environment in which the
// variable trigger has two fields: event (string) and payload (a struct with exactly the
// event's payload fields, see EventDefinition). A reference to a field that is not in the schema
// (trigger.payload.foo), a syntax error or a type error (trigger.payload.healthyChecks ==
// "x") is a compile error with its position. Cross-type numeric comparisons are allowed
// (trigger.payload.latencyMs > 1.5).
//
// Build one Compiler per process and keep it (NewCompiler takes about 0.1 ms, a filter compiles
// in about 30 µs): it is immutable and safe for concurrent use, as are the Expressions and
// Automations it returns.
type Compiler struct {
	envs map[string]*cel.Env // by event type; never written after NewCompiler
}

// NewCompiler builds the CEL environments of all trigger events.
func NewCompiler() (*Compiler, error) {
	c := &Compiler{envs: make(map[string]*cel.Env)}
	for _, def := range Events() {
		payload := newSchemaType(payloadTypeName(def.Event), def)
		trigger := newTriggerType(payload)
		env, err := cel.NewEnv(
			cel.Types(trigger, payload),
			cel.Variable("trigger", types.NewObjectType(trigger.name)),
			cel.CrossTypeNumericComparisons(true),
			cel.ParserExpressionSizeLimit(MaxExpressionLength),
		)
		if err != nil {
			return nil, fmt.Errorf("automation: CEL environment of %s: %w", def.Event, err)
		}
		c.envs[def.Event] = env
	}
	return c, nil
}

// payloadTypeName is the CEL type name of an event's payload: "checkflow.SystemDegradedPayload".
func payloadTypeName(event string) string {
	local := strings.TrimPrefix(event, "healthcheck.")
	var b strings.Builder
	b.WriteString("checkflow.")
	for _, part := range strings.Split(local, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	b.WriteString("Payload")
	return b.String()
}

// Expression is a compiled, type-checked CEL expression of one trigger event. Evaluating it
// costs no parsing or checking: compile once, evaluate many times.
type Expression struct {
	source string
	event  string
	field  string
	isBool bool
	prog   cel.Program
}

// Source returns the expression's text.
func (e *Expression) Source() string { return e.source }

// Event returns the trigger event the expression was checked against.
func (e *Expression) Event() string { return e.event }

// Filter compiles a filter of event: it must type-check against the event's payload schema and
// have type bool (or dyn, checked when evaluated). Errors are a *ValidationError on
// "trigger.filter" with the line and column of each problem.
func (c *Compiler) Filter(event, source string) (*Expression, error) {
	return c.compile(event, source, FieldFilter, true)
}

// PartitionBy compiles a window partitionBy expression of event: it must type-check; its value
// may have any type (it is turned into a string when evaluated). Errors are a
// *ValidationError on "trigger.window.partitionBy".
func (c *Compiler) PartitionBy(event, source string) (*Expression, error) {
	return c.compile(event, source, FieldPartitionBy, false)
}

func (c *Compiler) compile(event, source, field string, wantBool bool) (*Expression, error) {
	var errs fieldErrs
	env, ok := c.envs[event]
	if !ok {
		errs.add("trigger.event", "must be one of %s", strings.Join(EventTypes(), ", "))
		return nil, errs.err()
	}
	source = strings.TrimSpace(source)
	if source == "" {
		errs.add(field, "must not be empty")
		return nil, errs.err()
	}
	ast, iss := env.Compile(source)
	if iss != nil && iss.Err() != nil {
		def, _ := LookupEvent(event)
		for _, e := range iss.Errors() {
			msg := e.Message
			if strings.HasPrefix(msg, "undefined field") {
				msg += fmt.Sprintf(" (trigger has event and payload; the payload of %s has %s)",
					event, strings.Join(def.FieldNames(), ", "))
			}
			errs = append(errs, FieldError{Field: field, Detail: msg,
				Line: e.Location.Line(), Column: e.Location.Column() + 1})
		}
		return nil, errs.err()
	}
	out := ast.OutputType()
	if wantBool && !out.IsExactType(types.BoolType) && !out.IsExactType(types.DynType) {
		loc := ast.NativeRep().SourceInfo().GetStartLocation(ast.NativeRep().Expr().ID())
		errs = append(errs, FieldError{Field: field, Line: loc.Line(), Column: loc.Column() + 1,
			Detail: fmt.Sprintf("must evaluate to a bool, not %s", out)})
		return nil, errs.err()
	}
	prog, err := env.Program(ast, cel.CostLimit(MaxEvalCost))
	if err != nil {
		errs.add(field, "cannot be evaluated: %s", err.Error())
		return nil, errs.err()
	}
	return &Expression{source: source, event: event, field: field, isBool: wantBool, prog: prog}, nil
}

// EvalError is a failed evaluation: a runtime error (a missing optional field, a division by
// zero, the cost limit) or a filter whose value is not a bool.
type EvalError struct {
	// Field is "trigger.filter" or "trigger.window.partitionBy".
	Field string
	// Source is the expression.
	Source string
	// Err says what went wrong.
	Err error
}

// Error renders "<field> `<source>`: <err>".
func (e *EvalError) Error() string {
	return fmt.Sprintf("automation: %s `%s`: %v", e.Field, e.Source, e.Err)
}

// Unwrap returns the cause.
func (e *EvalError) Unwrap() error { return e.Err }

// activation is what an expression sees: trigger = {event, payload}.
func activation(event string, payload map[string]any) map[string]any {
	if payload == nil {
		payload = map[string]any{}
	}
	return map[string]any{"trigger": map[string]any{"event": event, "payload": payload}}
}

// Matches evaluates a filter over a payload of its event. A result that is not a bool and any
// runtime error are an *EvalError. The payload is read, never modified; numbers may be any Go
// number or json.Number.
func (e *Expression) Matches(payload map[string]any) (bool, error) {
	v, err := e.eval(payload)
	if err != nil {
		return false, err
	}
	b, ok := v.(types.Bool)
	if !ok {
		return false, &EvalError{Field: e.field, Source: e.source, Err: fmt.Errorf("the value is %s, not a bool", v.Type().TypeName())}
	}
	return bool(b), nil
}

// Value evaluates an expression over a payload of its event and returns its value as plain Go:
// nil, bool, int64, uint64, float64, string, []byte, or for lists and maps []any and
// map[string]any (JSON-like, numbers float64). A runtime error is an *EvalError.
func (e *Expression) Value(payload map[string]any) (any, error) {
	v, err := e.eval(payload)
	if err != nil {
		return nil, err
	}
	switch t := v.(type) {
	case types.Null:
		return nil, nil
	case types.String:
		return string(t), nil
	case types.Bool:
		return bool(t), nil
	case types.Int:
		return int64(t), nil
	case types.Uint:
		return uint64(t), nil
	case types.Double:
		return float64(t), nil
	case types.Bytes:
		return []byte(t), nil
	}
	native, err := v.ConvertToNative(reflect.TypeOf(&structpb.Value{}))
	if err != nil {
		return nil, &EvalError{Field: e.field, Source: e.source, Err: fmt.Errorf("the value (%s) has no JSON form: %w", v.Type().TypeName(), err)}
	}
	return native.(*structpb.Value).AsInterface(), nil
}

func (e *Expression) eval(payload map[string]any) (ref.Val, error) {
	v, _, err := e.prog.Eval(activation(e.event, payload))
	if err != nil {
		return nil, &EvalError{Field: e.field, Source: e.source, Err: err}
	}
	if types.IsError(v) {
		return nil, &EvalError{Field: e.field, Source: e.source, Err: v.(*types.Err)}
	}
	return v, nil
}

// ---- struct types backed by payload maps ----------------------------------------------------

// schemaType is a CEL struct type whose values are map[string]any (the decoded JSON of a
// trigger): the checker sees exactly the declared fields with their types; at run time a field
// is read from the map and converted to its declared type.
type schemaType struct {
	name   string
	names  []string
	fields map[string]*types.FieldType // never written after construction
}

var _ types.StructTypeDescriptor = (*schemaType)(nil)

func newSchemaType(name string, def EventDefinition) *schemaType {
	t := &schemaType{name: name, fields: make(map[string]*types.FieldType)}
	for _, f := range def.Fields {
		t.names = append(t.names, f.Name)
		t.fields[f.Name] = mapField(f, celType(f.Type))
	}
	return t
}

// newTriggerType is the type of the variable trigger: {event string, payload <payload type>}.
func newTriggerType(payload *schemaType) *schemaType {
	t := &schemaType{name: "checkflow.Trigger", names: []string{"event", "payload"}, fields: make(map[string]*types.FieldType)}
	t.fields["event"] = mapField(PayloadField{Name: "event", Type: TypeString}, types.StringType)
	t.fields["payload"] = &types.FieldType{
		Type:  types.NewObjectType(payload.name),
		IsSet: func(target any) bool { return true },
		GetFrom: func(target any) (any, error) {
			m, _ := target.(map[string]any)
			p, _ := m["payload"].(map[string]any)
			if p == nil {
				p = map[string]any{}
			}
			return p, nil
		},
	}
	return t
}

func celType(t FieldType) *types.Type {
	switch t {
	case TypeInt:
		return types.IntType
	case TypeDouble:
		return types.DoubleType
	case TypeMap:
		return types.NewMapType(types.StringType, types.DynType)
	}
	return types.StringType // string, status, timestamp
}

// mapField reads field f from a map[string]any target. An absent or null field is not set; it
// is an evaluation error to read it (use has() for optional fields). A value of the wrong type
// is an evaluation error too.
func mapField(f PayloadField, typ *types.Type) *types.FieldType {
	return &types.FieldType{
		Type: typ,
		IsSet: func(target any) bool {
			m, _ := target.(map[string]any)
			v, ok := m[f.Name]
			return ok && v != nil
		},
		GetFrom: func(target any) (any, error) {
			m, _ := target.(map[string]any)
			v, ok := m[f.Name]
			if !ok || v == nil {
				if f.Optional {
					return nil, fmt.Errorf("no such field '%s' (it is optional: test has(trigger.payload.%s) first)", f.Name, f.Name)
				}
				return nil, fmt.Errorf("no such field '%s'", f.Name)
			}
			out, err := convertField(f, v)
			if err != nil {
				return nil, fmt.Errorf("field '%s' %w", f.Name, err)
			}
			return out, nil
		},
	}
}

// HasTrait implements ref.Type: values support field selection and presence tests.
func (t *schemaType) HasTrait(trait int) bool {
	return trait == traits.FieldTesterType || trait == traits.IndexerType
}

// TypeName implements ref.Type.
func (t *schemaType) TypeName() string { return t.name }

// ReflectType implements types.StructTypeDescriptor: the values are maps, not a Go struct.
func (t *schemaType) ReflectType() reflect.Type { return nil }

// FieldNames implements types.StructTypeDescriptor.
func (t *schemaType) FieldNames() []string { return append([]string(nil), t.names...) }

// FindFieldType implements types.StructTypeDescriptor.
func (t *schemaType) FindFieldType(name string) (*types.FieldType, bool) {
	f, ok := t.fields[name]
	return f, ok
}

// NewValue implements types.StructTypeDescriptor: expressions cannot build triggers.
func (t *schemaType) NewValue(types.Adapter, map[string]ref.Val) ref.Val {
	return types.NewErr("%s cannot be constructed in an expression", t.name)
}

// Adapt implements types.StructTypeDescriptor; the registry only calls it for Go values of
// ReflectType, which this type has none of.
func (t *schemaType) Adapt(adapter types.Adapter, value any) ref.Val {
	if m, ok := value.(map[string]any); ok {
		return adapter.NativeToValue(m)
	}
	return types.NewErr("%s: unsupported value %T", t.name, value)
}

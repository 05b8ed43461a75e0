// Package searchattrs defines checkflow's custom Temporal search attributes (design.md §3) and
// registers the missing ones in a namespace. It depends on the SDK only, so that workers and the
// embedded dev server share one definition without linking the Temporal server.
package searchattrs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// Names of checkflow's custom search attributes.
const (
	SystemID      = "CheckflowSystemId"
	Health        = "CheckflowHealth"
	FailingChecks = "CheckflowFailingChecks"
	AutomationID  = "CheckflowAutomationId"
)

// All returns checkflow's custom search attributes and their types.
func All() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		SystemID:      enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		Health:        enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		FailingChecks: enumspb.INDEXED_VALUE_TYPE_INT,
		AutomationID:  enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}

// MissingError says that a namespace lacks search attributes and that this client may not add
// them: an operator has to, with the command of Command.
type MissingError struct {
	// Namespace is the namespace that lacks them.
	Namespace string
	// Missing are the attributes to create (all of them when the client may not even list them).
	Missing map[string]enumspb.IndexedValueType
	// Address is the Temporal frontend, for the command (may be empty).
	Address string
	// Err is why they could not be added (typically PermissionDenied).
	Err error
}

func (e *MissingError) Error() string {
	why := "refused"
	var unimplemented *serviceerror.Unimplemented
	if errors.As(e.Err, &unimplemented) {
		why = "operator service not offered"
	} else {
		var denied *serviceerror.PermissionDenied
		if errors.As(e.Err, &denied) {
			why = "permission denied"
		}
	}
	return fmt.Sprintf("namespace %s lacks the search attribute(s) %s and this client may not create them (%s: %v); run: %s",
		e.Namespace, strings.Join(sortedNames(e.Missing), ", "), why, e.Err, e.Command())
}

func (e *MissingError) Unwrap() error { return e.Err }

// Command is the Temporal CLI command that creates the missing attributes.
func (e *MissingError) Command() string {
	var b strings.Builder
	b.WriteString("temporal operator search-attribute create")
	if e.Address != "" {
		b.WriteString(" --address " + e.Address)
	}
	b.WriteString(" --namespace " + e.Namespace)
	for _, name := range sortedNames(e.Missing) {
		b.WriteString(" --name " + name + " --type " + typeName(e.Missing[name]))
	}
	return b.String()
}

// typeName is the CLI's name of a search attribute type ("Keyword", "Int").
func typeName(t enumspb.IndexedValueType) string {
	switch t {
	case enumspb.INDEXED_VALUE_TYPE_TEXT:
		return "Text"
	case enumspb.INDEXED_VALUE_TYPE_KEYWORD:
		return "Keyword"
	case enumspb.INDEXED_VALUE_TYPE_INT:
		return "Int"
	case enumspb.INDEXED_VALUE_TYPE_DOUBLE:
		return "Double"
	case enumspb.INDEXED_VALUE_TYPE_BOOL:
		return "Bool"
	case enumspb.INDEXED_VALUE_TYPE_DATETIME:
		return "Datetime"
	case enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST:
		return "KeywordList"
	default:
		return t.String()
	}
}

func sortedNames(m map[string]enumspb.IndexedValueType) []string {
	return slices.Sorted(maps.Keys(m))
}

// Options tune Ensure; the zero value is fine.
type Options struct {
	// Address is the Temporal frontend, only used in the command of a MissingError.
	Address string
	// Attributes to ensure; default All().
	Attributes map[string]enumspb.IndexedValueType
	// UsableTimeout bounds the wait until added attributes can be used; default 1 minute.
	UsableTimeout time.Duration
	// PollInterval is the pause between usability probes and add retries; default 250 ms.
	PollInterval time.Duration
}

// Ensure registers those of checkflow's search attributes that namespace lacks, through the
// operator service, and waits until workflows can use them. It is idempotent and safe to call
// from several workers at once. It returns the names it added (nil when none were missing).
//
// When the client may not add them (PermissionDenied, or an operator service that is not
// offered, as on Temporal Cloud), the error is a *MissingError naming them and the command to
// run. A client that may not list them only verifies that they can be used.
func Ensure(ctx context.Context, c client.Client, namespace string, opts Options) ([]string, error) {
	if opts.Attributes == nil {
		opts.Attributes = All()
	}
	if opts.UsableTimeout <= 0 {
		opts.UsableTimeout = time.Minute
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 250 * time.Millisecond
	}
	var added []string
	// A concurrent AddSearchAttributes of another worker can make ours fail with a transient
	// "mapping unavailable": list again and retry a few times.
	for attempt := 0; ; attempt++ {
		missing, err := missingAttributes(ctx, c, namespace, opts.Attributes)
		if notAllowed(err) {
			// This client may not list them: find out whether they work at all.
			probeErr := usable(ctx, c, namespace, opts.Attributes)
			var invalid *serviceerror.InvalidArgument
			switch {
			case probeErr == nil:
				return nil, nil
			case errors.As(probeErr, &invalid): // an unknown attribute in the query
				return nil, &MissingError{Namespace: namespace, Missing: opts.Attributes, Address: opts.Address, Err: err}
			default:
				return nil, fmt.Errorf("%w; probing the search attributes instead: %w", err, probeErr)
			}
		}
		if err != nil {
			return nil, err
		}
		if len(missing) == 0 {
			break
		}
		_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace: namespace, SearchAttributes: missing,
		})
		if notAllowed(err) {
			return nil, &MissingError{Namespace: namespace, Missing: missing, Address: opts.Address, Err: err}
		}
		if err == nil {
			added = sortedNames(missing)
			break
		}
		var unavailable *serviceerror.Unavailable
		if !errors.As(err, &unavailable) || attempt >= 4 {
			return nil, fmt.Errorf("add search attributes %s to namespace %s: %w", strings.Join(sortedNames(missing), ", "), namespace, err)
		}
		if err := pause(ctx, opts.PollInterval); err != nil {
			return nil, err
		}
	}
	if len(added) == 0 {
		return nil, nil
	}
	// A new attribute reaches the frontends' caches (namespace registry, search attribute
	// cache) some seconds later; until then every start that sets it fails.
	wctx, cancel := context.WithTimeout(ctx, opts.UsableTimeout)
	defer cancel()
	for {
		err := usable(wctx, c, namespace, opts.Attributes)
		if err == nil {
			return added, nil
		}
		if perr := pause(wctx, opts.PollInterval); perr != nil {
			return added, fmt.Errorf("search attributes %s added to namespace %s but not usable after %s: %w",
				strings.Join(added, ", "), namespace, opts.UsableTimeout, err)
		}
	}
}

// missingAttributes lists the namespace's custom search attributes and returns those of want
// it lacks; one that exists with another type is an error no registration can fix.
func missingAttributes(ctx context.Context, c client.Client, namespace string, want map[string]enumspb.IndexedValueType) (map[string]enumspb.IndexedValueType, error) {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("list search attributes of namespace %s: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range want {
		got, ok := resp.GetCustomAttributes()[name]
		if !ok {
			got, ok = resp.GetSystemAttributes()[name]
		}
		switch {
		case !ok:
			missing[name] = typ
		case got != typ:
			return nil, fmt.Errorf("search attribute %s of namespace %s has type %s, checkflow needs %s: remove it or use another namespace",
				name, namespace, typeName(got), typeName(typ))
		}
	}
	return missing, nil
}

// usable runs a visibility query on every attribute: the frontend resolves them with the same
// caches as it validates a workflow start's attributes with.
func usable(ctx context.Context, c client.Client, namespace string, attrs map[string]enumspb.IndexedValueType) error {
	terms := make([]string, 0, len(attrs))
	for _, name := range sortedNames(attrs) {
		switch attrs[name] {
		case enumspb.INDEXED_VALUE_TYPE_INT, enumspb.INDEXED_VALUE_TYPE_DOUBLE:
			terms = append(terms, name+" = 0")
		default:
			terms = append(terms, name+" = ''")
		}
	}
	_, err := c.WorkflowService().CountWorkflowExecutions(ctx, &workflowservice.CountWorkflowExecutionsRequest{
		Namespace: namespace, Query: strings.Join(terms, " OR "),
	})
	return err
}

// notAllowed reports whether err says that this client may not use the operator call.
func notAllowed(err error) bool {
	var denied *serviceerror.PermissionDenied
	var unimplemented *serviceerror.Unimplemented
	return errors.As(err, &denied) || errors.As(err, &unimplemented)
}

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

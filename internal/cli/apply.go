package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/checkflow/checkflow/internal/apiclient"
	"github.com/checkflow/checkflow/internal/manifest"
)

// DefaultContext is the GitOps context of apply without --context.
const DefaultContext = "default"

const applyUsage = "apply -f <file|dir> [--dry-run] [--prune] [--context NAME] [--detailed-exitcode] [--server URL] [--token TOKEN]"

// ApplyOptions configures ApplyManifests.
type ApplyOptions struct {
	// Path is a manifest file or directory.
	Path string
	// Files are manifests given directly (used when Path is "").
	Files   []manifest.File
	DryRun  bool
	Prune   bool
	Context string
}

// ApplyResult is what an apply planned and did.
type ApplyResult struct {
	Plan manifest.Plan
	// Applied is false for a dry run.
	Applied bool
}

// Apply is `checkflow apply`. It returns ExitChanges for a dry run with --detailed-exitcode
// whose plan has changes.
func Apply(ctx context.Context, args []string, env Env) (int, error) {
	fs := newFlagSet("apply", env, applyUsage)
	var c conn
	c.register(fs)
	var o ApplyOptions
	var detailed bool
	fs.StringVar(&o.Path, "f", "", "manifest file or directory (every *.yaml and *.yml under it)")
	fs.BoolVar(&o.DryRun, "dry-run", false, "print the plan, change nothing")
	fs.BoolVar(&o.Prune, "prune", false, "delete the objects this context manages that no manifest names any more")
	fs.StringVar(&o.Context, "context", DefaultContext, "GitOps context: applied objects are marked managed by it; prune only touches its objects")
	fs.BoolVar(&detailed, "detailed-exitcode", false, "with --dry-run: exit 2 when the plan has changes, 0 when it has none")
	if err := fs.Parse(args); err != nil {
		return ExitError, err
	}
	if o.Path == "" {
		return ExitError, errors.New("-f <file|dir> is required")
	}
	if fs.NArg() > 0 {
		return ExitError, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	cl, err := c.client(env)
	if err != nil {
		return ExitError, err
	}
	loader := manifest.Loader{LookupEnv: env.LookupEnv}
	res, err := ApplyManifests(ctx, cl, loader, o, env)
	if err != nil {
		return ExitError, err
	}
	if o.DryRun && detailed && res.Plan.HasChanges() {
		return ExitChanges, nil
	}
	return ExitOK, nil
}

// ApplyManifests loads the manifests, plans them against the server, prints the plan to
// env.Stdout and, unless DryRun, applies it through the API (writes are sent with the force
// header: the token needs the admin scope) and marks what it wrote as managed by the context.
func ApplyManifests(ctx context.Context, cl *apiclient.Client, loader manifest.Loader, o ApplyOptions, env Env) (ApplyResult, error) {
	if o.Context == "" {
		o.Context = DefaultContext
	}
	var desired *manifest.State
	var err error
	if o.Path != "" {
		desired, err = loader.LoadPath(o.Path)
	} else {
		desired, err = loader.Load(o.Files...)
	}
	if err != nil {
		return ApplyResult{}, fmt.Errorf("invalid manifests:\n%w", err)
	}
	remote, err := FetchRemote(ctx, cl)
	if err != nil {
		return ApplyResult{}, err
	}
	if err := conflicts(desired, remote, o.Context); err != nil {
		return ApplyResult{}, err
	}
	managed := remote.Managed(o.Context)
	// A system named by a channel, window or automation but by no manifest must exist on the
	// server, and not be pruned by this apply.
	err = manifest.CheckExternalRefs(desired, func(id string) bool {
		_, ok := remote.State.Systems[id]
		return ok && !(o.Prune && managed.Has(manifest.KindSystem, id))
	})
	if err != nil {
		return ApplyResult{}, fmt.Errorf("invalid manifests:\n%w", err)
	}
	plan := manifest.Diff(desired, remote.State, managed, o.Prune)
	if err := manifest.CheckWindows(plan, desired, time.Now()); err != nil {
		return ApplyResult{}, fmt.Errorf("invalid manifests:\n%w", err)
	}
	if o.DryRun {
		fmt.Fprintf(env.Stdout, "Plan for context %q (dry run):\n", o.Context)
	} else {
		fmt.Fprintf(env.Stdout, "Plan for context %q:\n", o.Context)
	}
	if err := plan.WriteText(env.Stdout); err != nil {
		return ApplyResult{}, err
	}
	res := ApplyResult{Plan: plan}
	if o.DryRun {
		return res, nil
	}
	fc := *cl
	fc.Force = true
	a := &applier{cl: &fc, desired: desired, remote: remote, context: o.Context}
	if err := a.run(ctx, plan); err != nil {
		return res, err
	}
	res.Applied = true
	if plan.HasChanges() || a.adopted > 0 {
		fmt.Fprintf(env.Stdout, "Applied: %d created, %d updated, %d deleted", plan.Count(manifest.ActionCreate), plan.Count(manifest.ActionUpdate), plan.Count(manifest.ActionDelete))
		if a.adopted > 0 {
			fmt.Fprintf(env.Stdout, ", %d existing objects now managed by %q", a.adopted, o.Context)
		}
		fmt.Fprintln(env.Stdout, ".")
	}
	return res, nil
}

// conflicts refuses manifests naming objects another context manages, or checks whose name
// several server checks share.
func conflicts(desired *manifest.State, remote *Remote, context string) error {
	var problems []string
	for _, name := range sortedNames(desired.Checks) {
		if ids := remote.Duplicates[name]; len(ids) > 0 {
			problems = append(problems, fmt.Sprintf("%s: Healthcheck %q: %d checks on the server have this name (%s); rename all but one",
				desired.Checks[name].Pos, name, len(ids), strings.Join(ids, ", ")))
		}
		if src := remote.Source(manifest.KindHealthcheck, name); src != "" && src != context {
			problems = append(problems, fmt.Sprintf("%s: Healthcheck %q is managed by context %q, not %q", desired.Checks[name].Pos, name, src, context))
		}
	}
	for _, id := range sortedNames(desired.Systems) {
		if src := remote.Source(manifest.KindSystem, id); src != "" && src != context {
			problems = append(problems, fmt.Sprintf("%s: System %q is managed by context %q, not %q", desired.Systems[id].Pos, id, src, context))
		}
	}
	problems = append(problems, kindConflicts(desired, remote, context)...)
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type applier struct {
	cl      *apiclient.Client
	desired *manifest.State
	remote  *Remote
	context string
	adopted int
}

func (a *applier) mark(ctx context.Context, kind manifest.Kind, name, id string) error {
	if a.remote.Source(kind, name) == a.context {
		return nil
	}
	if err := a.cl.SetProvenance(ctx, string(kind), id, a.context); err != nil {
		return fmt.Errorf("mark %s %q as managed by %q: %w", kind, name, a.context, err)
	}
	a.remote.Sources[string(kind)+"/"+name] = a.context
	return nil
}

func checkInput(c *manifest.Check) apiclient.CheckInput {
	cfg, _ := manifest.PlainValue(c.Config).(map[string]any)
	if cfg == nil {
		cfg = map[string]any{}
	}
	return apiclient.CheckInput{Name: c.Name, StrategyID: c.Strategy, Config: cfg, Collectors: c.CollectorEntries(), IntervalSeconds: c.IntervalSeconds}
}

func (a *applier) run(ctx context.Context, plan manifest.Plan) error {
	// Checks first: systems reference them.
	for _, ch := range plan.Changes {
		if ch.Kind != manifest.KindHealthcheck {
			continue
		}
		want := a.desired.Checks[ch.Name]
		switch ch.Action {
		case manifest.ActionCreate:
			in := checkInput(want)
			if want.Paused {
				p := true
				in.Paused = &p
			}
			created, err := a.cl.CreateCheck(ctx, in)
			if err != nil {
				return fmt.Errorf("%s: create Healthcheck %q: %w", want.Pos, ch.Name, err)
			}
			a.remote.CheckIDs[ch.Name] = created.ID
			if err := a.mark(ctx, manifest.KindHealthcheck, ch.Name, created.ID); err != nil {
				return err
			}
		case manifest.ActionUpdate:
			id := a.remote.CheckIDs[ch.Name]
			fields := ch.FieldNames()
			if len(fields) > 1 || (len(fields) == 1 && fields[0] != "paused") {
				if _, err := a.cl.UpdateCheck(ctx, id, checkInput(want)); err != nil {
					return fmt.Errorf("%s: update Healthcheck %q: %w", want.Pos, ch.Name, err)
				}
			}
			if contains(fields, "paused") {
				if _, err := a.cl.SetPaused(ctx, id, want.Paused); err != nil {
					return fmt.Errorf("%s: pause/resume Healthcheck %q: %w", want.Pos, ch.Name, err)
				}
			}
			if err := a.mark(ctx, manifest.KindHealthcheck, ch.Name, id); err != nil {
				return err
			}
		case manifest.ActionUnchanged:
			if a.remote.Source(manifest.KindHealthcheck, ch.Name) == "" {
				a.adopted++
			}
			if err := a.mark(ctx, manifest.KindHealthcheck, ch.Name, a.remote.CheckIDs[ch.Name]); err != nil {
				return err
			}
		}
	}
	for _, ch := range plan.Changes {
		if ch.Kind != manifest.KindSystem || ch.Action == manifest.ActionDelete || ch.Action == manifest.ActionKept {
			continue
		}
		want := a.desired.Systems[ch.Name]
		in := apiclient.SystemInput{ID: want.ID, Name: want.Name, Description: want.Description, Labels: want.Labels}
		switch ch.Action {
		case manifest.ActionCreate:
			if _, err := a.cl.CreateSystem(ctx, in); err != nil {
				return fmt.Errorf("%s: create System %q: %w", want.Pos, ch.Name, err)
			}
		case manifest.ActionUpdate:
			if ch.SystemChanged {
				if _, err := a.cl.UpdateSystem(ctx, want.ID, in); err != nil {
					return fmt.Errorf("%s: update System %q: %w", want.Pos, ch.Name, err)
				}
			}
		case manifest.ActionUnchanged:
			if a.remote.Source(manifest.KindSystem, ch.Name) == "" {
				a.adopted++
			}
		}
		if err := a.mark(ctx, manifest.KindSystem, want.ID, want.ID); err != nil {
			return err
		}
		for _, check := range ch.Assign {
			as := assignmentOf(want, check)
			in := apiclient.AssignmentInput{Enabled: as.Enabled, StateThresholds: as.Thresholds, NotificationPolicy: as.NotificationPolicy, Locations: as.Locations, Quorum: as.Quorum}
			if err := a.cl.PutAssignment(ctx, want.ID, a.remote.CheckIDs[check], in); err != nil {
				return fmt.Errorf("%s: assign Healthcheck %q to System %q: %w", as.Pos, check, want.ID, err)
			}
		}
		for _, check := range ch.Unassign {
			id := a.remote.CheckIDs[check]
			if err := a.cl.DeleteAssignment(ctx, want.ID, id); err != nil && !apiclient.IsStatus(err, 404) {
				return fmt.Errorf("%s: remove Healthcheck %q from System %q: %w", want.Pos, check, want.ID, err)
			}
		}
	}
	// Channels, maintenance windows and automations reference systems and checks.
	if err := a.applyKinds(ctx, plan); err != nil {
		return err
	}
	// Deletes: an object before the objects it references (automations, windows, channels,
	// systems, checks).
	kinds := manifest.Kinds()
	slices.Reverse(kinds)
	for _, kind := range kinds {
		for _, ch := range plan.Changes {
			if ch.Kind != kind || ch.Action != manifest.ActionDelete {
				continue
			}
			if err := a.deleteKind(ctx, kind, ch.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

func assignmentOf(s *manifest.System, check string) manifest.Assignment {
	for _, a := range s.Healthchecks {
		if a.Check == check {
			return a
		}
	}
	return manifest.Assignment{Check: check, Enabled: true}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

const exportUsage = "export [-o DIR] [--server URL] [--token TOKEN]"

// Export is `checkflow export`: the server's checks, systems, notification channels,
// maintenance windows (but ended ones) and automations as manifests, to stdout or to files
// under DIR (see manifest.Export). Secret values are never written.
func Export(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("export", env, exportUsage)
	var c conn
	c.register(fs)
	var dir string
	fs.StringVar(&dir, "o", "", "write the manifests into this directory (default: stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cl, err := c.client(env)
	if err != nil {
		return err
	}
	remote, err := FetchRemote(ctx, cl)
	if err != nil {
		return err
	}
	if len(remote.Duplicates) > 0 {
		var names []string
		for n := range remote.Duplicates {
			names = append(names, fmt.Sprintf("%q", n))
		}
		sort.Strings(names)
		return fmt.Errorf("several checks share the names %s: a manifest names a check by its name; rename them first", strings.Join(names, ", "))
	}
	for _, kind := range manifest.Kinds() {
		if dups := remote.DuplicateNames[kind]; len(dups) > 0 {
			return fmt.Errorf("several %s objects share the names %s: a manifest names them by name; rename them first", kind, strings.Join(quotedKeys(dups), ", "))
		}
	}
	state, ended := remote.State.WithoutEndedWindows(time.Now())
	files, refs, err := manifest.Export(state)
	if err != nil {
		return err
	}
	if dir == "" {
		for i, f := range files {
			if i > 0 {
				fmt.Fprintln(env.Stdout, "---")
			}
			fmt.Fprintf(env.Stdout, "# %s\n%s", f.Name, f.Data)
		}
	} else {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		for _, f := range files {
			p := filepath.Join(dir, f.Name)
			if err := os.WriteFile(p, f.Data, 0o644); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			fmt.Fprintf(env.Stderr, "wrote %s\n", p)
		}
	}
	fmt.Fprintf(env.Stderr, "exported %d checks, %d systems, %d notification channels, %d maintenance windows and %d automations\n",
		len(state.Checks), len(state.Systems), len(state.Channels), len(state.Windows), len(state.Automations))
	if len(ended) > 0 {
		fmt.Fprintf(env.Stderr, "skipped %d ended maintenance windows (the API refuses windows in the past): %s\n", len(ended), strings.Join(ended, ", "))
	}
	if len(refs) > 0 {
		fmt.Fprintf(env.Stderr, "secret values are not exported; set these environment variables before apply: %s\n", strings.Join(refs, ", "))
	}
	return nil
}

func quotedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for _, k := range sortedNames(m) {
		out = append(out, fmt.Sprintf("%q", k))
	}
	return out
}

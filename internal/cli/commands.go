package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/checkflow/checkflow/internal/apiclient"
)

// Systems is `checkflow systems`: a table of the systems.
func Systems(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("systems", env, "systems [--server URL] [--token TOKEN]")
	var c conn
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cl, err := c.client(env)
	if err != nil {
		return err
	}
	list, err := cl.ListSystems(ctx)
	if err != nil {
		return err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tDESCRIPTION")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.ID, s.Name, oneLine(s.Description, 60))
	}
	return tw.Flush()
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}

// colour wraps a status in its ANSI colour when enabled.
func colour(env Env, status string) string {
	if !env.Color {
		return status
	}
	code := ""
	switch status {
	case "healthy":
		code = "32"
	case "degraded":
		code = "33"
	case "unhealthy":
		code = "31"
	default:
		return status
	}
	return "\x1b[" + code + "m" + status + "\x1b[0m"
}

// Health is `checkflow health [system]`: every system's status, or one system's checks.
func Health(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("health", env, "health [SYSTEM] [--server URL] [--token TOKEN]")
	var c conn
	c.register(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return fmt.Errorf("expected at most one system, got %v", pos)
	}
	cl, err := c.client(env)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	if len(pos) == 1 {
		h, err := cl.Health(ctx, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s: %s (%d/%d checks healthy)\n", pos[0], colour(env, h.Status), h.HealthyChecks, h.TotalChecks)
		fmt.Fprintln(tw, "CHECK\tSTATUS\tLAST RUN\tNOTE")
		for _, cs := range h.CheckStatuses {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cs.ConfigurationName, colour(env, cs.Status), when(cs.LastRunAt), checkNote(cs))
		}
		return tw.Flush()
	}
	systems, err := cl.ListSystems(ctx)
	if err != nil {
		return err
	}
	sort.Slice(systems, func(i, j int) bool { return systems[i].ID < systems[j].ID })
	fmt.Fprintln(tw, "SYSTEM\tSTATUS\tHEALTHY\tNOTE")
	for _, s := range systems {
		h, err := cl.Health(ctx, s.ID)
		if err != nil {
			return err
		}
		note := ""
		if h.NoDataYet {
			note = "no data yet"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\n", s.ID, colour(env, h.Status), h.HealthyChecks, h.TotalChecks, note)
	}
	return tw.Flush()
}

func checkNote(cs apiclient.CheckHealth) string {
	var n []string
	if cs.Paused {
		n = append(n, "paused")
	}
	if cs.NoDataYet {
		n = append(n, "no data yet")
	}
	return strings.Join(n, ", ")
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// resolveCheck finds a check by id or name.
func resolveCheck(ctx context.Context, cl *apiclient.Client, ref string) (apiclient.Check, error) {
	list, err := cl.ListChecks(ctx)
	if err != nil {
		return apiclient.Check{}, err
	}
	var byName []apiclient.Check
	for _, ch := range list {
		if ch.ID == ref {
			return ch, nil
		}
		if ch.Name == ref {
			byName = append(byName, ch)
		}
	}
	switch len(byName) {
	case 0:
		return apiclient.Check{}, fmt.Errorf("no check has the id or name %q", ref)
	case 1:
		return byName[0], nil
	}
	return apiclient.Check{}, fmt.Errorf("%d checks are named %q; give the check id", len(byName), ref)
}

// systemAndCheck parses SYSTEM CHECK and the connection flags (fs may hold more flags).
func systemAndCheck(ctx context.Context, fs *flag.FlagSet, args []string, env Env) (*apiclient.Client, string, apiclient.Check, error) {
	var c conn
	c.register(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, "", apiclient.Check{}, err
	}
	if len(pos) != 2 {
		return nil, "", apiclient.Check{}, errors.New("expected SYSTEM and CHECK (a check id or name)")
	}
	cl, err := c.client(env)
	if err != nil {
		return nil, "", apiclient.Check{}, err
	}
	ch, err := resolveCheck(ctx, cl, pos[1])
	if err != nil {
		return nil, "", apiclient.Check{}, err
	}
	return cl, pos[0], ch, nil
}

// Runs is `checkflow runs SYSTEM CHECK`: the newest runs of a check.
func Runs(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("runs", env, "runs SYSTEM CHECK [--limit N] [--server URL] [--token TOKEN]")
	var limit int
	fs.IntVar(&limit, "limit", 20, "how many runs (1–500)")
	cl, system, ch, err := systemAndCheck(ctx, fs, args, env)
	if err != nil {
		return err
	}
	if limit < 1 || limit > 500 {
		return fmt.Errorf("--limit must be between 1 and 500")
	}
	runs, err := cl.Runs(ctx, system, ch.ID, limit)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSTATUS\tLATENCY\tRUN")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Timestamp.UTC().Format(time.RFC3339), colour(env, r.Status), latency(r.LatencyMs), r.ID)
	}
	if len(runs) == 0 {
		fmt.Fprintf(env.Stdout, "no runs of %q on %s yet\n", ch.Name, system)
	}
	return tw.Flush()
}

func latency(ms *int) string {
	if ms == nil {
		return "-"
	}
	return fmt.Sprintf("%d ms", *ms)
}

// RunNow is `checkflow run SYSTEM CHECK`: runs the check now and prints the run and the
// system's new health.
func RunNow(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("run", env, "run SYSTEM CHECK [--server URL] [--token TOKEN]")
	cl, system, ch, err := systemAndCheck(ctx, fs, args, env)
	if err != nil {
		return err
	}
	res, err := cl.RunNow(ctx, system, ch.ID, "")
	if err != nil {
		return err
	}
	w := env.Stdout
	fmt.Fprintf(w, "run %s of %q on %s: %s (%s)\n", res.Run.ID, ch.Name, system, colour(env, res.Run.Status), latency(res.Run.LatencyMs))
	if res.Run.Message != "" {
		fmt.Fprintf(w, "  %s\n", oneLine(res.Run.Message, 200))
	}
	if res.View != nil {
		fmt.Fprintf(w, "%s is now %s (%d/%d checks healthy)\n", system, colour(env, res.View.Status), res.View.HealthyChecks, res.View.TotalChecks)
	}
	return nil
}

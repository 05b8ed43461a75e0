package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// TokenUsage describes the API subcommands of `checkflow token`.
const TokenUsage = `token list [--server URL] [--token TOKEN]
       checkflow token create --api --scopes <scope,…> [--name NAME] [--server URL] [--token TOKEN]
       checkflow token revoke <id> [--server URL] [--token TOKEN]`

// Token is `checkflow token list|create|revoke` through the API (the admin scope): list shows
// every token (never a secret), create prints the new token's secret alone on stdout (shown
// only this once), revoke stops a token at once. args start with the subcommand. create's
// --api flag says "through the API" (without it, cmd/checkflow creates the token directly in
// the database; --server implies --api).
func Token(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return errors.New("expected a subcommand: list, create or revoke")
	}
	sub, args := args[0], args[1:]
	fs := newFlagSet("token "+sub, env, TokenUsage)
	var c conn
	c.register(fs)
	switch sub {
	case "list":
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected arguments %v", fs.Args())
		}
		cl, err := c.client(env)
		if err != nil {
			return err
		}
		list, err := cl.ListTokens(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCREATED\tLAST USED\tREVOKED")
		for _, t := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, oneLine(t.Name, 40), strings.Join(t.Scopes, ","),
				t.CreatedAt.UTC().Format(time.RFC3339), when(t.LastUsedAt), when(t.RevokedAt))
		}
		return tw.Flush()
	case "create":
		var scopes, name string
		fs.Bool("api", true, "create the token through the API (without --api and --server, `checkflow token create` writes to the database)")
		fs.StringVar(&scopes, "scopes", "", "comma-separated scopes: status:read, config:read, config:manage, details:read, admin")
		fs.StringVar(&name, "name", "", "a name to recognise the token by")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected arguments %v", fs.Args())
		}
		var list []string
		for _, s := range strings.Split(scopes, ",") {
			if s = strings.TrimSpace(s); s != "" {
				list = append(list, s)
			}
		}
		if len(list) == 0 {
			return errors.New("--scopes is required")
		}
		cl, err := c.client(env)
		if err != nil {
			return err
		}
		tok, err := cl.CreateToken(ctx, name, list)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, tok.Secret)
		fmt.Fprintf(env.Stderr, "created token %s (scopes %s); it is shown only this once\n", tok.ID, strings.Join(tok.Scopes, ","))
		return nil
	case "revoke":
		pos, err := parseInterspersed(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return errors.New("expected the id of the token to revoke (see `checkflow token list`)")
		}
		cl, err := c.client(env)
		if err != nil {
			return err
		}
		if err := cl.RevokeToken(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "revoked token %s\n", pos[0])
		return nil
	}
	return fmt.Errorf("unknown subcommand %q (list, create or revoke)", sub)
}

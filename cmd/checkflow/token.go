package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkflow/checkflow/internal/cli"
	"github.com/checkflow/checkflow/internal/devenv"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/schema"
	"github.com/checkflow/checkflow/server"
)

// devTokenName names the admin token `checkflow dev` rotates at every start.
const devTokenName = "checkflow dev bootstrap"

const tokenUsage = `Usage: checkflow token create --scopes <scope,…> [--name <name>] [--database-url <url>]
       checkflow ` + cli.TokenUsage + `

create (without --api or --server) creates an API token directly in the database — how the first
admin token is made — and prints it once (only a hash is stored). list, revoke and create --api
manage tokens through the HTTP API with an admin token (--server / CHECKFLOW_SERVER, --token /
CHECKFLOW_TOKEN, or the file written by checkflow login). Scopes: ` + "status:read, config:read, config:manage, details:read, admin" + `.
`

// runToken dispatches `checkflow token <subcommand>`: create against the database (the
// bootstrap path), or list / revoke / create --api through the API (internal/cli).
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(stdout, tokenUsage)
		return errHelp
	}
	if len(args) > 0 && (args[0] == "list" || args[0] == "revoke" || (args[0] == "create" && viaAPI(args[1:]))) {
		err := cli.Token(ctx, args, apiEnv(stdout, stderr))
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return err
	}
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, tokenUsage)
		return &flagError{flag: "token", err: fmt.Errorf("expected the subcommand create, list or revoke")}
	}
	var scopes, name, databaseURL string
	f := newFlags("token create", stderr)
	f.str(&scopes, "scopes", "CHECKFLOW_TOKEN_SCOPES", "", "comma-separated scopes: status:read, config:read, config:manage, details:read, admin")
	f.str(&name, "name", "CHECKFLOW_TOKEN_NAME", "", "a name to recognise the token by")
	f.str(&databaseURL, "database-url", "DATABASE_URL", devenv.DefaultDatabaseURL, "PostgreSQL URL")
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	list, err := server.ParseScopes(scopes)
	if err != nil {
		return badFlag("scopes", "%v", err)
	}
	if len([]rune(name)) > 200 {
		return badFlag("name", "at most 200 characters")
	}
	if err := validateDatabaseURL(databaseURL); err != nil {
		return err
	}
	if _, err := schema.MigrateURL(ctx, databaseURL); err != nil {
		return &flagError{flag: "database-url", err: err}
	}
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return &flagError{flag: "database-url", err: err}
	}
	defer pool.Close()
	secret, tok, err := store.New(pool).CreateToken(ctx, name, list)
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	fmt.Fprintln(stdout, secret)
	fmt.Fprintf(stderr, "created token %s (scopes %s); it is shown only this once\n", tok.ID, strings.Join(tok.Scopes, ","))
	return nil
}

// viaAPI reports whether `token create` flags ask for the API: --api (not --api=false) or
// --server.
func viaAPI(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			continue
		}
		switch name {
		case "api":
			return !hasValue || value == "true" || value == "1"
		case "server":
			return true
		}
	}
	return false
}

// devAdminToken rotates the dev bootstrap token: the previous one stops working and a new
// admin token is returned (only its hash is stored).
func devAdminToken(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	secret, _, err := store.New(pool).RotateToken(ctx, devTokenName, []string{store.ScopeAdmin})
	if err != nil {
		return "", fmt.Errorf("bootstrap admin token: %w", err)
	}
	return secret, nil
}

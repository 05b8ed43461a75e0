// Package cli implements checkflow's API commands: apply, export, import gatus, systems,
// health, runs, run, login and token list|create|revoke. They talk to the server through its HTTP API only
// (internal/apiclient), write to the given io.Writers and return the process exit code:
//
//   - 0: done (applied, or nothing to change);
//   - 1: an error (bad flags, invalid manifests, an API error);
//   - 2: with apply --dry-run --detailed-exitcode, the plan has changes (like terraform).
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/checkflow/checkflow/internal/apiclient"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitError   = 1
	ExitChanges = 2
)

// Env is what the commands use from their process.
type Env struct {
	Stdout, Stderr io.Writer
	// Stdin is read by login when no token flag is given.
	Stdin io.Reader
	// LookupEnv reads the environment (CHECKFLOW_SERVER, CHECKFLOW_TOKEN, secretRef values);
	// default os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// ConfigDir returns the user's configuration directory (default os.UserConfigDir); the
	// config file is <dir>/checkflow/config.json.
	ConfigDir func() (string, error)
	// HTTP is the API's HTTP client (default: 60 s timeout).
	HTTP *http.Client
	// Color enables ANSI colours (stdout is a terminal).
	Color bool
}

func (e Env) lookup(k string) (string, bool) {
	if e.LookupEnv != nil {
		return e.LookupEnv(k)
	}
	return os.LookupEnv(k)
}

func (e Env) configPath() (string, error) {
	f := e.ConfigDir
	if f == nil {
		f = os.UserConfigDir
	}
	dir, err := f()
	if err != nil {
		return "", fmt.Errorf("find the user config directory: %w", err)
	}
	return filepath.Join(dir, "checkflow", "config.json"), nil
}

// Commands lists the commands Run knows, for usage texts.
var Commands = []string{"apply", "export", "import", "systems", "health", "runs", "run", "login", "token"}

// Run runs one command with its arguments and returns the exit code.
func Run(ctx context.Context, cmd string, args []string, env Env) int {
	var err error
	code := ExitOK
	switch cmd {
	case "apply":
		code, err = Apply(ctx, args, env)
	case "export":
		err = Export(ctx, args, env)
	case "import":
		err = Import(ctx, args, env)
	case "systems":
		err = Systems(ctx, args, env)
	case "health":
		err = Health(ctx, args, env)
	case "runs":
		err = Runs(ctx, args, env)
	case "run":
		err = RunNow(ctx, args, env)
	case "login":
		err = Login(ctx, args, env)
	case "token":
		err = Token(ctx, args, env)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "checkflow %s: %v\n", cmd, err)
		return ExitError
	}
	return code
}

// fileConfig is the config file written by login.
type fileConfig struct {
	Server string `json:"server"`
	Token  string `json:"token"`
}

func readConfig(env Env) (fileConfig, error) {
	var fc fileConfig
	p, err := env.configPath()
	if err != nil {
		return fc, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return fc, nil
	}
	if err != nil {
		return fc, fmt.Errorf("read %s: %w", p, err)
	}
	if err := json.Unmarshal(b, &fc); err != nil {
		return fc, fmt.Errorf("read %s: %w", p, err)
	}
	return fc, nil
}

// conn holds the connection flags every API command has.
type conn struct {
	server, token string
}

func (c *conn) register(fs *flag.FlagSet) {
	fs.StringVar(&c.server, "server", "", "API base URL (env CHECKFLOW_SERVER; default from `checkflow login`, else http://127.0.0.1:8080)")
	fs.StringVar(&c.token, "token", "", "API token (env CHECKFLOW_TOKEN; default from `checkflow login`)")
}

// client resolves server and token: flag, then environment, then the config file.
func (c *conn) client(env Env) (*apiclient.Client, error) {
	server, token := c.server, c.token
	if server == "" {
		server, _ = env.lookup("CHECKFLOW_SERVER")
	}
	if token == "" {
		token, _ = env.lookup("CHECKFLOW_TOKEN")
	}
	if server == "" || token == "" {
		fc, err := readConfig(env)
		if err != nil {
			return nil, err
		}
		if server == "" {
			server = fc.Server
		}
		if token == "" {
			token = fc.Token
		}
	}
	if server == "" {
		server = "http://127.0.0.1:8080"
	}
	if !strings.HasPrefix(server, "http://") && !strings.HasPrefix(server, "https://") {
		return nil, fmt.Errorf("--server must be an http:// or https:// URL, got %q", server)
	}
	return &apiclient.Client{BaseURL: server, Token: token, HTTP: env.HTTP}, nil
}

func newFlagSet(name string, env Env, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: checkflow %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseInterspersed parses flags that may follow positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// Login checks a server and token and writes them to the config file (mode 0600).
func Login(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("login", env, "login [--server URL] [--token TOKEN]   (the token is read from stdin when not given)")
	var c conn
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.token == "" {
		if v, ok := env.lookup("CHECKFLOW_TOKEN"); ok {
			c.token = v
		} else if env.Stdin != nil {
			fmt.Fprint(env.Stderr, "API token: ")
			b, err := io.ReadAll(io.LimitReader(env.Stdin, 4096))
			if err != nil {
				return fmt.Errorf("read the token: %w", err)
			}
			c.token = strings.TrimSpace(string(b))
		}
	}
	if c.token == "" {
		return errors.New("a token is required (--token, CHECKFLOW_TOKEN or stdin)")
	}
	cl, err := c.client(env)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := cl.ListSystems(ctx); err != nil {
		return fmt.Errorf("check the token against %s: %w", cl.BaseURL, err)
	}
	p, err := env.configPath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	b, _ := json.MarshalIndent(fileConfig{Server: cl.BaseURL, Token: cl.Token}, "", "  ")
	if err := os.WriteFile(p, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	fmt.Fprintf(env.Stdout, "logged in to %s; wrote %s\n", cl.BaseURL, p)
	return nil
}

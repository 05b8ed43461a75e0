package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/checkflow/checkflow/internal/devenv"
	"github.com/checkflow/checkflow/internal/devenv/temporalserver"
	"github.com/checkflow/checkflow/server"
)

// errHelp is returned after --help printed the flags.
var errHelp = errors.New("help requested")

// flagError is bad configuration: it names the flag so the one-line message says what to fix.
type flagError struct {
	flag string
	err  error
}

func (e *flagError) Error() string { return "--" + e.flag + ": " + e.err.Error() }
func (e *flagError) Unwrap() error { return e.err }

func badFlag(name string, format string, a ...any) error {
	return &flagError{flag: name, err: fmt.Errorf(format, a...)}
}

// flags wraps a FlagSet whose every flag has an environment variable fallback.
type flags struct {
	fs *flag.FlagSet
}

func newFlags(name string, out io.Writer) *flags {
	fs := flag.NewFlagSet("checkflow "+name, flag.ContinueOnError)
	fs.SetOutput(out)
	return &flags{fs: fs}
}

func envOr(env, def string) string {
	if v, ok := os.LookupEnv(env); ok && v != "" {
		return v
	}
	return def
}

func (f *flags) str(p *string, name, env, def, usage string) {
	f.fs.StringVar(p, name, envOr(env, def), fmt.Sprintf("%s (env %s)", usage, env))
}

func (f *flags) boolean(p *bool, name, env string, def bool, usage string) {
	v := def
	if s := envOr(env, ""); s != "" {
		if b, err := strconv.ParseBool(s); err == nil {
			v = b
		}
	}
	f.fs.BoolVar(p, name, v, fmt.Sprintf("%s (env %s)", usage, env))
}

func (f *flags) integer(p *int, name, env string, def int, usage string) {
	v := def
	if s := envOr(env, ""); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			v = n
		}
	}
	f.fs.IntVar(p, name, v, fmt.Sprintf("%s (env %s)", usage, env))
}

func (f *flags) parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return &flagError{flag: "flags", err: err}
	}
	if f.fs.NArg() > 0 {
		return &flagError{flag: "flags", err: fmt.Errorf("unexpected argument %q", f.fs.Arg(0))}
	}
	return nil
}

// validateListenAddr checks that addr is host:port and that the port is free.
func validateListenAddr(flagName, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return badFlag(flagName, "%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return badFlag(flagName, "%q has no valid port", addr)
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return badFlag(flagName, "%q: host must be an IP address or localhost", addr)
	}
	if err := devenv.CheckPortFree(addr); err != nil {
		return badFlag(flagName, "%s is already in use", addr)
	}
	return nil
}

// validateDatabaseURL checks that raw parses as a postgres URL (empty is allowed: default).
func validateDatabaseURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return badFlag("database-url", "not a postgres://user@host:port/database URL")
	}
	return nil
}

// validatePublicURL checks --public-url: empty, or an absolute http(s) URL.
func validatePublicURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return badFlag("public-url", "not an http(s)://host/… URL")
	}
	return nil
}

// defaultWorkflowCache is --workflow-cache's default. Each system kept in memory costs ≈ 70 KB
// (its workflow state and two goroutines); 128 keeps 100 systems of 10 checks all cached and
// 1,000 one-check systems within ≈ 300 MB for `dev` (BENCHMARKS.md "Memory"). An evicted system
// replays its history (at most 1,000 events, workflows.changeBoundedHistory) at its next workflow
// task, about once per probe session.
const defaultWorkflowCache = 128

// workflowCacheFlag registers --workflow-cache.
func workflowCacheFlag(f *flags, p *int) {
	f.integer(p, "workflow-cache", "CHECKFLOW_WORKFLOW_CACHE", defaultWorkflowCache,
		"systems whose workflow state this process keeps in memory between their workflow tasks (≈ 70 KB each; an evicted one replays its history at its next task)")
}

// applyWorkflowCache validates --workflow-cache and sizes the Temporal SDK's workflow cache,
// which is process-wide: it must be called before any worker starts.
func applyWorkflowCache(n int) error {
	if n < 1 {
		return badFlag("workflow-cache", "must be at least 1, got %d", n)
	}
	sdkworker.SetStickyWorkflowCacheSize(n)
	return nil
}

// temporalFlags are the flags that reach an existing Temporal cluster.
type temporalFlags struct {
	address, namespace, tlsCert, tlsKey, tlsCA, tlsServerName, apiKey string
}

func (t *temporalFlags) register(f *flags) {
	f.str(&t.address, "temporal-address", "TEMPORAL_ADDRESS", "127.0.0.1:7233", "Temporal frontend host:port")
	f.str(&t.namespace, "temporal-namespace", "TEMPORAL_NAMESPACE", temporalserver.DefaultNamespace, "Temporal namespace")
	f.str(&t.tlsCert, "temporal-tls-cert", "TEMPORAL_TLS_CERT", "", "client certificate file (mTLS)")
	f.str(&t.tlsKey, "temporal-tls-key", "TEMPORAL_TLS_KEY", "", "client private key file (mTLS)")
	f.str(&t.tlsCA, "temporal-tls-ca", "TEMPORAL_TLS_CA", "", "CA certificate file to verify the server")
	f.str(&t.tlsServerName, "temporal-tls-server-name", "TEMPORAL_TLS_SERVER_NAME", "", "server name to verify (TLS)")
	f.str(&t.apiKey, "temporal-api-key", "TEMPORAL_API_KEY", "", "API key (Temporal Cloud); implies TLS")
}

// clientOptions turns the flags into SDK client options.
func (t *temporalFlags) clientOptions() (client.Options, error) {
	if _, _, err := net.SplitHostPort(t.address); err != nil {
		return client.Options{}, badFlag("temporal-address", "%q is not host:port", t.address)
	}
	opts := client.Options{HostPort: t.address, Namespace: t.namespace}
	useTLS := t.tlsCert != "" || t.tlsKey != "" || t.tlsCA != "" || t.apiKey != "" || t.tlsServerName != ""
	if useTLS {
		tc := &tls.Config{ServerName: t.tlsServerName, MinVersion: tls.VersionTLS12}
		if (t.tlsCert == "") != (t.tlsKey == "") {
			return opts, badFlag("temporal-tls-cert", "--temporal-tls-cert and --temporal-tls-key go together")
		}
		if t.tlsCert != "" {
			cert, err := tls.LoadX509KeyPair(t.tlsCert, t.tlsKey)
			if err != nil {
				return opts, badFlag("temporal-tls-cert", "load key pair: %v", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		if t.tlsCA != "" {
			pem, err := os.ReadFile(t.tlsCA)
			if err != nil {
				return opts, badFlag("temporal-tls-ca", "%v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return opts, badFlag("temporal-tls-ca", "no PEM certificate in %s", t.tlsCA)
			}
			tc.RootCAs = pool
		}
		opts.ConnectionOptions.TLS = tc
	}
	if t.apiKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(strings.TrimSpace(t.apiKey))
	}
	return opts, nil
}

// statusPageFlags configure the HTML status page of the API.
type statusPageFlags struct {
	title, logoURL, systems string
}

func (p *statusPageFlags) register(f *flags) {
	f.str(&p.title, "status-title", "CHECKFLOW_STATUS_TITLE", server.DefaultStatusPageTitle, "title of the HTML status page")
	f.str(&p.logoURL, "status-logo-url", "CHECKFLOW_STATUS_LOGO_URL", "", "logo shown beside the status page's title (an http(s) URL or a /path; empty: none)")
	f.str(&p.systems, "status-systems", "CHECKFLOW_STATUS_SYSTEMS", "", "comma-separated ids of the systems the status page shows, in this order (empty: every system)")
}

// config validates the flags into the server's status page configuration.
func (p *statusPageFlags) config() (server.StatusPageConfig, error) {
	c := server.StatusPageConfig{Title: strings.TrimSpace(p.title), LogoURL: strings.TrimSpace(p.logoURL)}
	if c.LogoURL != "" {
		u, err := url.Parse(c.LogoURL)
		abs := err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
		path := err == nil && u.Scheme == "" && u.Host == "" && strings.HasPrefix(c.LogoURL, "/") && !strings.HasPrefix(c.LogoURL, "//")
		if !abs && !path {
			return c, badFlag("status-logo-url", "%q is not an http(s) URL or a /path", c.LogoURL)
		}
	}
	seen := map[string]bool{}
	for _, id := range strings.Split(p.systems, ",") {
		if id = strings.TrimSpace(id); id != "" && !seen[id] {
			seen[id] = true
			c.Systems = append(c.Systems, id)
		}
	}
	return c, nil
}

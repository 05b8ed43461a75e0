// Package temporalserver embeds a Temporal server (SQLite persistence, like the CLI's
// start-dev) and the Temporal Web UI in the calling process, for `checkflow dev` and for tests.
// It is kept apart from package devenv because linking the server is expensive: only binaries
// that really start one import it.
package temporalserver

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	tlog "go.temporal.io/server/common/log"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"

	"github.com/checkflow/checkflow/internal/devenv"
	"github.com/checkflow/checkflow/worker/searchattrs"
)

// DefaultNamespace is the namespace the embedded server registers and checkflow uses by default.
const DefaultNamespace = "default"

// SearchAttributes are the custom search attributes checkflow's workflows upsert (design.md §3;
// defined in package searchattrs, which workers use to register them on any server). The
// embedded server registers them in its namespace at start.
func SearchAttributes() map[string]enumspb.IndexedValueType { return searchattrs.All() }

// TemporalConfig configures an embedded Temporal server.
type TemporalConfig struct {
	// IP the frontend listens on; default 127.0.0.1.
	IP string
	// Port of the frontend gRPC service; 0 picks a free port.
	Port int
	// DBFile is the SQLite file; empty keeps everything in memory (tests).
	DBFile string
	// Namespace to register; default "default".
	Namespace string
	// Logger receives the server's own errors; nil discards them.
	Logger *slog.Logger
	// DynamicConfig overrides or adds dynamic config values (key → value).
	DynamicConfig map[string]any
	// Authorizer decides every API call; default: allow all (tests deny some calls with it).
	Authorizer authorization.Authorizer
}

// Temporal is a running embedded Temporal server.
type Temporal struct {
	srv       temporal.Server
	quiet     *atomic.Bool
	hostPort  string
	namespace string
}

// HostPort is the frontend's gRPC address.
func (t *Temporal) HostPort() string { return t.hostPort }

// Namespace is the registered namespace.
func (t *Temporal) Namespace() string { return t.namespace }

// Stop stops the server and waits for it to shut down.
func (t *Temporal) Stop() error {
	t.quiet.Store(true)
	if err := t.srv.Stop(); err != nil {
		return fmt.Errorf("stop temporal server: %w", err)
	}
	return nil
}

// historyCacheSize bounds the embedded history service's cache of workflow mutable states.
const historyCacheSize = 256

func dynamicConfig(extra map[string]any) dynamicconfig.StaticClient {
	dc := dynamicconfig.StaticClient{
		dynamicconfig.EnableServerVersionCheck.Key():                []dynamicconfig.ConstrainedValue{{Value: false}},
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
		// One shard polling 20×/s puts a ~50 ms floor on every new task; poll faster.
		dynamicconfig.TransferProcessorMaxPollRPS.Key(): []dynamicconfig.ConstrainedValue{{Value: 1000}},
		// Four partitions make task latency bimodal on a single node.
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  []dynamicconfig.ConstrainedValue{{Value: 1}},
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): []dynamicconfig.ConstrainedValue{{Value: 1}},
		// The history service keeps every running workflow's mutable state by default (128,000
		// entries): ≈ 30 KB each, 30 MB with 1,000 systems. An evicted one is read from SQLite
		// at its next task — about once per probe session. Twice the worker's default workflow
		// cache (--workflow-cache 128) plus the notifier and job workflows stay cached.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key(): []dynamicconfig.ConstrainedValue{{Value: historyCacheSize}},
	}
	for k, v := range extra {
		dc[dynamicconfig.MakeKey(k)] = []dynamicconfig.ConstrainedValue{{Value: v}}
	}
	return dc
}

// StartTemporal starts an embedded Temporal server and returns when its frontend answers and the
// namespace with checkflow's search attributes is ready.
func StartTemporal(ctx context.Context, cfg TemporalConfig) (*Temporal, error) {
	if cfg.IP == "" {
		cfg.IP = "127.0.0.1"
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	// Hold every port the services will use until just before the server starts, so that two
	// services (or another component of this process) cannot be handed the same port.
	var held portHold
	defer held.release()
	frontend, err := held.take(cfg.IP, cfg.Port)
	if err != nil {
		return nil, err
	}
	cfg.Port = frontend
	sqlCfg := config.SQL{PluginName: sqliteplugin.PluginName, ConnectAttributes: map[string]string{}}
	if cfg.DBFile == "" {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("random database name: %w", err)
		}
		sqlCfg.DatabaseName = "checkflow-" + hex.EncodeToString(b[:])
		sqlCfg.ConnectAttributes["mode"] = "memory"
		sqlCfg.ConnectAttributes["cache"] = "shared"
	} else {
		sqlCfg.DatabaseName = cfg.DBFile
		sqlCfg.ConnectAttributes["mode"] = "rwc"
		// Keys without a leading underscore: unknown keys are ignored silently.
		sqlCfg.ConnectAttributes["journal_mode"] = "wal"
		sqlCfg.ConnectAttributes["synchronous"] = "normal"
		sqlCfg.ConnectAttributes["busy_timeout"] = "10000"
		if err := os.MkdirAll(filepath.Dir(cfg.DBFile), 0o755); err != nil {
			return nil, fmt.Errorf("create temporal data dir: %w", err)
		}
		if _, err := os.Stat(cfg.DBFile); errors.Is(err, os.ErrNotExist) {
			if err := sqliteschema.SetupSchema(&sqlCfg); err != nil {
				return nil, fmt.Errorf("set up temporal sqlite schema: %w", err)
			}
		} else if err := forgetMembers(ctx, cfg.DBFile); err != nil {
			return nil, err
		}
	}
	// Keep a single connection: WAL with several connections gave "database is locked".
	sqlCfg.MaxConns = 1
	sqlCfg.MaxIdleConns = 1

	services := map[string]config.Service{}
	for _, name := range []string{"frontend", "history", "matching", "worker"} {
		port := cfg.Port
		if name != "frontend" {
			if port, err = held.take(cfg.IP, 0); err != nil {
				return nil, err
			}
		}
		mp, err := held.take(cfg.IP, 0)
		if err != nil {
			return nil, err
		}
		services[name] = config.Service{RPC: config.RPC{GRPCPort: port, MembershipPort: mp, BindOnIP: cfg.IP}}
	}
	hostPort := net.JoinHostPort(cfg.IP, strconv.Itoa(cfg.Port))
	conf := &config.Config{
		Global: config.Global{
			Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: cfg.IP},
		},
		Persistence: config.Persistence{
			DefaultStore:     sqliteplugin.PluginName,
			VisibilityStore:  sqliteplugin.PluginName,
			NumHistoryShards: 1,
			DataStores:       map[string]config.DataStore{sqliteplugin.PluginName: {SQL: &sqlCfg}},
		},
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace:    false,
			FailoverVersionIncrement: 10,
			MasterClusterName:        "active",
			CurrentClusterName:       "active",
			ClusterInformation: map[string]cluster.ClusterInformation{
				"active": {Enabled: true, InitialFailoverVersion: 1, RPCAddress: hostPort, ClusterID: "5d1a7f10-62f1-4a39-9d0e-8c5b2f6c7a10"},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services:            services,
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
			History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
			Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
		}},
		PublicClient: config.PublicClient{HostPort: hostPort},
	}

	nsCfg, err := sqliteschema.NewNamespaceConfig("active", cfg.Namespace, false, SearchAttributes())
	if err != nil {
		return nil, fmt.Errorf("namespace config: %w", err)
	}
	if err := sqliteschema.CreateNamespaces(&sqlCfg, nsCfg); err != nil {
		return nil, fmt.Errorf("register namespace %q: %w", cfg.Namespace, err)
	}

	quiet := &atomic.Bool{}
	quiet.Store(true) // until ready
	var logger tlog.Logger = tlog.NewNoopLogger()
	if cfg.Logger != nil {
		logger = newServerLogger(cfg.Logger, quiet)
	}
	authorizer := cfg.Authorizer
	if authorizer == nil {
		if authorizer, err = authorization.GetAuthorizerFromConfig(&conf.Global.Authorization); err != nil {
			return nil, fmt.Errorf("temporal authorizer: %w", err)
		}
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("temporal claim mapper: %w", err)
	}
	// Creating the server binds the membership ports: let go of them now.
	held.release()
	srv, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dynamicConfig(cfg.DynamicConfig)),
	)
	if err != nil {
		return nil, fmt.Errorf("create temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	t := &Temporal{srv: srv, quiet: quiet, hostPort: hostPort, namespace: cfg.Namespace}
	if err := t.waitReady(ctx); err != nil {
		_ = srv.Stop()
		return nil, err
	}
	quiet.Store(false)
	return t, nil
}

// portHold keeps listeners open on ports chosen for the server until release.
type portHold struct{ ls []net.Listener }

// take binds ip:port (0 = any free port) and keeps it bound; a taken port is ErrPortInUse.
func (h *portHold) take(ip string, port int) (int, error) {
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if port != 0 {
			return 0, fmt.Errorf("%s: %w", addr, devenv.ErrPortInUse)
		}
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	h.ls = append(h.ls, l)
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (h *portHold) release() {
	for _, l := range h.ls {
		_ = l.Close()
	}
	h.ls = nil
}

// forgetMembers removes the previous run's hosts from the membership table. Every start uses new
// ports, and ringpop would otherwise try to join the dead hosts of the last run, which leaves it
// unbootstrapped and makes shutdown take many seconds of failing RPCs.
func forgetMembers(ctx context.Context, file string) error {
	db, err := sql.Open("sqlite", file)
	if err != nil {
		return fmt.Errorf("open %s: %w", file, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "DELETE FROM cluster_membership"); err != nil {
		return fmt.Errorf("reset temporal cluster membership in %s: %w", file, err)
	}
	return nil
}

// waitReady dials the frontend until it answers and makes sure the search attributes exist
// (a namespace created by an older checkflow may lack newer ones).
func (t *Temporal) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var c client.Client
	var err error
	for {
		c, err = client.DialContext(ctx, client.Options{HostPort: t.hostPort, Namespace: t.namespace, Logger: quietSDKLogger()})
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporal frontend %s did not become ready: %w", t.hostPort, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	defer c.Close()
	return EnsureSearchAttributes(ctx, c, t.namespace)
}

// EnsureSearchAttributes registers checkflow's custom search attributes in namespace where
// missing and waits until they can be used (searchattrs.Ensure).
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	_, err := searchattrs.Ensure(ctx, c, namespace, searchattrs.Options{})
	return err
}

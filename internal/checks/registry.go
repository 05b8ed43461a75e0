package checks

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"
)

// client is what a strategy's connect step returns; collectors type-assert it to the
// strategy's concrete client.
type client interface {
	Close() error
}

// collectInput carries per-run data a collector may need besides its config.
type collectInput struct {
	Run       RunContext
	SecretEnv map[string]string // resolved secretEnv, nil when none
	Dial      DialFunc          // the registry's dialer (WithDialer), nil for a net.Dialer
	// HTTP holds the registry's shared HTTP transports (connections reused across probes).
	HTTP *httpTransports
}

type connectFunc func(ctx context.Context, cfg map[string]any) (client, error)

type collectFunc func(ctx context.Context, c client, cfg map[string]any, in collectInput) (map[string]any, error)

// aggSpec declares one aggregate state of a collector (reference §3.3).
type aggSpec struct {
	Name   string
	Type   string // counter | average | rate | minmax
	Source string
}

type strategyDef struct {
	id          string
	plugin      string // reference plugin id, e.g. "healthcheck-http"
	displayName string
	description string
	config      objectSchema
	connect     connectFunc
	collectors  []*collectorDef
	// validate checks what the config's schema cannot (fields that depend on each other); it
	// runs when the config is a well-formed object.
	validate func(config json.RawMessage, errs *errList)
}

func (s *strategyDef) qualifiedID() string { return s.plugin + "." + s.id }

type collectorDef struct {
	id            string
	displayName   string
	description   string
	allowMultiple bool
	config        objectSchema
	result        objectSchema
	aggregates    []aggSpec
	collect       collectFunc

	strategy  *strategyDef
	ephemeral []string
	fields    map[string]bool
}

func (c *collectorDef) qualifiedID() string { return c.strategy.plugin + "." + c.id }

type strategyHandle struct{ def *strategyDef }

func (h strategyHandle) Info() StrategyInfo { return h.def.info() }
func (strategyHandle) sealed()              {}

// Registry holds the built-in strategies and their collectors. It has no mutable state after
// construction and is safe for concurrent use.
type Registry struct {
	strategies []*strategyDef
	byID       map[string]*strategyDef
	collectors map[string]*collectorDef
	log        *slog.Logger
	// grace bounds how long Execute waits, after the hard timeout fired and the probe context
	// was cancelled, for collectors to release their resources (kill scripts, close sockets).
	grace time.Duration
	// dial, when set, opens the http strategy's connections (WithDialer).
	dial DialFunc
	// http are the transports whose connections HTTP probes reuse (reuseConnection).
	http *httpTransports
}

// Option customises a Registry.
type Option func(*Registry)

// WithLogger sets the logger used for warnings (unknown collectors, close errors).
func WithLogger(l *slog.Logger) Option {
	return func(r *Registry) {
		if l != nil {
			r.log = l
		}
	}
}

// DialFunc opens a network connection, as net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// WithDialer makes the http strategy open its connections with dial instead of a net.Dialer: a
// probe worker that must reach its targets in its own way (a tunnel, a source address of its
// location); tests give each location's worker its own targets with it.
func WithDialer(dial DialFunc) Option {
	return func(r *Registry) { r.dial = dial }
}

// NewRegistry builds a registry with every built-in strategy.
func NewRegistry(opts ...Option) *Registry {
	r := &Registry{
		byID:       map[string]*strategyDef{},
		collectors: map[string]*collectorDef{},
		log:        slog.Default(),
		grace:      2 * time.Second,
	}
	for _, s := range []*strategyDef{
		httpStrategy(), tcpStrategy(), dnsStrategy(), tlsStrategy(), pingStrategy(),
		postgresStrategy(), redisStrategy(), grpcStrategy(), scriptStrategy(),
		mysqlStrategy(), sshStrategy(), rconStrategy(), jenkinsStrategy(),
		heartbeatStrategy(),
	} {
		r.add(s)
	}
	for _, o := range opts {
		o(r)
	}
	r.http = newHTTPTransports(r.dial)
	return r
}

func (r *Registry) add(s *strategyDef) {
	s.config.Props = append([]prop{timeoutProp(30000, 100, 0, "Hard timeout of the whole probe (connect and all collectors).")}, s.config.Props...)
	root := s.config.root()
	root.compile()
	s.config.Props = root.Props
	r.strategies = append(r.strategies, s)
	r.byID[s.id] = s
	r.byID[s.qualifiedID()] = s
	for _, c := range s.collectors {
		c.strategy = s
		cr := c.config.root()
		cr.compile()
		c.config.Props = cr.Props
		c.fields = map[string]bool{}
		for _, f := range c.result.Props {
			c.fields[f.Name] = true
			if f.Ephemeral {
				c.ephemeral = append(c.ephemeral, f.Name)
			}
		}
		if _, dup := r.collectors[c.id]; dup {
			panic("checks: duplicate collector id " + c.id)
		}
		r.collectors[c.id] = c
		r.collectors[c.qualifiedID()] = c
	}
}

func (s *strategyDef) info() StrategyInfo {
	info := StrategyInfo{
		ID:           s.id,
		Aliases:      []string{s.qualifiedID()},
		DisplayName:  s.displayName,
		Description:  s.description,
		ConfigSchema: s.config.jsonSchema(),
		Collectors:   []CollectorInfo{}, // [] for a strategy without collectors (heartbeat)
	}
	for _, c := range s.collectors {
		info.Collectors = append(info.Collectors, c.info())
	}
	return info
}

func (c *collectorDef) info() CollectorInfo {
	ci := CollectorInfo{
		ID:            c.id,
		Aliases:       []string{c.qualifiedID()},
		StrategyID:    c.strategy.id,
		DisplayName:   c.displayName,
		Description:   c.description,
		AllowMultiple: c.allowMultiple,
		ConfigSchema:  c.config.jsonSchema(),
		ResultSchema:  c.result.jsonSchema(),
		Aggregates:    []AggregateInfo{},
	}
	for _, a := range c.aggregates {
		ci.Aggregates = append(ci.Aggregates, AggregateInfo(a))
	}
	return ci
}

// Strategies lists every registered strategy in a stable order.
func (r *Registry) Strategies() []StrategyInfo {
	out := make([]StrategyInfo, 0, len(r.strategies))
	for _, s := range r.strategies {
		out = append(out, s.info())
	}
	return out
}

// Strategy looks a strategy up by id ("http") or reference alias ("healthcheck-http.http").
func (r *Registry) Strategy(id string) (Strategy, bool) {
	s, ok := r.byID[id]
	if !ok {
		return nil, false
	}
	return strategyHandle{s}, true
}

// Collectors lists the collectors of a strategy; an unknown strategy has none.
func (r *Registry) Collectors(strategyID string) []CollectorInfo {
	s, ok := r.byID[strategyID]
	if !ok {
		return []CollectorInfo{}
	}
	out := make([]CollectorInfo, 0, len(s.collectors))
	for _, c := range s.collectors {
		out = append(out, c.info())
	}
	return out
}

// requiredCollector is the collector a check of strategy s must use at least once, or nil.
// The connect step of http, dns, ping and script probes nothing by itself (only their
// collectors send the request, the query, the echo or run the script): without one of these
// collectors such a check would check nothing and always be healthy ("Completed in 0ms").
// Strategies whose connect step probes (tcp connects, tls handshakes, postgres, redis and grpc
// log in or call) need no collector.
func (s *strategyDef) requiredCollector() *collectorDef {
	var id string
	switch s.id {
	case "http":
		id = "request"
	case "dns":
		id = "lookup"
	case "ping":
		id = "ping"
	case "script":
		id = "execute"
	default:
		return nil
	}
	for _, c := range s.collectors {
		if c.id == id {
			return c
		}
	}
	return nil
}

// missingCollectorMessage explains which collector a check of s needs and where its required
// config goes, e.g. for http: the "request" collector with config.url.
func missingCollectorMessage(s *strategyDef, c *collectorDef) string {
	var required, keys []string
	for _, p := range c.config.Props {
		if p.Required {
			required = append(required, "config."+p.Name)
			keys = append(keys, fmt.Sprintf("%q: …", p.Name))
		}
	}
	msg := fmt.Sprintf("the %s strategy checks nothing without a %q collector: add at least one", s.id, c.id)
	if len(required) > 0 {
		msg += fmt.Sprintf(" with %s, e.g. [{\"collectorId\": %q, \"config\": {%s}}]", strings.Join(required, " and "), c.id, strings.Join(keys, ", "))
	}
	return msg + requiredCollectorAlternative(c)
}

// collectorFor resolves a collector id (short or qualified) that must belong to strategy s.
func (r *Registry) collectorFor(s *strategyDef, id string) (*collectorDef, bool) {
	c, ok := r.collectors[id]
	if !ok || c.strategy != s {
		return nil, false
	}
	return c, true
}

// Validate checks a strategy config and its collector entries. It returns nil or a
// *ValidationError whose field names look like "config.port",
// "collectors[0].config.recordType" or "collectors[1].assertions[0].operator".
func (r *Registry) Validate(strategyID string, config json.RawMessage, collectors []CollectorEntry) error {
	var errs errList
	s, ok := r.byID[strategyID]
	if !ok {
		errs.add("strategyId", "unknown strategy %q (known: %s)", strategyID, strings.Join(r.strategyIDs(), ", "))
		return &ValidationError{Errors: errs}
	}
	if obj, err := decodeObject(config); err != nil {
		errs.add("config", "%s", err.Error())
	} else {
		before := len(errs)
		s.config.validateObject("config", obj, &errs)
		if s.validate != nil && len(errs) == before {
			s.validate(config, &errs)
		}
	}
	if rc := s.requiredCollector(); rc != nil && !slices.ContainsFunc(collectors, func(e CollectorEntry) bool {
		c, ok := r.collectorFor(s, e.CollectorID)
		return ok && satisfiesRequiredCollector(rc, c)
	}) {
		errs.add("collectors", "%s", missingCollectorMessage(s, rc))
	}
	seenIDs := map[string]int{}
	seenCollectors := map[*collectorDef]int{}
	for i, e := range collectors {
		p := fmt.Sprintf("collectors[%d]", i)
		if strings.TrimSpace(e.ID) == "" {
			errs.add(p+".id", "is required")
		} else if j, dup := seenIDs[e.ID]; dup {
			errs.add(p+".id", "duplicate id %q (also used by collectors[%d])", e.ID, j)
		} else {
			seenIDs[e.ID] = i
		}
		c, ok := r.collectorFor(s, e.CollectorID)
		if !ok {
			if e.CollectorID == "" {
				errs.add(p+".collectorId", "is required")
			} else {
				errs.add(p+".collectorId", "unknown collector %q for strategy %q (known: %s)", e.CollectorID, s.id, strings.Join(collectorIDs(s), ", "))
			}
			continue
		}
		if j, dup := seenCollectors[c]; dup && !c.allowMultiple {
			errs.add(p+".collectorId", "collector %q may be used only once per check (also at collectors[%d])", c.id, j)
		} else if !dup {
			seenCollectors[c] = i
		}
		if obj, err := decodeObject(e.Config); err != nil {
			errs.add(p+".config", "%s", err.Error())
		} else {
			c.config.validateObject(p+".config", obj, &errs)
		}
		for j, a := range e.Assertions {
			validateAssertion(fmt.Sprintf("%s.assertions[%d]", p, j), c, a, &errs)
		}
	}
	if len(errs) > 0 {
		return &ValidationError{Errors: errs}
	}
	return nil
}

func (r *Registry) strategyIDs() []string {
	out := make([]string, len(r.strategies))
	for i, s := range r.strategies {
		out[i] = s.id
	}
	return out
}

func collectorIDs(s *strategyDef) []string {
	out := make([]string, len(s.collectors))
	for i, c := range s.collectors {
		out[i] = c.id
	}
	return out
}

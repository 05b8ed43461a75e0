package checks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

var dnsRecordTypes = map[string]uint16{
	"A": dns.TypeA, "AAAA": dns.TypeAAAA, "CNAME": dns.TypeCNAME, "MX": dns.TypeMX, "TXT": dns.TypeTXT, "NS": dns.TypeNS,
}

func nameserverProp() prop {
	return prop{Name: "nameserver", Type: "string", Title: "Nameserver",
		Description: `Nameserver as "host" or "host:port" (default port 53). Empty: the system resolver from /etc/resolv.conf.`,
		Check:       checkNameserver}
}

func checkNameserver(v any) string {
	s := v.(string)
	if s == "" {
		return ""
	}
	host := s
	if h, p, err := net.SplitHostPort(s); err == nil {
		host = h
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "port must be between 1 and 65535"
		}
	}
	if host == "" || strings.ContainsAny(host, " /\t") {
		return `must be "host" or "host:port"`
	}
	return ""
}

func dnsStrategy() *strategyDef {
	return &strategyDef{
		id: "dns", plugin: "healthcheck-dns", displayName: "DNS",
		description: "Resolves DNS records against a chosen nameserver.",
		config:      objectSchema{Props: []prop{nameserverProp()}},
		connect: func(_ context.Context, raw map[string]any) (client, error) {
			return &dnsClient{nameserver: stringField(raw, "nameserver")}, nil
		},
		collectors: []*collectorDef{{
			id: "lookup", displayName: "DNS Lookup", allowMultiple: true,
			description: "Queries one record type for a hostname. NXDOMAIN, a server error or an empty answer fails the collector.",
			config: objectSchema{Props: []prop{
				{Name: "hostname", Type: "string", Title: "Hostname", Required: true, MinLength: 1, MaxLength: 253, Check: checkHost},
				{Name: "recordType", Type: "string", Title: "Record type", Default: "A", Enum: []string{"A", "AAAA", "CNAME", "MX", "TXT", "NS"}},
				nameserverProp(),
				timeoutProp(5000, 100, 0, "Timeout of the DNS query."),
			}},
			result: objectSchema{Props: []prop{
				{Name: "values", Type: "array", Items: &prop{Type: "string"}},
				{Name: "recordCount", Type: "integer"},
				{Name: "resolutionTimeMs", Type: "integer"},
				{Name: "nameserver", Type: "string"},
				{Name: "rcode", Type: "string"},
				{Name: "success", Type: "boolean"},
			}},
			aggregates: []aggSpec{
				{Name: "avgResolutionTimeMs", Type: "average", Source: "resolutionTimeMs"},
				{Name: "successRate", Type: "rate", Source: "success"},
			},
			collect: collectDNS,
		}},
	}
}

type dnsClient struct{ nameserver string }

func (*dnsClient) Close() error { return nil }

func systemNameserver() (string, error) {
	cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return "", fmt.Errorf("no nameserver configured and reading /etc/resolv.conf failed: %w", err)
	}
	if len(cc.Servers) == 0 {
		return "", errors.New("no nameserver configured and /etc/resolv.conf lists none")
	}
	return net.JoinHostPort(cc.Servers[0], cc.Port), nil
}

func withDefaultPort(ns, port string) string {
	if _, _, err := net.SplitHostPort(ns); err == nil {
		return ns
	}
	return net.JoinHostPort(strings.Trim(ns, "[]"), port)
}

func collectDNS(ctx context.Context, cl client, raw map[string]any, _ collectInput) (map[string]any, error) {
	hostname := stringField(raw, "hostname")
	rtype := stringField(raw, "recordType")
	qtype := dnsRecordTypes[rtype]
	ns := stringField(raw, "nameserver")
	if ns == "" {
		ns = cl.(*dnsClient).nameserver
	}
	if ns == "" {
		var err error
		if ns, err = systemNameserver(); err != nil {
			return nil, err
		}
	}
	ns = withDefaultPort(ns, "53")
	timeout := time.Duration(intField(raw, "timeout", 5000)) * time.Millisecond

	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(hostname), qtype)
	m.RecursionDesired = true
	start := time.Now()
	c := &dns.Client{Net: "udp", Timeout: timeout}
	in, _, err := c.ExchangeContext(ctx, m, ns)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, ns)
	}
	elapsed := int(time.Since(start).Milliseconds())
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil {
			return nil, fmt.Errorf("DNS query %s %s to %s timed out after %dms", hostname, rtype, ns, timeout.Milliseconds())
		}
		return nil, fmt.Errorf("DNS query %s %s to %s failed: %w", hostname, rtype, ns, err)
	}
	values := []string{}
	for _, rr := range in.Answer {
		if rr.Header().Rrtype != qtype {
			continue
		}
		switch r := rr.(type) {
		case *dns.A:
			values = append(values, r.A.String())
		case *dns.AAAA:
			values = append(values, r.AAAA.String())
		case *dns.CNAME:
			values = append(values, strings.TrimSuffix(r.Target, "."))
		case *dns.MX:
			values = append(values, fmt.Sprintf("%d %s", r.Preference, strings.TrimSuffix(r.Mx, ".")))
		case *dns.TXT:
			values = append(values, strings.Join(r.Txt, ""))
		case *dns.NS:
			values = append(values, strings.TrimSuffix(r.Ns, "."))
		}
	}
	rcode := dns.RcodeToString[in.Rcode]
	if rcode == "" {
		rcode = strconv.Itoa(in.Rcode)
	}
	res := map[string]any{
		"values":           values,
		"recordCount":      len(values),
		"resolutionTimeMs": elapsed,
		"nameserver":       ns,
		"rcode":            rcode,
		"success":          in.Rcode == dns.RcodeSuccess && len(values) > 0,
	}
	if in.Rcode != dns.RcodeSuccess {
		return res, fmt.Errorf("DNS query %s %s to %s returned %s", hostname, rtype, ns, rcode)
	}
	if len(values) == 0 {
		return res, fmt.Errorf("no %s records for %s", rtype, hostname)
	}
	return res, nil
}

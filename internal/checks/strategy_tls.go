package checks

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math"
	"time"
)

func tlsStrategy() *strategyDef {
	return &strategyDef{
		id: "tls", plugin: "healthcheck-tls", displayName: "TLS Certificate",
		description: "Performs a TLS handshake and checks the server certificate's validity and expiry.",
		config: objectSchema{Props: []prop{
			hostProp(),
			portProp(443),
			{Name: "servername", Type: "string", Title: "SNI server name", Description: "Server name sent in SNI and verified; default: host."},
			{Name: "minDaysUntilExpiry", Type: "integer", Title: "Minimum days until expiry", Default: 30, Min: ptr(0), Max: ptr(3650)},
			{Name: "rejectUnauthorized", Type: "boolean", Title: "Reject untrusted certificates", Default: true},
		}},
		connect: connectTLS,
		collectors: []*collectorDef{{
			id: "certificate", displayName: "Certificate",
			description: "Reports the leaf certificate; fails when it is expired, not yet valid or expires within minDaysUntilExpiry.",
			result: objectSchema{Props: []prop{
				{Name: "subject", Type: "string"},
				{Name: "issuer", Type: "string"},
				{Name: "validFrom", Type: "string"},
				{Name: "validTo", Type: "string"},
				{Name: "daysRemaining", Type: "integer"},
				{Name: "valid", Type: "boolean"},
				{Name: "isSelfSigned", Type: "boolean"},
				{Name: "trusted", Type: "boolean"},
				{Name: "trustError", Type: "string"},
				{Name: "dnsNames", Type: "array", Items: &prop{Type: "string"}},
				{Name: "tlsVersion", Type: "string"},
			}},
			aggregates: []aggSpec{
				{Name: "daysRemaining", Type: "minmax", Source: "daysRemaining"},
				{Name: "validRate", Type: "rate", Source: "valid"},
			},
			collect: collectCertificate,
		}},
	}
}

type tlsConfig struct {
	Host               string `json:"host"`
	Port               int    `json:"port"`
	Servername         string `json:"servername"`
	MinDaysUntilExpiry int    `json:"minDaysUntilExpiry"`
	RejectUnauthorized bool   `json:"rejectUnauthorized"`
}

type tlsClient struct {
	cfg   tlsConfig
	conn  *tls.Conn
	state tls.ConnectionState
}

func (c *tlsClient) Close() error { return c.conn.Close() }

func connectTLS(ctx context.Context, raw map[string]any) (client, error) {
	cfg, err := decodeInto[tlsConfig](raw)
	if err != nil {
		return nil, err
	}
	sni := cfg.Servername
	if sni == "" {
		sni = cfg.Host
	}
	addr := hostPortConfig{Host: cfg.Host, Port: cfg.Port}.addr()
	d := &tls.Dialer{Config: &tls.Config{ServerName: sni, InsecureSkipVerify: !cfg.RejectUnauthorized}} //nolint:gosec // user toggle; trust is still computed
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("TLS handshake with %s failed: %w", addr, err)
	}
	tc := conn.(*tls.Conn)
	return &tlsClient{cfg: cfg, conn: tc, state: tc.ConnectionState()}, nil
}

func collectCertificate(_ context.Context, cl client, _ map[string]any, _ collectInput) (map[string]any, error) {
	c := cl.(*tlsClient)
	certs := c.state.PeerCertificates
	if len(certs) == 0 {
		return nil, fmt.Errorf("server presented no certificate")
	}
	leaf := certs[0]
	now := time.Now()
	days := int(math.Floor(leaf.NotAfter.Sub(now).Hours() / 24))
	valid := !now.Before(leaf.NotBefore) && !now.After(leaf.NotAfter)
	selfSigned := bytes.Equal(leaf.RawIssuer, leaf.RawSubject) && leaf.CheckSignatureFrom(leaf) == nil
	trusted, trustErr := true, ""
	if !c.cfg.RejectUnauthorized { // the handshake did not verify: compute trust for reporting
		sni := c.cfg.Servername
		if sni == "" {
			sni = c.cfg.Host
		}
		inter := x509.NewCertPool()
		for _, ic := range certs[1:] {
			inter.AddCert(ic)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: sni, Intermediates: inter}); err != nil {
			trusted, trustErr = false, err.Error()
		}
	}
	res := map[string]any{
		"subject":       leaf.Subject.String(),
		"issuer":        leaf.Issuer.String(),
		"validFrom":     leaf.NotBefore.UTC().Format(time.RFC3339),
		"validTo":       leaf.NotAfter.UTC().Format(time.RFC3339),
		"daysRemaining": days,
		"valid":         valid,
		"isSelfSigned":  selfSigned,
		"trusted":       trusted,
		"dnsNames":      append([]string{}, leaf.DNSNames...),
		"tlsVersion":    tls.VersionName(c.state.Version),
	}
	if trustErr != "" {
		res["trustError"] = trustErr
	}
	switch {
	case now.After(leaf.NotAfter):
		return res, fmt.Errorf("certificate expired on %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return res, fmt.Errorf("certificate not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	case days < c.cfg.MinDaysUntilExpiry:
		return res, fmt.Errorf("certificate expires in %d days (minimum %d)", days, c.cfg.MinDaysUntilExpiry)
	}
	return res, nil
}

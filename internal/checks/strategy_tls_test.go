package checks

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

// selfSignedCert makes a certificate for 127.0.0.1 / localhost valid in [notBefore, notAfter].
func selfSignedCert(t *testing.T, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "checkflow-test", Organization: []string{"checkflow"}},
		NotBefore:    notBefore, NotAfter: notAfter,
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:        true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsServer serves TLS with cert on a random 127.0.0.1 port until the test ends.
func tlsServer(t *testing.T, cert tls.Certificate) int {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	done := blockUntilEnd(t)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.(*tls.Conn).Handshake()
				<-done
				_ = c.Close()
			}()
		}
	}()
	go func() { <-done; _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func TestTLSHealthy(t *testing.T) {
	now := time.Now()
	port := tlsServer(t, selfSignedCert(t, now.Add(-time.Hour), now.Add(90*24*time.Hour+time.Hour)))
	res := run(t, "tls", map[string]any{"host": "127.0.0.1", "port": port, "rejectUnauthorized": false, "minDaysUntilExpiry": 30},
		entry(t, "c", "certificate", nil, Assertion{Field: "daysRemaining", Operator: "greaterThanOrEqual", Value: 89.0}))
	requireHealthy(t, res)
	c := collector(t, res, "c")
	if c["daysRemaining"] != 90 || c["valid"] != true || c["isSelfSigned"] != true || c["trusted"] != false || c["subject"] != "CN=checkflow-test,O=checkflow" {
		t.Fatalf("collector %v", c)
	}
	if c["trustError"] == nil || c["tlsVersion"] != "TLS 1.3" {
		t.Fatalf("collector %v", c)
	}
}

func TestTLSFailing(t *testing.T) {
	now := time.Now()
	expiring := tlsServer(t, selfSignedCert(t, now.Add(-time.Hour), now.Add(10*24*time.Hour+time.Hour)))
	expired := tlsServer(t, selfSignedCert(t, now.Add(-48*time.Hour), now.Add(-24*time.Hour)))
	tests := []struct {
		name    string
		cfg     map[string]any
		wantMsg string
	}{
		{"expires within minDaysUntilExpiry", map[string]any{"host": "127.0.0.1", "port": expiring, "rejectUnauthorized": false}, "Check failed: certificate expires in 10 days (minimum 30)"},
		{"expired", map[string]any{"host": "127.0.0.1", "port": expired, "rejectUnauthorized": false}, "Check failed: certificate expired on"},
		{"untrusted rejected", map[string]any{"host": "127.0.0.1", "port": expiring}, "certificate signed by unknown authority"},
		{"nothing listening", map[string]any{"host": "127.0.0.1", "port": closedPort(t)}, "connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, "tls", tc.cfg, entry(t, "c", "certificate", nil))
			requireUnhealthy(t, res, tc.wantMsg)
		})
	}
	// A lower threshold accepts the expiring certificate.
	res := run(t, "tls", map[string]any{"host": "127.0.0.1", "port": expiring, "rejectUnauthorized": false, "minDaysUntilExpiry": 7}, entry(t, "c", "certificate", nil))
	requireHealthy(t, res)
}

func TestTLSTimeout(t *testing.T) {
	host, port := silentListener(t) // accepts TCP, never answers the ClientHello
	res := run(t, "tls", map[string]any{"host": host, "port": port, "timeout": 200}, entry(t, "c", "certificate", nil))
	requireTimeout(t, res, 200)
}

package checks

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// dnsServer starts an authoritative test DNS server on a random 127.0.0.1 UDP port.
func dnsServer(t *testing.T) string {
	t.Helper()
	zone := map[uint16]map[string][]string{
		dns.TypeA:     {"example.test.": {"example.test. 60 IN A 10.0.0.1", "example.test. 60 IN A 10.0.0.2"}, "www.example.test.": {"www.example.test. 60 IN CNAME example.test.", "example.test. 60 IN A 10.0.0.1"}},
		dns.TypeAAAA:  {"example.test.": {"example.test. 60 IN AAAA 2001:db8::1"}},
		dns.TypeCNAME: {"www.example.test.": {"www.example.test. 60 IN CNAME example.test."}},
		dns.TypeMX:    {"example.test.": {"example.test. 60 IN MX 10 mail.example.test.", "example.test. 60 IN MX 20 backup.example.test."}},
		dns.TypeTXT:   {"example.test.": {`example.test. 60 IN TXT "v=spf1 " "-all"`}},
		dns.TypeNS:    {"example.test.": {"example.test. 60 IN NS ns1.example.test."}},
	}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		q := r.Question[0]
		switch q.Name {
		case "garbage.test.":
			_, _ = w.Write([]byte{0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0xff}) // malformed answer
			return
		case "servfail.test.":
			m := new(dns.Msg)
			m.SetRcode(r, dns.RcodeServerFailure)
			_ = w.WriteMsg(m)
			return
		}
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		known := false
		for _, names := range zone {
			if _, ok := names[q.Name]; ok {
				known = true
			}
		}
		if !known {
			m.Rcode = dns.RcodeNameError
		}
		for _, s := range zone[q.Qtype][q.Name] {
			rr, err := dns.NewRR(s)
			if err != nil {
				t.Errorf("bad RR %q: %v", s, err)
				continue
			}
			m.Answer = append(m.Answer, rr)
		}
		_ = w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: handler, NotifyStartedFunc: func() { close(started) }}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestDNSHealthy(t *testing.T) {
	ns := dnsServer(t)
	tests := []struct {
		recordType string
		host       string
		want       []string
	}{
		{"A", "example.test", []string{"10.0.0.1", "10.0.0.2"}},
		{"AAAA", "example.test", []string{"2001:db8::1"}},
		{"CNAME", "www.example.test", []string{"example.test"}},
		{"MX", "example.test", []string{"10 mail.example.test", "20 backup.example.test"}},
		{"TXT", "example.test", []string{"v=spf1 -all"}},
		{"NS", "example.test", []string{"ns1.example.test"}},
		{"A", "www.example.test", []string{"10.0.0.1"}}, // CNAME in the answer is not an A value
	}
	for _, tc := range tests {
		t.Run(tc.recordType+" "+tc.host, func(t *testing.T) {
			res := run(t, "dns", map[string]any{"nameserver": ns}, entry(t, "l", "lookup", map[string]any{"hostname": tc.host, "recordType": tc.recordType},
				Assertion{Field: "recordCount", Operator: "equals", Value: float64(len(tc.want))},
				Assertion{Field: "values", Operator: "includes", Value: tc.want[0]}))
			requireHealthy(t, res)
			c := collector(t, res, "l")
			got, _ := c["values"].([]string)
			if len(got) != len(tc.want) {
				t.Fatalf("values %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("values %v, want %v", got, tc.want)
				}
			}
			if c["success"] != true || c["nameserver"] != ns || c["rcode"] != "NOERROR" {
				t.Fatalf("collector %v", c)
			}
		})
	}
	// The collector's nameserver overrides the strategy's.
	res := run(t, "dns", map[string]any{"nameserver": "127.0.0.1:1"}, entry(t, "l", "lookup", map[string]any{"hostname": "example.test", "nameserver": ns}))
	requireHealthy(t, res)
}

func TestDNSFailing(t *testing.T) {
	ns := dnsServer(t)
	tests := []struct {
		name    string
		cfg     map[string]any
		asserts []Assertion
		wantMsg string
	}{
		{"NXDOMAIN", map[string]any{"hostname": "missing.test"}, nil, "Check failed: DNS query missing.test A to " + ns + " returned NXDOMAIN"},
		{"no records of that type", map[string]any{"hostname": "www.example.test", "recordType": "MX"}, nil, "no MX records for www.example.test"},
		{"SERVFAIL", map[string]any{"hostname": "servfail.test"}, nil, "returned SERVFAIL"},
		{"malformed answer", map[string]any{"hostname": "garbage.test"}, nil, "Check failed: DNS query garbage.test A to " + ns + " failed"},
		{"assertion", map[string]any{"hostname": "example.test"}, []Assertion{{Field: "values", Operator: "includes", Value: "10.9.9.9"}}, "Assertion failed: values includes 10.9.9.9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, "dns", map[string]any{"nameserver": ns}, entry(t, "l", "lookup", tc.cfg, tc.asserts...))
			requireUnhealthy(t, res, tc.wantMsg)
		})
	}
}

func TestDNSTimeout(t *testing.T) {
	// A UDP socket that never answers.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	ns := pc.LocalAddr().String()
	res := run(t, "dns", map[string]any{"nameserver": ns, "timeout": 200}, entry(t, "l", "lookup", map[string]any{"hostname": "example.test"}))
	requireTimeout(t, res, 200)
	res = run(t, "dns", map[string]any{"nameserver": ns}, entry(t, "l", "lookup", map[string]any{"hostname": "example.test", "timeout": 150}))
	requireUnhealthy(t, res, "timed out after 150ms")
}

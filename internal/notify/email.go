package notify

import (
	"crypto/tls"
	"encoding/json"
	"net"
	"net/mail"
	"strings"
)

// Email transport security modes.
const (
	EmailTLSStartTLS = "starttls"
	EmailTLSImplicit = "tls"
	EmailTLSNone     = "none"
)

// Email defaults and limits.
const (
	defaultSMTPPort         = 587
	defaultSMTPImplicitPort = 465
	maxEmailRecipients      = 50
	emailFromName           = "Checkflow"
)

type emailConfig struct {
	Host     string   `json:"host"`
	Port     *int     `json:"port"`
	Username string   `json:"username"`
	Password string   `json:"password"`
	From     string   `json:"from"`
	To       []string `json:"to"`
	TLS      string   `json:"tls"`
}

func emailFields() []fieldSpec {
	return []fieldSpec{
		{name: "host", kind: "string", required: true, description: "SMTP server host name or IP address"},
		{name: "port", kind: "integer", def: defaultSMTPPort, min: 1, max: 65535,
			description: "SMTP port (default 587; 465 when tls is \"tls\")"},
		{name: "username", kind: "string", description: "AUTH PLAIN user name (sent only over TLS or to a loopback host)"},
		{name: "password", kind: "string", secret: true, description: "AUTH PLAIN password"},
		{name: "from", kind: "string", required: true, format: "email", description: "sender address"},
		{name: "to", kind: "array", required: true, format: "email", min: 1, max: maxEmailRecipients,
			description: "recipient addresses"},
		{name: "tls", kind: "string", def: EmailTLSStartTLS,
			enum:        []string{EmailTLSStartTLS, EmailTLSImplicit, EmailTLSNone},
			description: "starttls: STARTTLS required (refuses servers without it); tls: implicit TLS; none: plain text, loopback hosts only"},
	}
}

// normalizeHost strips the brackets of an IPv6 literal.
func normalizeHost(h string) string {
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		return h[1 : len(h)-1]
	}
	return h
}

// validHost accepts an IP address or a DNS name.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// isLoopbackHost reports "localhost" or a loopback IP address.
func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// parseBareAddress accepts a plain address ("ops@example.com", no display name).
func parseBareAddress(s string) (string, bool) {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != strings.TrimSpace(s) {
		return "", false
	}
	return a.Address, true
}

func (c *emailConfig) validate() fieldErrs {
	var errs fieldErrs
	host := normalizeHost(strings.TrimSpace(c.Host))
	if errs.requireString("host", c.Host) && !validHost(host) {
		errs.add("host", "must be a host name or IP address (without port)")
	}
	if c.Port != nil && (*c.Port < 1 || *c.Port > 65535) {
		errs.add("port", "must be between 1 and 65535")
	}
	if errs.requireString("from", c.From) {
		if _, ok := parseBareAddress(c.From); !ok {
			errs.add("from", "must be an email address such as alerts@example.com")
		}
	}
	switch {
	case c.To == nil:
		errs.add("to", "is required")
	case len(c.To) == 0 || len(c.To) > maxEmailRecipients:
		errs.add("to", "must list 1 to %d addresses", maxEmailRecipients)
	default:
		for i, a := range c.To {
			if _, ok := parseBareAddress(a); !ok {
				errs.add("to", "entry %d is not an email address", i)
				break
			}
		}
	}
	switch c.TLS {
	case "", EmailTLSStartTLS, EmailTLSImplicit:
	case EmailTLSNone:
		if host != "" && !isLoopbackHost(host) {
			errs.add("tls", "\"none\" is only allowed for a loopback host (a local relay)")
		}
	default:
		errs.add("tls", "must be \"starttls\", \"tls\" or \"none\"")
	}
	if c.Password != "" && c.Username == "" {
		errs.add("username", "is required when password is set")
	}
	if c.Username != "" && c.Password == "" {
		errs.add("password", "is required when username is set")
	}
	return errs
}

type emailChannel struct {
	host, mode         string
	port               int
	username, password string
	from               mail.Address
	to                 []mail.Address
	tlsConfig          *tls.Config
	red                *redactor
}

func newEmail(raw json.RawMessage, opts Options) (Channel, error) {
	var c emailConfig
	derrs := decodeConfig(raw, &c)
	if err := fieldErrors(derrs, c.validate()); err != nil {
		return nil, err
	}
	ch := &emailChannel{
		host:     normalizeHost(strings.TrimSpace(c.Host)),
		mode:     c.TLS,
		username: c.Username,
		password: c.Password,
		red:      newRedactor([]string{c.Password}, nil),
	}
	if ch.mode == "" {
		ch.mode = EmailTLSStartTLS
	}
	switch {
	case c.Port != nil:
		ch.port = *c.Port
	case ch.mode == EmailTLSImplicit:
		ch.port = defaultSMTPImplicitPort
	default:
		ch.port = defaultSMTPPort
	}
	from, _ := parseBareAddress(c.From)
	ch.from = mail.Address{Name: emailFromName, Address: from}
	for _, a := range c.To {
		addr, _ := parseBareAddress(a)
		ch.to = append(ch.to, mail.Address{Address: addr})
	}
	if opts.TLSConfig != nil {
		ch.tlsConfig = opts.TLSConfig.Clone()
	} else {
		ch.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	ch.tlsConfig.ServerName = ch.host
	return ch, nil
}

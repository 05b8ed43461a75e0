package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"
)

// defaultSMTPTimeout bounds a whole SMTP conversation when ctx has no deadline.
const defaultSMTPTimeout = 60 * time.Second

// Send delivers m by SMTP: connect (implicit TLS or STARTTLS as configured), AUTH PLAIN when a
// username is set, MAIL/RCPT/DATA, QUIT. Once DATA is accepted the message counts as sent.
func (e *emailChannel) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return contextError("email: send", err)
	}
	msg := composeEmail(e.from, e.to, m, time.Now())

	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultSMTPTimeout)
	}
	addr := net.JoinHostPort(e.host, strconv.Itoa(e.port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return e.fail(ctx, "connecting to "+addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	// Cancellation interrupts any blocked read or write.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var nc net.Conn = conn
	secure := false
	if e.mode == EmailTLSImplicit {
		tc := tls.Client(conn, e.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return e.fail(ctx, "TLS handshake with "+addr, err)
		}
		nc, secure = tc, true
	}
	c, err := smtp.NewClient(nc, e.host)
	if err != nil {
		return e.fail(ctx, "greeting from "+addr, err)
	}
	defer c.Close()
	if err := c.Hello(helloName()); err != nil {
		return e.fail(ctx, "EHLO", err)
	}
	if e.mode == EmailTLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return sendErrorf(e.red, false, 0,
				"email: %s does not offer STARTTLS; refusing to send in clear text (use tls \"tls\" for implicit TLS, or \"none\" for a loopback relay)", addr)
		}
		if err := c.StartTLS(e.tlsConfig); err != nil {
			return e.fail(ctx, "STARTTLS", err)
		}
		secure = true
	}
	if e.username != "" {
		if !secure && !isLoopbackHost(e.host) {
			return sendErrorf(e.red, false, 0, "email: refusing to send credentials to %s without TLS", addr)
		}
		if ok, mechs := c.Extension("AUTH"); !ok || !hasToken(mechs, "PLAIN") {
			return sendErrorf(e.red, false, 0, "email: %s does not offer AUTH PLAIN", addr)
		}
		if err := c.Auth(plainAuth{username: e.username, password: e.password}); err != nil {
			return e.fail(ctx, "AUTH", err)
		}
	}
	if err := c.Mail(e.from.Address); err != nil {
		return e.fail(ctx, "MAIL FROM", err)
	}
	for _, to := range e.to {
		if err := c.Rcpt(to.Address); err != nil {
			return e.fail(ctx, "RCPT TO <"+to.Address+">", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return e.fail(ctx, "DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return e.fail(ctx, "writing message", err)
	}
	if err := w.Close(); err != nil {
		return e.fail(ctx, "end of DATA", err)
	}
	_ = c.Quit() // the message is accepted; a failed QUIT must not cause a duplicate
	return nil
}

// fail classifies an SMTP failure: a 4xx reply or a network error is retryable, a 5xx reply
// or an untrusted certificate is not.
func (e *emailChannel) fail(ctx context.Context, stage string, err error) *SendError {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return contextError("email: "+stage, ctxErr)
	}
	var tpe *textproto.Error
	if errors.As(err, &tpe) {
		retry := tpe.Code >= 400 && tpe.Code < 500
		return sendErrorf(e.red, retry, tpe.Code, "email: %s: server replied %d %s",
			stage, tpe.Code, truncateBytes(strings.Join(strings.Fields(tpe.Msg), " "), excerptMax))
	}
	if isCertificateError(err) {
		return sendErrorf(e.red, false, 0, "email: %s: TLS certificate not trusted: %v", stage, err)
	}
	return sendErrorf(e.red, true, 0, "email: %s failed: %v", stage, err)
}

// hasToken reports whether the space-separated list contains tok (case-insensitive).
func hasToken(list, tok string) bool {
	for _, f := range strings.Fields(list) {
		if strings.EqualFold(f, tok) {
			return true
		}
	}
	return false
}

// helloName is the EHLO name: this host's name when it looks like a DNS name, else localhost.
func helloName() string {
	h, err := os.Hostname()
	if err != nil || !validHost(h) || net.ParseIP(h) != nil {
		return "localhost"
	}
	return h
}

// plainAuth is SASL PLAIN (RFC 4616). Unlike smtp.PlainAuth it leaves the TLS policy to Send,
// which allows loopback relays by IP address as well as by name.
type plainAuth struct {
	username, password string
}

func (a plainAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	return "PLAIN", []byte("\x00" + a.username + "\x00" + a.password), nil
}

func (a plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, fmt.Errorf("unexpected AUTH PLAIN challenge")
	}
	return nil, nil
}

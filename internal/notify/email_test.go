package notify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

const (
	smtpUser     = "mailer"
	smtpPassword = "p4ss-w0rd-secret"
)

// testCert is a self-signed certificate for 127.0.0.1 and the pool trusting it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "checkflow test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// mailReceived is one message accepted by the fake SMTP server.
type mailReceived struct {
	from     string
	to       []string
	data     []byte
	authUser string
	tls      bool
}

// smtpBackend is an in-process SMTP server backend: AUTH PLAIN with smtpUser/smtpPassword
// (required when requireAuth), optional reply errors per command.
type smtpBackend struct {
	requireAuth bool
	rcptErr     error
	got         chan mailReceived
}

func (b *smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &smtpSession{b: b, conn: c}, nil
}

type smtpSession struct {
	b    *smtpBackend
	conn *smtp.Conn
	user string
	msg  mailReceived
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != smtpUser || password != smtpPassword {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.user = username
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.requireAuth && s.user == "" {
		return smtp.ErrAuthRequired
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.msg = mailReceived{from: from, authUser: s.user, tls: isTLS}
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.b.rcptErr != nil {
		return s.b.rcptErr
	}
	s.msg.to = append(s.msg.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.data = data
	s.b.got <- s.msg
	return nil
}

func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }

// startSMTP runs a go-smtp server on 127.0.0.1: STARTTLS when startTLS, implicit TLS when
// implicitTLS. It returns the port and the received-messages channel.
func startSMTP(t *testing.T, be *smtpBackend, cert tls.Certificate, startTLS, implicitTLS bool) int {
	t.Helper()
	be.got = make(chan mailReceived, 4)
	s := smtp.NewServer(be)
	s.Domain = "127.0.0.1"
	s.ErrorLog = log.New(io.Discard, "", 0)
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	if startTLS {
		s.TLSConfig = tlsCfg
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicitTLS {
		l = tls.NewListener(l, tlsCfg)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	t.Cleanup(func() {
		_ = s.Close()
		<-done
	})
	return l.Addr().(*net.TCPAddr).Port
}

// receivedMail returns the message the server got; Send has returned, so it is already queued.
func receivedMail(t *testing.T, be *smtpBackend) mailReceived {
	t.Helper()
	select {
	case m := <-be.got:
		return m
	default:
		t.Fatal("the SMTP server received no message")
		return mailReceived{}
	}
}

func TestEmailSTARTTLSWithAuth(t *testing.T) {
	t.Parallel()
	cert, pool := testCert(t)
	be := &smtpBackend{requireAuth: true}
	port := startSMTP(t, be, cert, true, false)
	ch := mustNew(t, TypeEmail, map[string]any{
		"host": "127.0.0.1", "port": port, "username": smtpUser, "password": smtpPassword,
		"from": "alerts@checkflow.example", "to": []string{"oncall@example.com", "sre@example.com"},
	}, Options{TLSConfig: &tls.Config{RootCAs: pool}})
	m := sampleMessage()
	m.Title = "System health critical: Payments API ✓"
	if err := ch.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := receivedMail(t, be)
	if !got.tls || got.authUser != smtpUser {
		t.Errorf("tls %v auth %q, want STARTTLS and AUTH as %s", got.tls, got.authUser, smtpUser)
	}
	if got.from != "alerts@checkflow.example" || strings.Join(got.to, ",") != "oncall@example.com,sre@example.com" {
		t.Errorf("envelope %s → %v", got.from, got.to)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(got.data))
	if err != nil {
		t.Fatalf("message does not parse: %v\n%s", err, got.data)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != m.Title {
		t.Errorf("Subject = %q (%v), want %q", subject, err, m.Title)
	}
	from, err := msg.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "alerts@checkflow.example" {
		t.Errorf("From = %v (%v)", from, err)
	}
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Address != "oncall@example.com" || to[1].Address != "sre@example.com" {
		t.Errorf("To = %v (%v)", to, err)
	}
	if msg.Header.Get("X-Checkflow-Delivery") != m.ID {
		t.Errorf("X-Checkflow-Delivery = %q", msg.Header.Get("X-Checkflow-Delivery"))
	}
	if msg.Header.Get("Message-ID") != MessageID(m.ID) || !strings.HasSuffix(MessageID(m.ID), "@checkflow>") {
		t.Errorf("Message-ID = %q, want %q", msg.Header.Get("Message-ID"), MessageID(m.ID))
	}
	if _, err := msg.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v)", msg.Header.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = string(b)
	}
	text, html := parts["text/plain"], parts["text/html"]
	if !strings.Contains(text, "Payments API is unhealthy & may be down") || !strings.Contains(text, "Status: unhealthy (was degraded)") {
		t.Errorf("text/plain part = %q", text)
	}
	if !strings.Contains(html, "<strong>Payments API</strong>") || !strings.Contains(html, "&amp; may be down") ||
		!strings.Contains(html, `href="https://checkflow.example/systems/sys-payments?filter=failing"`) {
		t.Errorf("text/html part = %q", html)
	}
}

func TestEmailRetryStableMessageID(t *testing.T) {
	t.Parallel()
	a := composeEmail(mail.Address{Address: "a@x.example"}, []mail.Address{{Address: "b@x.example"}}, sampleMessage(), time.Now())
	b := composeEmail(mail.Address{Address: "a@x.example"}, []mail.Address{{Address: "b@x.example"}}, sampleMessage(), time.Now())
	ida, _ := mail.ReadMessage(bytes.NewReader(a))
	idb, _ := mail.ReadMessage(bytes.NewReader(b))
	if ida.Header.Get("Message-ID") == "" || ida.Header.Get("Message-ID") != idb.Header.Get("Message-ID") {
		t.Errorf("Message-IDs %q / %q differ across attempts", ida.Header.Get("Message-ID"), idb.Header.Get("Message-ID"))
	}
	other := sampleMessage()
	other.ID = "evt-43:chan-7"
	if MessageID(other.ID) == MessageID(sampleMessage().ID) {
		t.Error("different deliveries share a Message-ID")
	}
}

func TestEmailImplicitTLS(t *testing.T) {
	t.Parallel()
	cert, pool := testCert(t)
	be := &smtpBackend{}
	port := startSMTP(t, be, cert, false, true)
	ch := mustNew(t, TypeEmail, map[string]any{
		"host": "127.0.0.1", "port": port, "tls": "tls", "username": smtpUser, "password": smtpPassword,
		"from": "alerts@checkflow.example", "to": []string{"oncall@example.com"},
	}, Options{TLSConfig: &tls.Config{RootCAs: pool}})
	if err := ch.Send(context.Background(), sampleMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := receivedMail(t, be); !got.tls || got.authUser != smtpUser {
		t.Errorf("tls %v auth %q", got.tls, got.authUser)
	}
}

func TestEmailStartTLSRequired(t *testing.T) {
	t.Parallel()
	cert, _ := testCert(t)
	be := &smtpBackend{}
	port := startSMTP(t, be, cert, false, false) // plain server: no STARTTLS offered
	ch := mustNew(t, TypeEmail, map[string]any{
		"host": "127.0.0.1", "port": port, "username": smtpUser, "password": smtpPassword,
		"from": "alerts@checkflow.example", "to": []string{"oncall@example.com"},
	}, Options{})
	err := ch.Send(context.Background(), sampleMessage())
	se := asSendError(t, err)
	if se.Retryable || !strings.Contains(se.Message, "STARTTLS") {
		t.Errorf("got %+v, want a final error about STARTTLS", se)
	}
	assertNoSecret(t, se.Message, smtpPassword)
	select {
	case <-be.got:
		t.Error("a message was sent in clear text")
	default:
	}
}

func TestEmailUntrustedCertificateIsFinal(t *testing.T) {
	t.Parallel()
	cert, _ := testCert(t)
	be := &smtpBackend{}
	port := startSMTP(t, be, cert, true, false)
	ch := mustNew(t, TypeEmail, map[string]any{
		"host": "127.0.0.1", "port": port, "from": "alerts@checkflow.example", "to": []string{"oncall@example.com"},
	}, Options{}) // system roots: the test CA is not trusted
	se := asSendError(t, ch.Send(context.Background(), sampleMessage()))
	if se.Retryable || !strings.Contains(se.Message, "certificate") {
		t.Errorf("got %+v, want a final certificate error", se)
	}
}

func TestEmailPlainToLoopbackRelay(t *testing.T) {
	t.Parallel()
	cert, _ := testCert(t)
	be := &smtpBackend{}
	port := startSMTP(t, be, cert, false, false)
	ch := mustNew(t, TypeEmail, map[string]any{
		"host": "127.0.0.1", "port": port, "tls": "none",
		"from": "alerts@checkflow.example", "to": []string{"oncall@example.com"},
	}, Options{})
	if err := ch.Send(context.Background(), sampleMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := receivedMail(t, be); got.tls || len(got.data) == 0 {
		t.Errorf("got tls=%v, %d bytes", got.tls, len(got.data))
	}
}

func TestEmailReplyClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		rcptErr   error
		password  string
		retryable bool
		code      int
	}{
		{"4xx reply is retryable", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}, smtpPassword, true, 451},
		{"5xx reply is final", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}, smtpPassword, false, 550},
		{"bad credentials are final and not shown", nil, "wrong-password-xyz", false, 535},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cert, pool := testCert(t)
			be := &smtpBackend{requireAuth: true, rcptErr: tc.rcptErr}
			port := startSMTP(t, be, cert, true, false)
			ch := mustNew(t, TypeEmail, map[string]any{
				"host": "127.0.0.1", "port": port, "username": smtpUser, "password": tc.password,
				"from": "alerts@checkflow.example", "to": []string{"oncall@example.com"},
			}, Options{TLSConfig: &tls.Config{RootCAs: pool}})
			err := ch.Send(context.Background(), sampleMessage())
			se := asSendError(t, err)
			if se.Retryable != tc.retryable || se.StatusCode != tc.code {
				t.Errorf("got %+v, want retryable=%v code=%d", se, tc.retryable, tc.code)
			}
			assertNoSecret(t, se.Message, tc.password)
		})
	}
}

func TestEmailConnectionRefusedIsRetryable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	ch := mustNew(t, TypeEmail, map[string]any{
		"host": "127.0.0.1", "port": port, "from": "alerts@checkflow.example", "to": []string{"oncall@example.com"},
	}, Options{})
	if se := asSendError(t, ch.Send(context.Background(), sampleMessage())); !se.Retryable {
		t.Errorf("got %+v, want retryable", se)
	}
}

func TestEmailHonoursContextCancellation(t *testing.T) {
	t.Parallel()
	// A server that accepts and never greets: Send must return when ctx is cancelled.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	ch := mustNew(t, TypeEmail, map[string]any{
		"host": "127.0.0.1", "port": l.Addr().(*net.TCPAddr).Port, "tls": "none",
		"from": "alerts@checkflow.example", "to": []string{"oncall@example.com"},
	}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- ch.Send(ctx, sampleMessage()) }()
	conn := <-accepted // the client is connected and waiting for the greeting
	t.Cleanup(func() { _ = conn.Close() })
	cancel()
	select {
	case err := <-errc:
		if Retryable(err) || !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want final context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send did not return after cancellation")
	}
}

package checks

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

const (
	sshTestUser     = "probe"
	sshTestPassword = "correct-horse-battery"
)

// testSSHKey returns a fresh ed25519 key pair.
func testSSHKey(t testing.TB) (ed25519.PrivateKey, ssh.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return priv, sp
}

// sshKeyPEM encodes priv as an OpenSSH private key, encrypted when passphrase is set.
func sshKeyPEM(t testing.TB, priv ed25519.PrivateKey, passphrase string) string {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block))
}

func testSSHKeyPEM(t testing.TB, passphrase string) string {
	priv, _ := testSSHKey(t)
	return sshKeyPEM(t, priv, passphrase)
}

// sshTestServer is an in-process SSH server (golang.org/x/crypto/ssh) that accepts user
// "probe" with sshTestPassword or an authorized key, and interprets a few exec commands:
//
//	echo <text>   prints text on stdout, exits 0
//	exit <n>      prints "failing with <n>" on stderr, exits n
//	leak          prints the password the client logged in with (a server that echoes credentials)
//	sleep         never answers (until the client goes away or the test ends)
type sshTestServer struct {
	host        string
	port        int
	fingerprint string // SHA256 fingerprint of the host key
}

func startSSHServer(t testing.TB, authorized ssh.PublicKey) sshTestServer {
	t.Helper()
	hostPriv, _ := testSSHKey(t)
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{
		PasswordCallback: func(c ssh.ConnMetadata, pass []byte) (*ssh.Permissions, error) {
			if c.User() == sshTestUser && string(pass) == sshTestPassword {
				return &ssh.Permissions{Extensions: map[string]string{"password": string(pass)}}, nil
			}
			return nil, fmt.Errorf("password rejected for %q", c.User())
		},
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if authorized != nil && c.User() == sshTestUser && string(key.Marshal()) == string(authorized.Marshal()) {
				return &ssh.Permissions{}, nil
			}
			return nil, fmt.Errorf("key rejected for %q", c.User())
		},
	}
	cfg.AddHostKey(hostSigner)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := blockUntilEnd(t)
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Go(func() { serveSSHConn(nc, cfg, done) })
		}
	})
	return sshTestServer{host: "127.0.0.1", port: l.Addr().(*net.TCPAddr).Port, fingerprint: ssh.FingerprintSHA256(hostSigner.PublicKey())}
}

func serveSSHConn(nc net.Conn, cfg *ssh.ServerConfig, done <-chan struct{}) {
	sc, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		_ = nc.Close()
		return
	}
	closed := make(chan struct{})
	go func() { _ = sc.Wait(); close(closed) }()
	go ssh.DiscardRequests(reqs)
	for newCh := range chans {
		if newCh.ChannelType() != "session" {
			_ = newCh.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := newCh.Accept()
		if err != nil {
			continue
		}
		go serveSSHSession(ch, chReqs, sc.Permissions, closed, done)
	}
}

func serveSSHSession(ch ssh.Channel, reqs <-chan *ssh.Request, perms *ssh.Permissions, closed, done <-chan struct{}) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			_ = req.Reply(false, nil)
			continue
		}
		var payload struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
			_ = req.Reply(false, nil)
			return
		}
		_ = req.Reply(true, nil)
		cmd, arg, _ := strings.Cut(payload.Command, " ")
		code := 0
		switch cmd {
		case "echo":
			_, _ = fmt.Fprintln(ch, arg)
		case "exit":
			code, _ = strconv.Atoi(arg)
			_, _ = fmt.Fprintf(ch.Stderr(), "failing with %d\n", code)
		case "leak":
			_, _ = fmt.Fprintf(ch, "logged in with password %s\n", perms.Extensions["password"])
		case "sleep":
			select {
			case <-closed:
			case <-done:
			}
			return
		default:
			_, _ = fmt.Fprintf(ch.Stderr(), "%s: command not found\n", cmd)
			code = 127
		}
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
		return
	}
}

func TestSSHHealthy(t *testing.T) {
	priv, pub := testSSHKey(t)
	srv := startSSHServer(t, pub)
	base := map[string]any{"host": srv.host, "port": srv.port, "username": sshTestUser}
	tests := []struct {
		name string
		cfg  map[string]any
	}{
		{"password", withCfg(base, "password", sshTestPassword)},
		{"private key", withCfg(base, "privateKey", sshKeyPEM(t, priv, ""))},
		{"encrypted private key", withCfg(base, "privateKey", sshKeyPEM(t, priv, "key-passphrase"), "passphrase", "key-passphrase")},
		{"pinned host key", withCfg(base, "password", sshTestPassword, "hostKeyFingerprint", srv.fingerprint)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, "healthcheck-ssh.ssh", tc.cfg,
				entry(t, "echo", "ssh-command", map[string]any{"command": "echo hello world"},
					Assertion{Field: "exitCode", Operator: "equals", Value: 0.0},
					Assertion{Field: "stdout", Operator: "contains", Value: "hello world"}),
				entry(t, "exit", "healthcheck-ssh.ssh-command", map[string]any{"command": "exit 3"},
					Assertion{Field: "exitCode", Operator: "equals", Value: 3.0},
					Assertion{Field: "stderr", Operator: "contains", Value: "failing with 3"}))
			requireHealthy(t, res)
			if c := collector(t, res, "echo"); c["stdout"] != "hello world\n" || c["exitCode"] != 0 || c["success"] != true || c["stderr"] != "" {
				t.Fatalf("collector %v", c)
			}
			if c := collector(t, res, "exit"); c["exitCode"] != 3 || c["success"] != false {
				t.Fatalf("collector %v", c)
			}
		})
	}
}

func TestSSHFailing(t *testing.T) {
	priv, _ := testSSHKey(t)
	srv := startSSHServer(t, nil) // no authorized keys
	base := map[string]any{"host": srv.host, "port": srv.port, "username": sshTestUser, "password": sshTestPassword}
	otherFingerprint := "SHA256:" + strings.Repeat("A", 43)
	tests := []struct {
		name    string
		cfg     map[string]any
		coll    map[string]any
		asserts []Assertion
		wantMsg string
		conn    bool
	}{
		{"wrong password", withCfg(base, "password", "not-the-password"), nil, nil, "SSH login to 127.0.0.1", false},
		{"unauthorized key", withCfg(base, "password", nil, "privateKey", sshKeyPEM(t, priv, "")), nil, nil, "unable to authenticate", false},
		{"encrypted key without passphrase", withCfg(base, "privateKey", sshKeyPEM(t, priv, "pp-1234")), nil, nil, "passphrase is required", false},
		{"encrypted key, wrong passphrase", withCfg(base, "privateKey", sshKeyPEM(t, priv, "pp-1234"), "passphrase", "wrong-pp"), nil, nil, "wrong passphrase", false},
		{"host key mismatch", withCfg(base, "hostKeyFingerprint", otherFingerprint), nil, nil, "does not match hostKeyFingerprint", false},
		{"nothing listening", withCfg(base, "port", closedPort(t)), nil, nil, "connection refused", false},
		{"exit code assertion", base, map[string]any{"command": "exit 2"}, []Assertion{{Field: "exitCode", Operator: "equals", Value: 0.0}}, "Check failed: Assertion failed: exitCode equals 0", true},
		{"output assertion", base, map[string]any{"command": "echo degraded"}, []Assertion{{Field: "stdout", Operator: "contains", Value: "ok"}}, "Assertion failed: stdout contains ok", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			coll := tc.coll
			if coll == nil {
				coll = map[string]any{"command": "echo ok"}
			}
			cfg := tc.cfg
			if cfg["password"] == nil {
				delete(cfg, "password")
			}
			res := run(t, "ssh", cfg, entry(t, "c", "ssh-command", coll, tc.asserts...))
			requireUnhealthy(t, res, tc.wantMsg)
			if res.Metadata["connected"] != tc.conn {
				t.Fatalf("connected %v", res.Metadata)
			}
		})
	}
}

func TestSSHTimeout(t *testing.T) {
	srv := startSSHServer(t, nil)
	silentHost, silentPort := silentListener(t)
	tests := []struct {
		name string
		cfg  map[string]any
	}{
		{"command never ends", map[string]any{"host": srv.host, "port": srv.port}},
		{"handshake never answered", map[string]any{"host": silentHost, "port": silentPort}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := withCfg(tc.cfg, "username", sshTestUser, "password", sshTestPassword, "timeout", 300)
			res := run(t, "ssh", cfg, entry(t, "c", "ssh-command", map[string]any{"command": "sleep"}))
			requireTimeout(t, res, 300)
		})
	}
}

// Credentials never reach the result: not when the server echoes the password, not in a
// login error, not when a key's passphrase is wrong.
func TestSSHSecretsNeverInResults(t *testing.T) {
	priv, pub := testSSHKey(t)
	srv := startSSHServer(t, pub)
	base := map[string]any{"host": srv.host, "port": srv.port, "username": sshTestUser}

	res := run(t, "ssh", withCfg(base, "password", sshTestPassword), entry(t, "c", "ssh-command", map[string]any{"command": "leak"}))
	requireHealthy(t, res)
	if got := collector(t, res, "c")["stdout"]; got != "logged in with password ****\n" {
		t.Fatalf("stdout %q: the echoed password is not masked", got)
	}
	requireNoSecret(t, res, sshTestPassword)

	planted := plantedSecret(t)
	res = run(t, "ssh", withCfg(base, "password", planted), entry(t, "c", "ssh-command", map[string]any{"command": "echo " + "x"}))
	requireUnhealthy(t, res, "SSH login")
	requireNoSecret(t, res, planted)

	key := sshKeyPEM(t, priv, "right-passphrase")
	res = run(t, "ssh", withCfg(base, "privateKey", key, "passphrase", planted), entry(t, "c", "ssh-command", map[string]any{"command": "echo x"}))
	requireUnhealthy(t, res, "wrong passphrase")
	requireNoSecret(t, res, planted)
	requireNoSecret(t, res, strings.Split(strings.TrimSpace(key), "\n")[1])
}

package checks

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/crypto/ssh"
)

// maxSSHOutput caps the stdout and stderr kept from one remote command (each).
const maxSSHOutput = 64 << 10

func sshStrategy() *strategyDef {
	return withConfigSecrets(&strategyDef{
		id: "ssh", plugin: "healthcheck-ssh", displayName: "SSH",
		description: "Logs in over SSH (password or private key) and runs commands.",
		config: objectSchema{Props: []prop{
			hostProp(),
			portProp(22),
			{Name: "username", Type: "string", Title: "Username", Required: true, MinLength: 1},
			{Name: "password", Type: "string", Title: "Password", Secret: true},
			{Name: "privateKey", Type: "string", Title: "Private key", Description: "PEM/OpenSSH private key.", Secret: true, Check: checkSSHKey},
			{Name: "passphrase", Type: "string", Title: "Key passphrase", Secret: true},
			{Name: "hostKeyFingerprint", Type: "string", Title: "Host key fingerprint",
				Description: `SHA256 fingerprint of the server's host key as "ssh-keygen -l" prints it ("SHA256:…"). When set, any other host key fails the check; when empty, any host key is accepted.`,
				Pattern:     `^SHA256:[A-Za-z0-9+/]{43}$`},
		}, Check: func(v any) string {
			m, _ := v.(map[string]any)
			if stringField(m, "password") == "" && stringField(m, "privateKey") == "" {
				return "password or privateKey is required"
			}
			return ""
		}},
		connect: connectSSH,
		collectors: []*collectorDef{{
			// "command" is taken by redis: short collector ids are global (stored _collectorId).
			id: "ssh-command", displayName: "Shell Command", allowMultiple: true,
			description: "Runs a command in its own SSH session; assert on exitCode, stdout and stderr (a non-zero exit alone does not fail the collector).",
			config: objectSchema{Props: []prop{
				{Name: "command", Type: "string", Title: "Command", Required: true, MinLength: 1},
			}},
			result: objectSchema{Props: []prop{
				{Name: "exitCode", Type: "integer"},
				{Name: "stdout", Type: "string"},
				{Name: "stderr", Type: "string"},
				{Name: "executionTimeMs", Type: "integer"},
				{Name: "success", Type: "boolean", Description: "exitCode is 0."},
			}},
			aggregates: []aggSpec{
				{Name: "avgExecutionTimeMs", Type: "average", Source: "executionTimeMs"},
				{Name: "successRate", Type: "rate", Source: "success"},
			},
			collect: collectSSHCommand,
		}},
	})
}

func checkSSHKey(v any) string {
	s, _ := v.(string)
	if s == "" {
		return ""
	}
	if _, err := ssh.ParseRawPrivateKey([]byte(s)); err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return ""
		}
		return "must be a PEM or OpenSSH private key"
	}
	return ""
}

type sshConfig struct {
	Host               string `json:"host"`
	Port               int    `json:"port"`
	Username           string `json:"username"`
	Password           string `json:"password"`
	PrivateKey         string `json:"privateKey"`
	Passphrase         string `json:"passphrase"`
	HostKeyFingerprint string `json:"hostKeyFingerprint"`
}

type sshClient struct{ c *ssh.Client }

func (c *sshClient) Close() error { return c.c.Close() }

func connectSSH(ctx context.Context, raw map[string]any) (client, error) {
	cfg, err := decodeInto[sshConfig](raw)
	if err != nil {
		return nil, err
	}
	var auth []ssh.AuthMethod
	if cfg.PrivateKey != "" {
		signer, err := parseSSHKey(cfg.PrivateKey, cfg.Passphrase)
		if err != nil {
			return nil, err
		}
		auth = append(auth, ssh.PublicKeys(signer))
	}
	if cfg.Password != "" {
		auth = append(auth, ssh.Password(cfg.Password), ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
			answers := make([]string, len(questions))
			for i := range answers {
				answers[i] = cfg.Password
			}
			return answers, nil
		}))
	}
	hostKey := ssh.InsecureIgnoreHostKey() //nolint:gosec // the reference accepts any host key; hostKeyFingerprint pins one
	if want := cfg.HostKeyFingerprint; want != "" {
		hostKey = func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if got := ssh.FingerprintSHA256(key); got != want {
				return fmt.Errorf("host key %s does not match hostKeyFingerprint %s", got, want)
			}
			return nil
		}
	}
	addr := hostPortConfig{Host: cfg.Host, Port: cfg.Port}.addr()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("SSH connect to %s failed: %w", addr, err)
	}
	stop := interruptOnCancel(ctx, conn) // the handshake has no context of its own
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
		User:            cfg.Username,
		Auth:            auth,
		HostKeyCallback: hostKey,
		ClientVersion:   "SSH-2.0-checkflow-healthcheck",
	})
	stop()
	if err != nil {
		_ = conn.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("SSH handshake with %s cancelled: %w", addr, context.Cause(ctx))
		}
		return nil, fmt.Errorf("SSH login to %s failed: %w", addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return &sshClient{c: ssh.NewClient(sc, chans, reqs)}, nil
}

func parseSSHKey(key, passphrase string) (ssh.Signer, error) {
	signer, err := ssh.ParsePrivateKey([]byte(key))
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase == "" {
			return nil, errors.New("SSH private key is encrypted: passphrase is required")
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(key), []byte(passphrase))
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, errors.New("SSH private key: wrong passphrase")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("SSH private key: %w", err)
	}
	return signer, nil
}

func collectSSHCommand(ctx context.Context, cl client, raw map[string]any, _ collectInput) (map[string]any, error) {
	c := cl.(*sshClient)
	start := time.Now()
	sess, err := c.c.NewSession()
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("command cancelled: %w", context.Cause(ctx))
		}
		return nil, fmt.Errorf("SSH session failed: %w", err)
	}
	defer sess.Close()
	stop := context.AfterFunc(ctx, func() { _ = sess.Close() })
	defer stop()
	stdout := &cappedBuffer{max: maxSSHOutput}
	stderr := &cappedBuffer{max: maxSSHOutput}
	sess.Stdout, sess.Stderr = stdout, stderr
	err = sess.Run(stringField(raw, "command"))
	if ctx.Err() != nil {
		return nil, fmt.Errorf("command cancelled: %w", context.Cause(ctx))
	}
	exitCode := 0
	var exit *ssh.ExitError
	switch {
	case errors.As(err, &exit):
		exitCode = exit.ExitStatus()
	case err != nil:
		return nil, fmt.Errorf("SSH command failed: %w", err)
	}
	return map[string]any{
		"exitCode":        exitCode,
		"stdout":          stdout.String(),
		"stderr":          stderr.String(),
		"executionTimeMs": int(time.Since(start).Milliseconds()),
		"success":         exitCode == 0,
	}, nil
}

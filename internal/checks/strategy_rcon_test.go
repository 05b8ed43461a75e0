package checks

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

const rconTestPassword = "rcon-test-password"

// rconTestServer is an in-process Source-RCON server. It authenticates like a Source server
// (an empty SERVERDATA_RESPONSE_VALUE, then SERVERDATA_AUTH_RESPONSE with the request id, or
// -1 for a wrong password), answers an empty SERVERDATA_RESPONSE_VALUE with an empty one plus
// the Source quirk packet, and runs these commands:
//
//	list    a Minecraft player list
//	status  a Source status page
//	big     a 10,000-byte answer split over three packets
//	leak    echoes the password the client logged in with
//	sleep   never answers
//
// Anything else answers "Unknown command: <cmd>".
func startRCONServer(t testing.TB) (string, int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { serveRCON(c) })
		}
	})
	return "127.0.0.1", l.Addr().(*net.TCPAddr).Port
}

func writeRCON(w io.Writer, id, typ int32, body string) {
	buf := binary.LittleEndian.AppendUint32(nil, uint32(10+len(body)))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(id))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(typ))
	buf = append(append(buf, body...), 0, 0)
	_, _ = w.Write(buf)
}

func serveRCON(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	authed, password := false, ""
	for {
		var hdr [12]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		size := binary.LittleEndian.Uint32(hdr[0:4])
		if size < 10 || size > 4096 {
			return
		}
		body := make([]byte, size-8)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		id := int32(binary.LittleEndian.Uint32(hdr[4:8]))
		typ := int32(binary.LittleEndian.Uint32(hdr[8:12]))
		text := strings.TrimRight(string(body), "\x00")
		switch {
		case typ == rconTypeAuth:
			writeRCON(c, id, rconTypeResponse, "")
			if text == rconTestPassword {
				authed, password = true, text
				writeRCON(c, id, rconTypeAuthResponse, "")
			} else {
				writeRCON(c, -1, rconTypeAuthResponse, "")
			}
		case !authed:
			writeRCON(c, -1, rconTypeAuthResponse, "")
		case typ == rconTypeResponse: // the client's end-of-response marker
			writeRCON(c, id, rconTypeResponse, "")
			writeRCON(c, id, rconTypeResponse, "\x00\x01\x00\x00")
		case text == "list":
			writeRCON(c, id, rconTypeResponse, "There are 2 of a max of 20 players online: Alex, Steve")
		case text == "status":
			writeRCON(c, id, rconTypeResponse, "hostname: \"Checkflow Test\"\nversion : 1.38.8.1/13881 9842 secure\nmap     : de_dust2\nplayers : 5 humans, 3 bots (24 max)\n")
		case text == "big":
			s := strings.Repeat("x", 10000)
			writeRCON(c, id, rconTypeResponse, s[:4096])
			writeRCON(c, id, rconTypeResponse, s[4096:8192])
			writeRCON(c, id, rconTypeResponse, s[8192:])
		case text == "leak":
			writeRCON(c, id, rconTypeResponse, "logged in with "+password)
		case text == "sleep": // until the client hangs up (or the test closes the connection)
			_, _ = io.Copy(io.Discard, r)
			return
		default:
			writeRCON(c, id, rconTypeResponse, "Unknown command: "+text)
		}
	}
}

func TestRCONHealthy(t *testing.T) {
	host, port := startRCONServer(t)
	res := run(t, "healthcheck-rcon.rcon", map[string]any{"host": host, "port": port, "password": rconTestPassword},
		entry(t, "list", "rcon-command", map[string]any{"command": "list"}, Assertion{Field: "response", Operator: "contains", Value: "players online"}),
		entry(t, "big", "rcon-command", map[string]any{"command": "big"}, Assertion{Field: "response", Operator: "lengthEquals", Value: 10000.0}),
		entry(t, "players", "healthcheck-rcon.minecraft-players", nil,
			Assertion{Field: "onlinePlayers", Operator: "equals", Value: 2.0},
			Assertion{Field: "playerNames", Operator: "includes", Value: "Steve"}),
		entry(t, "status", "source-status", nil, Assertion{Field: "map", Operator: "equals", Value: "de_dust2"}))
	requireHealthy(t, res)
	if c := collector(t, res, "players"); c["maxPlayers"] != 20 || len(c["playerNames"].([]any)) != 2 {
		t.Fatalf("collector %v", c)
	}
	if c := collector(t, res, "status"); c["hostname"] != "Checkflow Test" || c["humanPlayers"] != 5 || c["botPlayers"] != 3 || c["maxPlayers"] != 24 || c["version"] != "1.38.8.1/13881 9842 secure" {
		t.Fatalf("collector %v", c)
	}
	if c := collector(t, res, "list"); c["response"] != "There are 2 of a max of 20 players online: Alex, Steve" {
		t.Fatalf("collector %v", c)
	}
}

func TestRCONFailing(t *testing.T) {
	host, port := startRCONServer(t)
	base := map[string]any{"host": host, "port": port, "password": rconTestPassword}
	tests := []struct {
		name    string
		cfg     map[string]any
		command string
		asserts []Assertion
		wantMsg string
		conn    bool
	}{
		{"wrong password", withCfg(base, "password", "not-it"), "list", nil, "RCON login to 127.0.0.1", false},
		{"nothing listening", withCfg(base, "port", closedPort(t)), "list", nil, "connection refused", false},
		{"response assertion", base, "nosuchcommand", []Assertion{{Field: "response", Operator: "startsWith", Value: "There are"}}, "Check failed: Assertion failed: response startsWith There are", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, "rcon", tc.cfg, entry(t, "c", "rcon-command", map[string]any{"command": tc.command}, tc.asserts...))
			requireUnhealthy(t, res, tc.wantMsg)
			if res.Metadata["connected"] != tc.conn {
				t.Fatalf("connected %v", res.Metadata)
			}
		})
	}
}

func TestRCONTimeout(t *testing.T) {
	host, port := startRCONServer(t)
	silentHost, silentPort := silentListener(t)
	tests := []struct {
		name string
		cfg  map[string]any
	}{
		{"command never answered", map[string]any{"host": host, "port": port}},
		{"auth never answered", map[string]any{"host": silentHost, "port": silentPort}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, "rcon", withCfg(tc.cfg, "password", rconTestPassword, "timeout", 300), entry(t, "c", "rcon-command", map[string]any{"command": "sleep"}))
			requireTimeout(t, res, 300)
		})
	}
}

func TestRCONSecretsNeverInResults(t *testing.T) {
	host, port := startRCONServer(t)
	res := run(t, "rcon", map[string]any{"host": host, "port": port, "password": rconTestPassword}, entry(t, "c", "rcon-command", map[string]any{"command": "leak"}))
	requireHealthy(t, res)
	if got := collector(t, res, "c")["response"]; got != "logged in with ****" {
		t.Fatalf("response %q: the echoed password is not masked", got)
	}
	requireNoSecret(t, res, rconTestPassword)

	planted := plantedSecret(t)
	res = run(t, "rcon", map[string]any{"host": host, "port": port, "password": planted}, entry(t, "c", "rcon-command", map[string]any{"command": "list"}))
	requireUnhealthy(t, res, "wrong password")
	requireNoSecret(t, res, planted)
}

func TestParseMinecraftList(t *testing.T) {
	tests := []struct {
		in            string
		online, maxPl int
		names         int
	}{
		{"There are 0 of a max of 20 players online: ", 0, 20, 0},
		{"There are 3 of a max of 10 players online: a, b, c", 3, 10, 3},
		{"There are 1/8 players online:\nnotch", 1, 8, 1},
		{"Unknown command", 0, 0, 0},
	}
	for _, tc := range tests {
		got := parseMinecraftList(tc.in)
		if got["onlinePlayers"] != tc.online || got["maxPlayers"] != tc.maxPl || len(got["playerNames"].([]any)) != tc.names {
			t.Errorf("parseMinecraftList(%q) = %v", tc.in, got)
		}
	}
}

package checks

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Source RCON packet types (https://developer.valvesoftware.com/wiki/Source_RCON_Protocol);
// Minecraft speaks the same protocol.
const (
	rconTypeResponse     = 0 // SERVERDATA_RESPONSE_VALUE
	rconTypeExecCommand  = 2 // SERVERDATA_EXECCOMMAND
	rconTypeAuthResponse = 2 // SERVERDATA_AUTH_RESPONSE
	rconTypeAuth         = 3 // SERVERDATA_AUTH

	rconMaxPacket   = 1 << 16 // largest packet accepted from a server (size field)
	rconMaxResponse = 64 << 10
)

func rconStrategy() *strategyDef {
	return withConfigSecrets(&strategyDef{
		id: "rcon", plugin: "healthcheck-rcon", displayName: "RCON",
		description: "Logs in to a game server over RCON (Source engine, Minecraft) and runs commands.",
		config: objectSchema{Props: []prop{
			hostProp(),
			{Name: "port", Type: "integer", Title: "Port", Description: "RCON port (25575 for Minecraft, 27015 for Source).", Default: 25575, Min: ptr(1), Max: ptr(65535)},
			{Name: "password", Type: "string", Title: "RCON password", Required: true, MinLength: 1, Secret: true},
		}},
		connect: connectRCON,
		collectors: []*collectorDef{
			{
				// "command" is taken by redis: short collector ids are global (stored _collectorId).
				id: "rcon-command", displayName: "RCON Command", allowMultiple: true,
				description: "Runs an RCON command; assert on its response.",
				config: objectSchema{Props: []prop{
					{Name: "command", Type: "string", Title: "Command", Required: true, MinLength: 1, MaxLength: 1000},
				}},
				result: objectSchema{Props: []prop{
					{Name: "response", Type: "string"},
					{Name: "executionTimeMs", Type: "integer"},
				}},
				aggregates: []aggSpec{{Name: "avgExecutionTimeMs", Type: "average", Source: "executionTimeMs"}},
				collect:    collectRCONCommand,
			},
			{
				id: "minecraft-players", displayName: "Minecraft Players",
				description: `Runs "list" and parses the player count and names.`,
				result: objectSchema{Props: []prop{
					{Name: "onlinePlayers", Type: "integer"},
					{Name: "maxPlayers", Type: "integer"},
					{Name: "playerNames", Type: "array", Items: &prop{Type: "string"}},
				}},
				aggregates: []aggSpec{
					{Name: "avgOnlinePlayers", Type: "average", Source: "onlinePlayers"},
					{Name: "maxOnlinePlayers", Type: "minmax", Source: "onlinePlayers"},
				},
				collect: collectMinecraftPlayers,
			},
			{
				id: "source-status", displayName: "Source Server Status",
				description: `Runs "status" on a Source engine server (CS2, TF2, …) and parses hostname, version, map and players.`,
				result: objectSchema{Props: []prop{
					{Name: "hostname", Type: "string"},
					{Name: "version", Type: "string"},
					{Name: "map", Type: "string"},
					{Name: "humanPlayers", Type: "integer"},
					{Name: "botPlayers", Type: "integer"},
					{Name: "maxPlayers", Type: "integer"},
				}},
				aggregates: []aggSpec{
					{Name: "avgHumanPlayers", Type: "average", Source: "humanPlayers"},
					{Name: "maxHumanPlayers", Type: "minmax", Source: "humanPlayers"},
				},
				collect: collectSourceStatus,
			},
		},
	})
}

type rconConfig struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Password string `json:"password"`
}

// rconClient is one authenticated RCON connection; commands are serialised on it.
type rconClient struct {
	mu     sync.Mutex
	conn   net.Conn
	r      *bufio.Reader
	nextID int32
}

func (c *rconClient) Close() error { return c.conn.Close() }

type rconPacket struct {
	id, typ int32
	body    string
}

func connectRCON(ctx context.Context, raw map[string]any) (client, error) {
	cfg, err := decodeInto[rconConfig](raw)
	if err != nil {
		return nil, err
	}
	addr := hostPortConfig{Host: cfg.Host, Port: cfg.Port}.addr()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("RCON connect to %s failed: %w", addr, err)
	}
	c := &rconClient{conn: conn, r: bufio.NewReader(conn), nextID: 1}
	if err := c.auth(ctx, cfg.Password); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("RCON login to %s failed: %w", addr, err)
	}
	return c, nil
}

// auth sends SERVERDATA_AUTH and waits for SERVERDATA_AUTH_RESPONSE (Source servers send an
// empty SERVERDATA_RESPONSE_VALUE first); an id of -1 means the password was rejected.
func (c *rconClient) auth(ctx context.Context, password string) error {
	stop := interruptOnCancel(ctx, c.conn)
	defer stop()
	id := c.newID()
	if err := c.write(rconPacket{id: id, typ: rconTypeAuth, body: password}); err != nil {
		return c.ioError(ctx, err)
	}
	for {
		p, err := c.read()
		if err != nil {
			return c.ioError(ctx, err)
		}
		if p.typ != rconTypeAuthResponse {
			continue
		}
		if p.id == -1 {
			return errors.New("authentication rejected (wrong password)")
		}
		if p.id != id {
			return fmt.Errorf("unexpected auth response id %d", p.id)
		}
		return nil
	}
}

// exec runs a command and returns its (possibly multi-packet) response. After the command it
// sends an empty SERVERDATA_RESPONSE_VALUE: servers answer requests in order, so the answer
// to that marker ends the command's response.
func (c *rconClient) exec(ctx context.Context, command string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	stop := interruptOnCancel(ctx, c.conn)
	defer stop()
	id, marker := c.newID(), c.newID()
	if err := c.write(rconPacket{id: id, typ: rconTypeExecCommand, body: command}); err != nil {
		return "", c.ioError(ctx, err)
	}
	if err := c.write(rconPacket{id: marker, typ: rconTypeResponse}); err != nil {
		return "", c.ioError(ctx, err)
	}
	var sb strings.Builder
	for {
		p, err := c.read()
		if err != nil {
			return "", c.ioError(ctx, err)
		}
		switch p.id {
		case id:
			if sb.Len() < rconMaxResponse {
				sb.WriteString(p.body)
			}
		case marker:
			out := sb.String()
			if len(out) > rconMaxResponse {
				out = out[:rconMaxResponse]
			}
			return strings.ToValidUTF8(out, "\uFFFD"), nil
		case -1:
			return "", errors.New("server rejected the command (not authenticated)")
		}
		// Anything else is the tail of an earlier marker's answer: skip it.
	}
}

func (c *rconClient) newID() int32 {
	id := c.nextID
	c.nextID++
	return id
}

func (c *rconClient) ioError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("cancelled: %w", context.Cause(ctx))
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("server closed the connection: %w", err)
	}
	return err
}

func (c *rconClient) write(p rconPacket) error {
	buf := make([]byte, 4, 14+len(p.body))
	binary.LittleEndian.PutUint32(buf, uint32(10+len(p.body)))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(p.id))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(p.typ))
	buf = append(buf, p.body...)
	buf = append(buf, 0, 0)
	_, err := c.conn.Write(buf)
	return err
}

func (c *rconClient) read() (rconPacket, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return rconPacket{}, err
	}
	size := int32(binary.LittleEndian.Uint32(hdr[0:4]))
	if size < 10 || size > rconMaxPacket {
		return rconPacket{}, fmt.Errorf("invalid RCON packet size %d (not an RCON server?)", size)
	}
	body := make([]byte, size-8)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return rconPacket{}, err
	}
	return rconPacket{
		id:   int32(binary.LittleEndian.Uint32(hdr[4:8])),
		typ:  int32(binary.LittleEndian.Uint32(hdr[8:12])),
		body: strings.TrimRight(string(body), "\x00"),
	}, nil
}

func collectRCONCommand(ctx context.Context, cl client, raw map[string]any, _ collectInput) (map[string]any, error) {
	c := cl.(*rconClient)
	start := time.Now()
	resp, err := c.exec(ctx, stringField(raw, "command"))
	if err != nil {
		return nil, fmt.Errorf("RCON command failed: %w", err)
	}
	return map[string]any{"response": resp, "executionTimeMs": int(time.Since(start).Milliseconds())}, nil
}

var (
	minecraftListRe  = regexp.MustCompile(`(?i)There are (\d+)(?: of a max of |/)(\d+) players online`)
	sourceHostnameRe = regexp.MustCompile(`(?i)^hostname\s*:\s*"?([^"]+)"?$`)
	sourceVersionRe  = regexp.MustCompile(`(?i)^version\s*:\s*(.+)$`)
	sourceMapRe      = regexp.MustCompile(`(?i)^map\s*:\s*(\S+)`)
	sourcePlayersRe  = regexp.MustCompile(`(?i)^players\s*:\s*(\d+)\s*humans?,\s*(\d+)\s*bots?\s*\((\d+)\s*max\)`)
)

func collectMinecraftPlayers(ctx context.Context, cl client, _ map[string]any, _ collectInput) (map[string]any, error) {
	resp, err := cl.(*rconClient).exec(ctx, "list")
	if err != nil {
		return nil, fmt.Errorf("RCON list failed: %w", err)
	}
	return parseMinecraftList(resp), nil
}

// parseMinecraftList parses "There are X of a max of Y players online: A, B" (also the older
// "There are X/Y players online:"). An unrecognised response counts 0 players.
func parseMinecraftList(resp string) map[string]any {
	online, maxPlayers := 0, 0
	if m := minecraftListRe.FindStringSubmatch(resp); m != nil {
		online, _ = strconv.Atoi(m[1])
		maxPlayers, _ = strconv.Atoi(m[2])
	}
	names := []any{}
	if i := strings.Index(resp, ":"); i >= 0 && online > 0 {
		for _, n := range strings.Split(resp[i+1:], ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
	}
	return map[string]any{"onlinePlayers": online, "maxPlayers": maxPlayers, "playerNames": names}
}

func collectSourceStatus(ctx context.Context, cl client, _ map[string]any, _ collectInput) (map[string]any, error) {
	resp, err := cl.(*rconClient).exec(ctx, "status")
	if err != nil {
		return nil, fmt.Errorf("RCON status failed: %w", err)
	}
	return parseSourceStatus(resp), nil
}

// parseSourceStatus reads the hostname, version, map and players lines of a Source "status"
// response; absent lines leave their fields out (players count 0).
func parseSourceStatus(resp string) map[string]any {
	out := map[string]any{"humanPlayers": 0, "botPlayers": 0, "maxPlayers": 0}
	for _, line := range strings.Split(resp, "\n") {
		line = strings.TrimSpace(line)
		if m := sourceHostnameRe.FindStringSubmatch(line); m != nil {
			out["hostname"] = strings.TrimSpace(m[1])
		} else if m := sourceVersionRe.FindStringSubmatch(line); m != nil {
			out["version"] = strings.TrimSpace(m[1])
		} else if m := sourceMapRe.FindStringSubmatch(line); m != nil {
			out["map"] = m[1]
		} else if m := sourcePlayersRe.FindStringSubmatch(line); m != nil {
			h, _ := strconv.Atoi(m[1])
			b, _ := strconv.Atoi(m[2])
			mx, _ := strconv.Atoi(m[3])
			out["humanPlayers"], out["botPlayers"], out["maxPlayers"] = h, b, mx
		}
	}
	return out
}

package checks

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

func pingStrategy() *strategyDef {
	return &strategyDef{
		id: "ping", plugin: "healthcheck-ping", displayName: "Ping (ICMP)",
		description: "Sends ICMP echo requests and measures packet loss and round-trip time.",
		connect:     connectNothing,
		collectors: []*collectorDef{{
			id: "ping", displayName: "Ping", allowMultiple: true,
			description: "Pings a host. Uses an unprivileged ICMP socket where the kernel allows it (net.ipv4.ping_group_range), else a raw socket (root or CAP_NET_RAW). Fails when no reply arrives.",
			config: objectSchema{Props: []prop{
				hostProp(),
				{Name: "count", Type: "integer", Title: "Packets", Default: 3, Min: ptr(1), Max: ptr(10)},
				timeoutProp(5000, 100, 60000, "How long to wait for each reply."),
				{Name: "interval", Type: "integer", Title: "Interval (ms)", Description: "Time between echo requests.", Default: 1000, Min: ptr(10), Max: ptr(10000)},
			}},
			result: objectSchema{Props: []prop{
				{Name: "packetsSent", Type: "integer"},
				{Name: "packetsReceived", Type: "integer"},
				{Name: "packetLoss", Type: "number", Description: "Percent of packets lost."},
				{Name: "minLatency", Type: "number"},
				{Name: "avgLatency", Type: "number"},
				{Name: "maxLatency", Type: "number"},
				{Name: "address", Type: "string"},
				{Name: "socket", Type: "string", Description: `"unprivileged" or "raw".`},
			}},
			aggregates: []aggSpec{
				{Name: "avgPacketLoss", Type: "average", Source: "packetLoss"},
				{Name: "avgLatency", Type: "average", Source: "avgLatency"},
				{Name: "latency", Type: "minmax", Source: "avgLatency"},
			},
			collect: collectPing,
		}},
	}
}

type icmpSocket struct {
	conn  *icmp.PacketConn
	raw   bool
	proto int // 1 ICMPv4, 58 ICMPv6
	v6    bool
}

type listenFunc func(network, address string) (*icmp.PacketConn, error)

// listenICMP opens an unprivileged ICMP socket, falling back to a raw socket.
func listenICMP(v6 bool, listen listenFunc) (*icmpSocket, error) {
	unpriv, rawNet, addr := "udp4", "ip4:icmp", "0.0.0.0"
	proto := 1
	if v6 {
		unpriv, rawNet, addr, proto = "udp6", "ip6:ipv6-icmp", "::", 58
	}
	conn, err1 := listen(unpriv, addr)
	if err1 == nil {
		return &icmpSocket{conn: conn, proto: proto, v6: v6}, nil
	}
	conn, err2 := listen(rawNet, addr)
	if err2 == nil {
		return &icmpSocket{conn: conn, raw: true, proto: proto, v6: v6}, nil
	}
	return nil, fmt.Errorf("ICMP is not available: unprivileged ping sockets are not allowed for this process "+
		"(set sysctl net.ipv4.ping_group_range to include its group) and raw ICMP sockets need root or CAP_NET_RAW: "+
		"unprivileged: %w; raw: %w", err1, err2)
}

func (s *icmpSocket) dst(ip net.IP) net.Addr {
	if s.raw {
		return &net.IPAddr{IP: ip}
	}
	return &net.UDPAddr{IP: ip}
}

func resolvePingHost(ctx context.Context, host string) (net.IP, error) {
	if ip := net.ParseIP(host); ip != nil {
		return ip, nil
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", host, err)
	}
	for _, a := range addrs { // prefer IPv4
		if a.IP.To4() != nil {
			return a.IP, nil
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("resolving %s: no addresses", host)
	}
	return addrs[0].IP, nil
}

func collectPing(ctx context.Context, _ client, raw map[string]any, _ collectInput) (map[string]any, error) {
	return runPing(ctx, raw, icmp.ListenPacket)
}

func runPing(ctx context.Context, raw map[string]any, listen listenFunc) (map[string]any, error) {
	host := stringField(raw, "host")
	count := intField(raw, "count", 3)
	timeout := time.Duration(intField(raw, "timeout", 5000)) * time.Millisecond
	interval := time.Duration(intField(raw, "interval", 1000)) * time.Millisecond

	ip, err := resolvePingHost(ctx, host)
	if err != nil {
		return nil, err
	}
	v6 := ip.To4() == nil
	sock, err := listenICMP(v6, listen)
	if err != nil {
		return nil, err
	}
	defer sock.conn.Close()
	stop := interruptOnCancel(ctx, sock.conn)
	defer stop()

	var reqType, replyType icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if v6 {
		reqType, replyType = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	id := int(token[0])<<8 | int(token[1])

	var rtts []float64
	sent := 0
	buf := make([]byte, 1500)
	for seq := 0; seq < count; seq++ {
		sendAt := time.Now()
		msg := icmp.Message{Type: reqType, Body: &icmp.Echo{ID: id, Seq: seq, Data: token}}
		wire, err := msg.Marshal(nil)
		if err != nil {
			return nil, fmt.Errorf("encoding echo request: %w", err)
		}
		if _, err := sock.conn.WriteTo(wire, sock.dst(ip)); err != nil {
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			return nil, fmt.Errorf("sending echo request to %s: %w", ip, err)
		}
		sent++
		_ = sock.conn.SetReadDeadline(sendAt.Add(timeout))
		for {
			n, _, err := sock.conn.ReadFrom(buf)
			if err != nil {
				if ctx.Err() != nil {
					return nil, context.Cause(ctx)
				}
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break // lost
				}
				return nil, fmt.Errorf("reading echo reply from %s: %w", ip, err)
			}
			reply, err := icmp.ParseMessage(sock.proto, buf[:n])
			if err != nil || reply.Type != replyType {
				continue
			}
			echo, ok := reply.Body.(*icmp.Echo)
			// Unprivileged sockets rewrite the id and only deliver our own replies.
			if !ok || echo.Seq != seq || !bytes.Equal(echo.Data, token) || (sock.raw && echo.ID != id) {
				continue
			}
			rtts = append(rtts, float64(time.Since(sendAt).Microseconds())/1000)
			break
		}
		if seq < count-1 {
			if wait := time.Until(sendAt.Add(interval)); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return nil, context.Cause(ctx)
				case <-t.C:
				}
			}
		}
	}
	socket := "unprivileged"
	if sock.raw {
		socket = "raw"
	}
	res := map[string]any{
		"packetsSent":     sent,
		"packetsReceived": len(rtts),
		"packetLoss":      round2(100 * float64(sent-len(rtts)) / float64(sent)),
		"address":         ip.String(),
		"socket":          socket,
	}
	if len(rtts) == 0 {
		return res, fmt.Errorf("no reply from %s (100%% packet loss)", ip)
	}
	minL, maxL, sum := math.Inf(1), 0.0, 0.0
	for _, r := range rtts {
		minL, maxL, sum = math.Min(minL, r), math.Max(maxL, r), sum+r
	}
	res["minLatency"] = round3(minL)
	res["avgLatency"] = round3(sum / float64(len(rtts)))
	res["maxLatency"] = round3(maxL)
	return res, nil
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }
func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

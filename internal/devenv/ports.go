package devenv

import (
	"errors"
	"fmt"
	"net"
)

// ErrPortInUse reports that an address the caller asked for is taken.
var ErrPortInUse = errors.New("address already in use")

// CheckPortFree returns ErrPortInUse (wrapped, naming the address) when addr cannot be bound.
func CheckPortFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", addr, ErrPortInUse)
	}
	return l.Close()
}

// FreePort returns a TCP port on ip that was free a moment ago.
func FreePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

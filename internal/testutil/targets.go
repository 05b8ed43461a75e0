package testutil

import (
	"net"
	"testing"
)

// BannerServer is a TCP service on 127.0.0.1 that sends banner to every connection and closes
// it (a probe target for TCP checks, hostile or not). It returns the port; the listener closes
// when the test ends.
func BannerServer(tb testing.TB, banner string) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return // closed by the cleanup
			}
			_, _ = c.Write([]byte(banner))
			_ = c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

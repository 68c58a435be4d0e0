package push

import (
	"context"
	"net"
	"syscall"
	"testing"
)

// noDelay reads TCP_NODELAY from the socket of c.
func noDelay(t *testing.T, c net.Conn) bool {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		v, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return v != 0
}

// TestPushConnectionHasNagleOff checks the socket option on the connection
// the Pusher dials, and that Go's own default (which dialNoDelay does not
// rely on) is the same.
func TestPushConnectionHasNagleOff(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for _, tc := range []struct {
		name string
		dial func(context.Context, string, string) (net.Conn, error)
		want bool
	}{
		{"dialNoDelay", dialNoDelay, true},
		{"Go's default dialer", (&net.Dialer{}).DialContext, true},
		{"dialNagle (tests only)", dialNagle, false},
	} {
		c, err := tc.dial(context.Background(), "tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if got := noDelay(t, c); got != tc.want {
			t.Errorf("%s: TCP_NODELAY = %v, want %v", tc.name, got, tc.want)
		}
		c.Close()
	}
}

package rtsp

import (
	"io"
	"net"
	"testing"
	"time"
)

// routed is a router under test and what each of its listeners accepted.
type routed struct {
	*router
	mainC, tunnelC chan net.Conn
}

// routerOn is a router of a firstRequestListener on 127.0.0.1 with the
// first-request timeout d, stopped when the test ends.
func routerOn(t *testing.T, d time.Duration) *routed {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &routed{router: newRouter(&firstRequestListener{Listener: ln, timeout: d}),
		mainC: make(chan net.Conn, 16), tunnelC: make(chan net.Conn, 16)}
	done := make(chan struct{}, 2)
	for l, to := range map[*routedListener]chan net.Conn{r.main: r.mainC, r.tunnel: r.tunnelC} {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				to <- c
			}
		}()
	}
	t.Cleanup(func() {
		r.tunnel.Close()
		r.main.Close()
		r.wait()
		<-done
		<-done
	})
	return r
}

// accepted is the next connection handed to c, nil if none within d.
func accepted(c chan net.Conn, d time.Duration) net.Conn {
	select {
	case got := <-c:
		return got
	case <-time.After(d):
		return nil
	}
}

// TestTheRouterHandsConnectionsOnByTheirFirstBytes: an RTSP request goes
// to the main server, an HTTP one (a tunnel's GET or POST, a WebSocket's
// GET) to the tunnel server, and either reads from its first byte on.
func TestTheRouterHandsConnectionsOnByTheirFirstBytes(t *testing.T) {
	r := routerOn(t, 5*time.Second)
	for _, tc := range []struct {
		first  string
		tunnel bool
	}{
		{"OPTIONS rtsp://127.0.0.1/x RTSP/1.0\r\nCSeq: 1\r\n\r\n", false},
		{"DESCRIBE rtsp://127.0.0.1/x RTSP/1.0\r\nCSeq: 1\r\n\r\n", false},
		{"GET /x HTTP/1.0\r\nx-sessioncookie: a\r\n\r\n", true},
		{"POST /x HTTP/1.0\r\nx-sessioncookie: a\r\n\r\n", true},
		{"GET /x HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", true},
	} {
		c, err := net.Dial("tcp", r.l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Sent in two pieces: the router waits for its four bytes.
		c.Write([]byte(tc.first[:2]))
		time.AfterFunc(20*time.Millisecond, func() { c.Write([]byte(tc.first[2:])) })
		to, other := r.mainC, r.tunnelC
		if tc.tunnel {
			to, other = r.tunnelC, r.mainC
		}
		got := accepted(to, 5*time.Second)
		if got == nil {
			t.Fatalf("%.8q: not handed to its server", tc.first)
		}
		defer got.Close()
		buf := make([]byte, len(tc.first))
		got.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(got, buf); err != nil || string(buf) != tc.first {
			t.Errorf("%.8q: read %q, %v", tc.first, buf, err)
		}
		if c := accepted(other, 50*time.Millisecond); c != nil {
			t.Errorf("%.8q: handed to the other server too", tc.first)
		}
	}
}

// TestTheRouterClosesAConnectionSilentPastItsDeadline: a connection that
// sends fewer bytes than tell its kind before its first request's
// deadline is closed, and goes to neither server.
func TestTheRouterClosesAConnectionSilentPastItsDeadline(t *testing.T) {
	r := routerOn(t, 200*time.Millisecond)
	c, err := net.Dial("tcp", r.l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GE"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read a byte from the router")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("not closed within 10 s of its 200 ms deadline")
	}
	for _, l := range []chan net.Conn{r.mainC, r.tunnelC} {
		if got := accepted(l, 50*time.Millisecond); got != nil {
			t.Error("a silent connection was handed on")
		}
	}
}

// TestTheRouterHandsOnUnreadPastItsBound: with routerPendingMax
// connections awaited, the next goes to the main server at once, unread
// (a tunnel plays there too), so that silent connections cannot hold
// others back. The router takes connections one after the other in the
// order they were accepted, so the silent one is awaited before the next
// is taken.
func TestTheRouterHandsOnUnreadPastItsBound(t *testing.T) {
	n := routerPendingMax
	t.Cleanup(func() { routerPendingMax = n }) // after the router's, which routerOn registers next
	routerPendingMax = 1
	r := routerOn(t, 5*time.Second)
	silent, err := net.Dial("tcp", r.l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	c, err := net.Dial("tcp", r.l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /x HTTP/1.0\r\n\r\n"))
	got := accepted(r.mainC, 5*time.Second)
	if got == nil {
		t.Fatal("the connection past the bound was not handed to the main server")
	}
	defer got.Close()
	if a, b := got.RemoteAddr().String(), c.LocalAddr().String(); a != b {
		t.Fatalf("the main server got %s, want the connection past the bound, %s", a, b)
	}
	if c := accepted(r.tunnelC, 50*time.Millisecond); c != nil {
		t.Error("the connection past the bound went to the tunnel server too")
	}
}

package push

import (
	"context"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	srt "github.com/datarhei/gosrt"
)

// udpRelay forwards datagrams between one client and a server until
// mute, after which it drops them all: a remote that went silent.
type udpRelay struct {
	pc     net.PacketConn
	muted  atomic.Bool
	wg     sync.WaitGroup
	client atomic.Pointer[net.Addr]
}

func startUDPRelay(t *testing.T, server string) *udpRelay {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up, err := net.Dial("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	r := &udpRelay{pc: pc}
	r.wg.Add(2)
	go func() { // client to server
		defer r.wg.Done()
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			r.client.Store(&from)
			if !r.muted.Load() {
				up.Write(buf[:n])
			}
		}
	}()
	go func() { // server to client
		defer r.wg.Done()
		buf := make([]byte, 2048)
		for {
			n, err := up.Read(buf)
			if err != nil {
				return
			}
			if to := r.client.Load(); to != nil && !r.muted.Load() {
				pc.WriteTo(buf[:n], *to)
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); up.Close(); r.wg.Wait() })
	return r
}

// dialerReaders counts gosrt's dialer goroutines that read a UDP socket.
func dialerReaders() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "gosrt.Dial.func1")
}

// gosrt v0.9.0's dialer leaves its socket reader blocked for good when it
// is late to report the closed socket; close must collect it. One CPU and
// a remote that has gone silent (nothing wakes the reader before its
// socket closes) make it late every time.
func TestSRTCloseLeavesNoDialerGoroutine(t *testing.T) {
	r := startSRTReceiver(t, freeUDP(t), "")
	relay := startUDPRelay(t, r.ln.Addr().String())
	before := dialerReaders()
	for i := range 20 {
		proto := &srtProtocol{addr: relay.pc.LocalAddr().String(), cfg: srt.DefaultConfig()}
		relay.muted.Store(false)
		l, err := proto.connect(context.Background(), nil, nil, nil, false)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		relay.muted.Store(true)
		prev := runtime.GOMAXPROCS(1)
		l.(*srtLink).conn.Close()
		<-l.ended()
		runtime.GOMAXPROCS(prev)
		l.close()
	}
	eventually(t, srtReapMax+5*time.Second, "gosrt's dialer readers gone", func() bool { return dialerReaders() == before })
}

// eofConn is a closed gosrt connection whose dialer reports after eofs
// reads (-1: never).
type eofConn struct {
	srt.Conn
	eofs, reads int
}

func (c *eofConn) Read([]byte) (int, error) {
	c.reads++
	if c.eofs >= 0 && c.reads > c.eofs {
		return 0, srt.ErrClientClosed
	}
	return 0, io.EOF
}

func TestReapDialerReadsUntilTheDialerReports(t *testing.T) {
	c := &eofConn{eofs: 3}
	reapDialer(c)
	if c.reads != 4 {
		t.Errorf("%d reads, want 4 (3 io.EOF, then the dialer's error)", c.reads)
	}
	never := &eofConn{eofs: -1}
	start := time.Now()
	reapDialer(never)
	if d := time.Since(start); d < srtReapMax {
		t.Errorf("gave up after %v, want srtReapMax (%v)", d, srtReapMax)
	}
}

package framecast_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/rtsp"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/internal/testsrc"
)

// setupOnly opens a connection that SETs UP path over UDP, with client
// ports port and port+1, and then never PLAYs. It is closed when the test
// ends, or by the caller.
func setupOnly(t *testing.T, srv *framecast.Server, path string, port int) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", srv.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "SETUP rtsp://%s%s/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP;unicast;client_port=%d-%d\r\n\r\n",
		srv.Addr(), path, port, port+1)
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "RTSP/1.0 200") {
		t.Fatalf("SETUP-only client: %q, %v", status, err)
	}
	return c
}

// TestViewersBesideSetupOnlyClientsGetTheirFirstFrameAtOnce: two clients
// that SETUP and never PLAY do not hold up an ffmpeg viewer that joins
// beside them, over UDP or TCP.
func TestViewersBesideSetupOnlyClientsGetTheirFirstFrameAtOnce(t *testing.T) {
	const w, h = 320, 240
	srv := newServer(t, framecast.Config{})
	servePattern(t, srv, "/test", w, h, 30)
	setupOnly(t, srv, "/test", 41000)
	setupOnly(t, srv, "/test", 41002)
	for _, transport := range []string{"udp", "tcp"} {
		start := time.Now()
		// Without probing, as firstFrame: a low-latency client's start.
		dec := testkit.FFmpeg(t, url(srv, "/test"), transport, "gray", w, h,
			"-analyzeduration", "0", "-probesize", "32", "-flags", "low_delay")
		testsrc.ReadNumber(dec.Next(t, 10*time.Second), w, h, w)
		d := time.Since(start)
		dec.Stop()
		t.Logf("ffmpeg over %s beside two SETUP-only clients: first frame after %v", transport, d)
		if d > 1500*time.Millisecond {
			t.Errorf("ffmpeg over %s waited %v for its first frame beside two SETUP-only clients", transport, d)
		}
	}
}

// TestRTSPGarbageIsClosedAfterTheFirstRequestDeadline: bytes that are no
// RTSP request, on the RTSP port, are answered by closing the connection
// once the first request's time is up, not held for the idle minute.
func TestRTSPGarbageIsClosedAfterTheFirstRequestDeadline(t *testing.T) {
	srv := newServer(t, framecast.Config{})
	c, err := net.DialTimeout("tcp", srv.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := io.WriteString(c, "\x00\x01 hello? \xff\xfe\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(start.Add(rtsp.DefaultFirstRequestTimeout + 5*time.Second))
	n, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection that sent garbage still open after %v", time.Since(start))
	}
	t.Logf("connection that sent garbage closed after %v (%d bytes answered)", time.Since(start), n)
}

// TestRTSPPlayWithoutASessionIs454: 454 Session Not Found, as RFC 2326
// says, rather than gortsplib's 501 Not Implemented.
func TestRTSPPlayWithoutASessionIs454(t *testing.T) {
	srv := newServer(t, framecast.Config{})
	servePattern(t, srv, "/test", 320, 240, 30)
	if code, body := rtspRequest(t, srv.Addr().String(), "PLAY", "/test"); code != 454 {
		t.Errorf("PLAY without a session: %d %q, want 454", code, body)
	}
}

package rtsp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
)

// rawConn is an RTSP connection written by hand, as a hostile client would.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, s *Server) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

// request sends an RTSP request with the given extra header lines and
// returns the status line of the answer and its headers.
func (c *rawConn) request(t *testing.T, method, url string, header ...string) (string, map[string]string) {
	t.Helper()
	msg := method + " " + url + " RTSP/1.0\r\nCSeq: 1\r\n"
	for _, h := range header {
		msg += h + "\r\n"
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg+"\r\n"); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	status, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatalf("no answer to %s: %v", method, err)
	}
	headers := map[string]string{}
	length := 0
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatalf("answer to %s: %v", method, err)
		}
		line = strings.TrimSpace(line)
		if line == "" {
			break
		}
		k, v, _ := strings.Cut(line, ":")
		headers[strings.ToLower(k)] = strings.TrimSpace(v)
		if strings.EqualFold(k, "Content-Length") {
			fmt.Sscan(v, &length)
		}
	}
	if _, err := io.CopyN(io.Discard, c.r, int64(length)); err != nil {
		t.Fatalf("answer to %s: body: %v", method, err)
	}
	return strings.TrimSpace(status), headers
}

// closedWithin waits for the server to close c and returns how long it took.
func (c *rawConn) closedWithin(t *testing.T, max time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(max))
	_, err := io.Copy(io.Discard, c.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", max)
	}
	return time.Since(start)
}

// TestSetupOnlyClientsDoNotDelayOtherViewers: two clients SETUP the path
// over UDP and never PLAY; a viewer over UDP and one over TCP that join
// beside them get their first packet as fast as without them.
func TestSetupOnlyClientsDoNotDelayOtherViewers(t *testing.T) {
	s, _ := streamingServer(t, Config{})
	for i := range 2 {
		c := dialRaw(t, s)
		port := 40000 + 2*i
		status, _ := c.request(t, "SETUP", "rtsp://"+s.Addr().String()+"/test/trackID=0",
			fmt.Sprintf("Transport: RTP/AVP;unicast;client_port=%d-%d", port, port+1))
		if status != "RTSP/1.0 200 OK" {
			t.Fatalf("SETUP-only client %d: %q", i, status)
		}
	}
	for _, proto := range []gortsplib.Protocol{gortsplib.ProtocolUDP, gortsplib.ProtocolTCP} {
		d, err := play(s, proto)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s viewer beside two SETUP-only clients: first packet after %v", proto, d)
		if d > 1500*time.Millisecond {
			t.Errorf("%s viewer waited %v for its first packet beside two SETUP-only clients", proto, d)
		}
	}
}

// TestGarbageAndSilenceAreClosedAtTheFirstRequestDeadline: a connection
// that sends bytes that are no request, or nothing, or half a request, is
// closed once the first request's time is up, not after the idle timeout.
func TestGarbageAndSilenceAreClosedAtTheFirstRequestDeadline(t *testing.T) {
	const timeout = 500 * time.Millisecond
	s, _ := streamingServer(t, Config{FirstRequestTimeout: timeout})
	for name, send := range map[string]string{
		// Bytes gortsplib skips, looking for a request.
		"garbage":          "\x00\x01\x02 hello? \xff\xfe\r\n\r\n",
		"TLS ClientHello":  "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
		"nothing":          "",
		"three bytes":      "OPT",
		"half a request":   "OPTIONS rtsp://h/ RTSP/1.0\r\nCSeq: 1\r\n",
		"half an HTTP GET": "GET /tunnel HTTP/1.0\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			c := dialRaw(t, s)
			if _, err := io.WriteString(c, send); err != nil {
				t.Fatal(err)
			}
			d := c.closedWithin(t, timeout+5*time.Second)
			t.Logf("closed %v after the bytes were sent", d)
		})
	}
}

// TestAConnectionIdleAfterItsFirstRequestStaysOpen: the first request's
// deadline ends with its answer; later the idle timeout applies.
func TestAConnectionIdleAfterItsFirstRequestStaysOpen(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s, _ := streamingServer(t, Config{FirstRequestTimeout: timeout})
	c := dialRaw(t, s)
	u := "rtsp://" + s.Addr().String() + "/test"
	if status, _ := c.request(t, "OPTIONS", u); status != "RTSP/1.0 200 OK" {
		t.Fatalf("OPTIONS: %q", status)
	}
	time.Sleep(3 * timeout)
	if status, _ := c.request(t, "DESCRIBE", u); status != "RTSP/1.0 200 OK" {
		t.Fatalf("DESCRIBE after an idle while: %q", status)
	}
}

// TestTunnelledViewersPlayPastTheFirstRequestDeadline: RTSP over HTTP and
// over WebSocket, whose first request is HTTP and whose RTSP goes through
// the connection afterwards, keep playing once the first request's time
// is up.
func TestTunnelledViewersPlayPastTheFirstRequestDeadline(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s, _ := streamingServer(t, Config{FirstRequestTimeout: timeout})
	for _, tunnel := range []gortsplib.Tunnel{gortsplib.TunnelHTTP, gortsplib.TunnelWebSocket} {
		var err error
		// gortsplib (v5.5.2 and v5.6.4) answers a tunnel's GET before it
		// registers it, so on loopback the POST can be handled first, be
		// refused ("did not found a corresponding HTTP GET request") and
		// the client see EOF at DESCRIBE, about once in twenty. That race
		// is not what this test is about: a tunnel gets three tries.
		for try := 0; try < 3; try++ {
			if _, err = playFor(s, gortsplib.ProtocolTCP, tunnel, 3*timeout); err == nil || !errors.Is(err, io.EOF) || tunnel != gortsplib.TunnelHTTP {
				break
			}
		}
		if err != nil {
			t.Errorf("tunnel %d: %v", tunnel, err)
		}
	}
}

// TestPlayAndTeardownWithoutASessionAre454: gortsplib answers 501 Not
// Implemented; framecast implements both, and the session is what is
// missing.
func TestPlayAndTeardownWithoutASessionAre454(t *testing.T) {
	s, _ := streamingServer(t, Config{})
	c := dialRaw(t, s)
	for _, method := range []string{"PLAY", "TEARDOWN"} {
		status, h := c.request(t, method, "rtsp://"+s.Addr().String()+"/test")
		if !strings.HasPrefix(status, "RTSP/1.0 454 Session Not Found") {
			t.Errorf("%s without a session: %q, want 454 Session Not Found", method, status)
		}
		if h["cseq"] != "1" {
			t.Errorf("%s without a session: CSeq %q, want 1", method, h["cseq"])
		}
	}
	// The connection goes on.
	if status, _ := c.request(t, "OPTIONS", "rtsp://"+s.Addr().String()+"/test"); status != "RTSP/1.0 200 OK" {
		t.Errorf("OPTIONS after the 454s: %q", status)
	}
}

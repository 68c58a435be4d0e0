package framecast_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/publisher"
)

// These tests cover how framecast serves: transports, RTSPS, credentials
// and limits, each against real ffmpeg and ffprobe on 127.0.0.1.

// logBuffer is a slog handler's output that a test reads while the server writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if testing.Verbose() {
		os.Stderr.Write(p)
	}
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines returns the log lines that contain every one of words.
func (l *logBuffer) lines(words ...string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		ok := line != ""
		for _, w := range words {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// newLoggedServer is newServer with the server's log kept for the test.
func newLoggedServer(t *testing.T, cfg framecast.Config) (*framecast.Server, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	if cfg.RTSPAddress == "" {
		cfg.RTSPAddress = "127.0.0.1:0"
	}
	cfg.UDPRTPAddress, cfg.UDPRTCPAddress = testkit.UDPPair(t)
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := framecast.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, logs
}

// withCreds puts user:pass in an rtsp:// URL.
func withCreds(u, user, pass string) string {
	scheme, rest, _ := strings.Cut(u, "://")
	return scheme + "://" + user + ":" + pass + "@" + rest
}

// probe runs ffprobe on u over transport ("" for ffprobe's default) and
// returns its output and whether it found the H.264 stream.
func probe(t *testing.T, u, transport string) (string, bool) {
	t.Helper()
	args := []string{"-v", "error", "-timeout", "5000000", "-show_entries", "stream=codec_name", "-of", "csv=p=0", u}
	if transport != "" {
		args = append([]string{"-rtsp_transport", transport}, args...)
	}
	out, err := testkit.Run(t, 20*time.Second, "ffprobe", args...)
	out = strings.TrimSpace(out)
	return out, err == nil && (out == "h264" || strings.HasSuffix(out, "\nh264"))
}

// wantRefused runs ffprobe on u and fails the test unless it is refused
// with an output that contains every one of words.
func wantRefused(t *testing.T, u, transport string, words ...string) string {
	t.Helper()
	out, ok := probe(t, u, transport)
	if ok {
		t.Fatalf("ffprobe %s over %s played; want it refused (%s)", u, transport, strings.Join(words, ", "))
	}
	for _, w := range words {
		if !strings.Contains(out, w) {
			t.Fatalf("ffprobe %s over %s: %q; want it to say %q", u, transport, out, w)
		}
	}
	return out
}

// decodes checks that ffmpeg decodes frames of u over transport, and
// returns the running decoder.
func decodes(t *testing.T, u, transport string, w, h int) *testkit.Frames {
	t.Helper()
	dec := testkit.FFmpeg(t, u, transport, "gray", w, h)
	for range 10 {
		dec.Next(t, 10*time.Second)
	}
	return dec
}

// TestTransportsAreSelectable: a transport that is off is refused with 461
// naming those on, and ffmpeg asked for it alone fails; the others play.
// ffmpeg left to choose falls back from UDP to TCP.
func TestTransportsAreSelectable(t *testing.T) {
	const w, h = 320, 240
	t.Run("tcp only", func(t *testing.T) {
		srv := newServer(t, framecast.Config{Transports: []string{"tcp"}})
		servePattern(t, srv, "/test", w, h, 30)
		out := wantRefused(t, url(srv, "/test"), "udp", "461", "this server offers tcp")
		t.Logf("ffprobe over udp from a tcp-only server: %s", out)
		decodes(t, url(srv, "/test"), "tcp", w, h)
		if out, ok := probe(t, url(srv, "/test"), ""); !ok {
			t.Errorf("ffprobe without -rtsp_transport did not fall back to tcp: %s", out)
		}
	})
	t.Run("udp only", func(t *testing.T) {
		srv := newServer(t, framecast.Config{Transports: []string{"udp"}})
		servePattern(t, srv, "/test", w, h, 30)
		out := wantRefused(t, url(srv, "/test"), "tcp", "461", "this server offers udp")
		t.Logf("ffprobe over tcp from a udp-only server: %s", out)
		decodes(t, url(srv, "/test"), "udp", w, h)
	})
}

// multicastConfig enables multicast on a random admin-scoped /24 and random
// ports, so that parallel test runs do not mix their streams.
func multicastConfig() framecast.Config {
	port := 20000 + 2*mrand.IntN(10000)
	return framecast.Config{
		Transports:        []string{"udp", "tcp", "multicast"},
		MulticastIPRange:  fmt.Sprintf("239.255.%d.0/24", mrand.IntN(256)),
		MulticastRTPPort:  port,
		MulticastRTCPPort: port + 1,
	}
}

// multicastLoops reports whether a datagram sent to group reaches a socket
// of this host that joined it, as ffmpeg joins (on the interface the
// routing table picks).
func multicastLoops(group net.IP) bool {
	port := 20000 + mrand.IntN(20000)
	in, err := net.ListenMulticastUDP("udp4", nil, &net.UDPAddr{IP: group, Port: port})
	if err != nil {
		return false
	}
	defer in.Close()
	out, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: group, Port: port})
	if err != nil {
		return false
	}
	defer out.Close()
	buf := make([]byte, 16)
	deadline := time.Now().Add(time.Second)
	in.SetReadDeadline(deadline)
	for time.Now().Before(deadline) {
		out.Write([]byte("framecast"))
		if n, _, err := in.ReadFrom(buf); err == nil && string(buf[:n]) == "framecast" {
			return true
		}
	}
	return false
}

// needLocalMulticast makes multicast to cidr reach this host's own sockets.
// Where it does not already (a host whose only interface is lo, as in a
// bare container), it turns multicast on for lo and routes cidr to lo, and
// undoes both when the test ends; that needs root and ip(8). Without them
// the test is skipped: the capability is genuinely absent.
func needLocalMulticast(t *testing.T, cidr string) {
	t.Helper()
	group, _, err := net.ParseCIDR(cidr)
	if err != nil {
		t.Fatal(err)
	}
	group = group.To4()
	group[3] = 1
	if multicastLoops(group) {
		return
	}
	if os.Geteuid() != 0 {
		t.Skipf("multicast to %s does not reach local sockets and only root can route it to lo "+
			"(ip link set lo multicast on; ip route add %s dev lo)", cidr, cidr)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skipf("multicast to %s does not reach local sockets and ip(8) is not installed to route it to lo", cidr)
	}
	ip := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if lo.Flags&net.FlagMulticast == 0 {
		if err := ip("link", "set", "lo", "multicast", "on"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := ip("link", "set", "lo", "multicast", "off"); err != nil {
				t.Error(err)
			}
		})
	}
	if err := ip("route", "add", cidr, "dev", "lo"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ip("route", "del", cidr, "dev", "lo"); err != nil {
			t.Error(err)
		}
	})
	if !multicastLoops(group) {
		t.Fatalf("multicast to %s does not reach local sockets even when routed to lo", cidr)
	}
	t.Logf("multicast routed to lo for the test: %s", cidr)
}

// TestMulticastViewerGetsFrames plays with ffmpeg -rtsp_transport
// udp_multicast: the server sends to a group of its range, and ffmpeg joins it.
func TestMulticastViewerGetsFrames(t *testing.T) {
	const w, h = 320, 240
	cfg := multicastConfig()
	needLocalMulticast(t, cfg.MulticastIPRange)
	srv, logs := newLoggedServer(t, cfg)
	servePattern(t, srv, "/test", w, h, 30)
	decodes(t, url(srv, "/test"), "udp_multicast", w, h)
	if len(logs.lines("viewer playing", "transport=UDP-multicast")) != 1 {
		t.Errorf("the server did not log a multicast viewer: %s", logs.lines("viewer playing"))
	}
	// A server without multicast refuses it, saying what it offers.
	plain := newServer(t, framecast.Config{})
	servePattern(t, plain, "/test", w, h, 30)
	wantRefused(t, url(plain, "/test"), "udp_multicast", "461", "this server offers udp, tcp")
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key as
// PEM files and returns their names.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestRTSPSServesFramesWithATestCertificate: with a certificate the server
// speaks RTSPS only. ffmpeg reads rtsps:// over TCP inside TLS (it does not
// check the certificate: its RTSP demuxer does not pass -tls_verify on), and
// GStreamer also over UDP, as SRTP.
func TestRTSPSServesFramesWithATestCertificate(t *testing.T) {
	const w, h = 320, 240
	cert, key := selfSigned(t)
	srv, logs := newLoggedServer(t, framecast.Config{TLSCert: cert, TLSKey: key})
	servePattern(t, srv, "/test", w, h, 30)
	secure := "rtsps://" + srv.Addr().String() + "/test"

	// The server presents the certificate it was given.
	certPEM, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", srv.Addr().String(),
		&tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("TLS handshake with the test certificate as the only root: %v", err)
	}
	conn.Close()

	if out, ok := probe(t, secure, "tcp"); !ok {
		t.Fatalf("ffprobe %s: %s", secure, out)
	}
	decodes(t, secure, "tcp", w, h)
	if out, ok := probe(t, url(srv, "/test"), "tcp"); ok {
		t.Errorf("plain rtsp:// to an RTSPS server played: %s", out)
	}

	out, err := testkit.Run(t, 20*time.Second, "gst-launch-1.0", "-q", "rtspsrc", "location="+secure,
		"tls-validation-flags=0", "protocols=udp", "!", "rtph264depay", "!", "avdec_h264", "!", "fakesink", "num-buffers=30")
	if err != nil {
		t.Fatalf("GStreamer over RTSPS and SRTP: %v: %s", err, out)
	}
	if v := logs.lines("viewer playing"); len(v) == 0 || !strings.HasSuffix(v[len(v)-1], "transport=UDP") {
		t.Errorf("GStreamer did not play over UDP: %q", v)
	}
}

func sha256Pass(pass string) string {
	h := sha256.Sum256([]byte(pass))
	return "sha256:" + hex.EncodeToString(h[:])
}

// authed probes url with user:pass at trace level, and returns ffprobe's
// output (which shows the requests it sends) and whether it played.
func authed(t *testing.T, u, user, pass string) (string, bool) {
	t.Helper()
	out, err := testkit.Run(t, 20*time.Second, "ffprobe", "-v", "trace", "-rtsp_transport", "tcp", "-timeout", "5000000",
		"-show_entries", "stream=codec_name", "-of", "csv=p=0", withCreds(u, user, pass))
	return out, err == nil && strings.Contains(out, "\nh264\n")
}

// TestRTSPCredentialsPerPath: a path with credentials answers 401 without
// them or with wrong ones, and plays with the right ones, by Digest for
// plain passwords and by Basic where a password is stored hashed; other
// paths keep their own credentials or none.
func TestRTSPCredentialsPerPath(t *testing.T) {
	const w, h = 320, 240
	srv, logs := newLoggedServer(t, framecast.Config{Auth: []framecast.PathAuth{
		{Path: "/a", Read: []framecast.Credentials{{User: "alice", Pass: "wonderland"}}},
		{Path: "/h", Read: []framecast.Credentials{{User: "hashed", Pass: sha256Pass("h4sh3d")}, {User: "plain", Pass: "pl4in"}}},
	}})
	for _, p := range []string{"/a", "/h", "/open"} {
		servePattern(t, srv, p, w, h, 30)
	}
	wantRefused(t, url(srv, "/a"), "tcp", "401 Unauthorized")
	wantRefused(t, withCreds(url(srv, "/a"), "alice", "wrong"), "tcp", "401 Unauthorized")
	wantRefused(t, withCreds(url(srv, "/a"), "plain", "pl4in"), "tcp", "401 Unauthorized") // /h's user
	wantRefused(t, url(srv, "/h"), "tcp", "401 Unauthorized")
	wantRefused(t, withCreds(url(srv, "/h"), "hashed", "wrong"), "tcp", "401 Unauthorized")
	if out, ok := probe(t, url(srv, "/open"), "tcp"); !ok {
		t.Errorf("a path without credentials was refused: %s", out)
	}

	// ffmpeg answers with the strongest method offered: Digest where both
	// are, Basic where the server offers only Basic.
	for _, c := range []struct{ path, user, pass, method string }{
		{"/a", "alice", "wonderland", "Digest"},
		{"/h", "hashed", "h4sh3d", "Basic"},
		{"/h", "plain", "pl4in", "Basic"},
	} {
		out, ok := authed(t, url(srv, c.path), c.user, c.pass)
		if !ok {
			t.Fatalf("%s as %s: ffprobe did not play: %s", c.path, c.user, out)
		}
		if !strings.Contains(out, "Authorization: "+c.method+" ") {
			var exchange []string
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, "Authorization:") || strings.Contains(l, "WWW-Authenticate") {
					exchange = append(exchange, l)
				}
			}
			t.Errorf("%s as %s: ffprobe did not authenticate with %s: %q", c.path, c.user, c.method, exchange)
		}
		decodes(t, withCreds(url(srv, c.path), c.user, c.pass), "tcp", w, h)
	}

	// Wrong credentials are logged with the remote address, once for a
	// burst of failures from one address.
	failed := logs.lines("authentication failed", "what=read", "remote=127.0.0.1:")
	if len(failed) != 1 || !strings.Contains(failed[0], "path=/a") || !strings.Contains(failed[0], "user=alice") {
		t.Errorf("want one line for the first refused credentials, from 127.0.0.1 for alice on /a; got %q", failed)
	}
	if n := len(logs.lines("authentication failure")); n != 0 {
		t.Errorf("%d lines of repeated failures within %v, want none yet: %s", n, 10*time.Second, logs)
	}
}

// TestBadAuthConfigIsRefused: mistakes in credentials stop NewServer with a
// message that says what is wrong.
func TestBadAuthConfigIsRefused(t *testing.T) {
	for _, c := range []struct {
		auth []framecast.PathAuth
		want string
	}{
		{[]framecast.PathAuth{{Path: "cam", Read: []framecast.Credentials{{User: "a", Pass: "b"}}}}, `auth: path "cam" must start with /`},
		{[]framecast.PathAuth{{Path: "*"}, {Path: "*"}}, "auth path * is listed twice"},
		{[]framecast.PathAuth{{Path: "/a", Read: []framecast.Credentials{{Pass: "b"}}}}, "auth /a read: RTSP credentials need a user name"},
		{[]framecast.PathAuth{{Path: "/a", Read: []framecast.Credentials{{User: "a:b", Pass: "c"}}}}, "cannot contain ':'"},
		{[]framecast.PathAuth{{Path: "/a", Publish: []framecast.Credentials{{User: "a"}}}}, `auth /a publish: user "a": empty password`},
		{[]framecast.PathAuth{{Path: "/a", Read: []framecast.Credentials{{User: "a", Pass: "sha256:abc"}}}}, "want sha256: and the 64 hex digits"},
	} {
		_, err := framecast.NewServer(framecast.Config{RTSPAddress: "127.0.0.1:0", DisableUDP: true, Auth: c.auth})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewServer with %+v: %v, want an error with %q", c.auth, err, c.want)
		}
	}
	for _, c := range []struct {
		cfg  framecast.Config
		want string
	}{
		{framecast.Config{Transports: []string{"sctp"}}, `unknown transport "sctp"`},
		{framecast.Config{Transports: []string{"udp"}, DisableUDP: true}, "no RTP transport enabled"},
		{framecast.Config{Transports: []string{"multicast"}, MulticastIPRange: "10.0.0.0/8"}, "want an IPv4 multicast range"},
		{framecast.Config{Transports: []string{"multicast"}, MulticastRTPPort: 8003, MulticastRTCPPort: 8004}, "want an even port and the next one"},
		{framecast.Config{TLSCert: "cert.pem"}, "RTSPS needs both a certificate (TLSCert) and its key (TLSKey)"},
		{framecast.Config{TLSCert: "/nonexistent/cert.pem", TLSKey: "/nonexistent/key.pem"}, "RTSPS certificate /nonexistent/cert.pem"},
		{framecast.Config{MaxViewers: -1}, "limits must be 0 (none) or more"},
	} {
		c.cfg.RTSPAddress = "127.0.0.1:0"
		_, err := framecast.NewServer(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewServer with %+v: %v, want an error with %q", c.cfg, err, c.want)
		}
	}
}

// dialErr dials a producer and returns the error, closing it if it connects.
func dialErr(t *testing.T, address, path string, opts ...publisher.Option) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, err := publisher.Dial(ctx, address, path, publisher.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48}, opts...)
	if err == nil {
		pub.Close()
	}
	return err
}

// TestIngestTokenIsCheckedOverTCPButNotOnAUnixSocket: over TCP a producer
// needs the path's token or USER:PASS (the password may be stored hashed);
// on a Unix socket the socket's permissions decide.
func TestIngestTokenIsCheckedOverTCPButNotOnAUnixSocket(t *testing.T) {
	srv, logs := newLoggedServer(t, framecast.Config{Auth: []framecast.PathAuth{
		{Path: "/cam", Publish: []framecast.Credentials{{Pass: "t0ken"}, {User: "cam", Pass: sha256Pass("s3cret")}}},
		{Path: "*", Publish: []framecast.Credentials{{Pass: "other"}}},
	}})
	open := listenIngestTCP(t, newServer(t, framecast.Config{}))
	addr := listenIngestTCP(t, srv)
	sock := filepath.Join(shortTempDir(t), "ingest.sock")
	if _, err := srv.ListenIngest("unix://" + sock); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, token, why string
	}{
		{"/cam", "", "no token given"},
		{"/cam", "nope", "wrong token"},
		{"/cam", "cam:wrong", "wrong token"},
		{"/cam", "other", "wrong token"}, // "*"'s token is not /cam's
		{"/cam", "cam:" + sha256Pass("s3cret"), "wrong token"},
		{"/else", "t0ken", "wrong token"},
	} {
		err := dialErr(t, addr, c.path, publisher.WithToken(c.token))
		var e *publisher.Error
		want := fmt.Sprintf("publishing %s needs credentials: %s (send the token, or USER:PASS, in HELLO)", c.path, c.why)
		if !errors.As(err, &e) || e.Code != publisher.CodeUnauthorized || !e.Fatal || e.Message != want {
			t.Errorf("Dial %s with token %q: %v, want unauthorized: %s", c.path, c.token, err, want)
		}
	}
	for _, c := range []struct{ address, path, token string }{
		{addr, "/cam", "t0ken"},
		{addr, "/cam", "cam:s3cret"},
		{addr, "/else", "other"},
		{open, "/cam", ""}, // a server without credentials
		{"unix://" + sock, "/cam", ""},
		{"unix://" + sock, "/else", "anything"},
	} {
		if err := dialErr(t, c.address, c.path, publisher.WithToken(c.token)); err != nil {
			t.Errorf("Dial %s%s with token %q: %v", c.address, c.path, c.token, err)
		}
	}
	failed := logs.lines("authentication failed", "what=publish", "remote=127.0.0.1:")
	if len(failed) != 1 {
		t.Errorf("want one line for the first refused token from 127.0.0.1, then counting; got %q", failed)
	}
}

// TestOpenListenersReachableFromOtherHostsAreWarnedAbout: a warning at start
// when a listener other hosts can reach has paths without credentials.
func TestOpenListenersReachableFromOtherHostsAreWarnedAbout(t *testing.T) {
	const rtspWarning = "RTSP listener is reachable from other hosts"
	const ingestWarning = "ingest listener is reachable from other hosts"
	open, logs := newLoggedServer(t, framecast.Config{RTSPAddress: ":0"})
	if _, err := open.ListenIngest("tcp://:0"); err != nil {
		t.Fatal(err)
	}
	if len(logs.lines(rtspWarning, "no credentials are configured", "level=WARN")) != 1 ||
		len(logs.lines(ingestWarning, "no credentials are configured", "level=WARN")) != 1 {
		t.Errorf("want a warning for each open listener; log: %s", logs)
	}
	some, logs := newLoggedServer(t, framecast.Config{RTSPAddress: ":0", Auth: []framecast.PathAuth{
		{Path: "/cam", Read: []framecast.Credentials{{User: "a", Pass: "b"}}}}})
	if _, err := some.ListenIngest("tcp://:0"); err != nil {
		t.Fatal(err)
	}
	if len(logs.lines(rtspWarning, "paths without credentials of their own are open")) != 1 ||
		len(logs.lines(ingestWarning, "no credentials are configured")) != 1 {
		t.Errorf("want warnings for paths left open; log: %s", logs)
	}
	closed, logs := newLoggedServer(t, framecast.Config{RTSPAddress: ":0", Auth: []framecast.PathAuth{
		{Path: "*", Read: []framecast.Credentials{{User: "a", Pass: "b"}}, Publish: []framecast.Credentials{{Pass: "t"}}}}})
	if _, err := closed.ListenIngest("tcp://:0"); err != nil {
		t.Fatal(err)
	}
	loopback, logs2 := newLoggedServer(t, framecast.Config{})
	if _, err := loopback.ListenIngest("tcp://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if w := logs.lines("reachable from other hosts"); len(w) != 0 {
		t.Errorf("warnings with credentials for every path: %q", w)
	}
	if w := logs2.lines("reachable from other hosts"); len(w) != 0 {
		t.Errorf("warnings for loopback listeners: %q", w)
	}
}

// TestViewerLimitsRefuseWith503AndOthersKeepPlaying: beyond MaxViewersPerPath
// or MaxViewers a viewer gets 503 naming the limit; the viewers already in
// go on, and a place freed is taken again.
func TestViewerLimitsRefuseWith503AndOthersKeepPlaying(t *testing.T) {
	const w, h = 320, 240
	srv := newServer(t, framecast.Config{MaxViewers: 2, MaxViewersPerPath: 1})
	for _, p := range []string{"/a", "/b", "/c"} {
		servePattern(t, srv, p, w, h, 30)
	}
	first := decodes(t, url(srv, "/a"), "tcp", w, h)
	wantRefused(t, url(srv, "/a"), "tcp", "503 Service Unavailable (/a has its maximum of 1 viewers)")
	wantRefused(t, url(srv, "/a"), "udp", "503 Service Unavailable (/a has its maximum of 1 viewers)")
	second := decodes(t, url(srv, "/b"), "udp", w, h)
	wantRefused(t, url(srv, "/c"), "tcp", "503 Service Unavailable (the server has its maximum of 2 viewers)")
	for name, d := range map[string]*testkit.Frames{"first": first, "second": second} {
		for range 30 {
			d.Next(t, 5*time.Second)
		}
		if e := d.Stderr(); e != "" {
			t.Errorf("%s viewer: ffmpeg errors: %s", name, e)
		}
	}
	// The first viewer leaves (its TCP connection closes): its place is free.
	first.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, ok := probe(t, url(srv, "/c"), "tcp")
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a viewer of /c is still refused after the first viewer left: %s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestMaxProducersRefusesTheNextProducerClearly: beyond MaxProducers a
// producer is refused (ingest: too-many-producers; Go API:
// ErrTooManyProducers) and the stream already published goes on.
func TestMaxProducersRefusesTheNextProducerClearly(t *testing.T) {
	const w, h = 320, 240
	// The path of a producer that left counts until its linger is over.
	srv := newServer(t, framecast.Config{MaxProducers: 1, Linger: 500 * time.Millisecond})
	addr := listenIngestTCP(t, srv)
	f := framecast.Format{PixelFormat: framecast.BGR24, Width: w, Height: h, FPS: 30}
	pub := dialPublisher(t, addr, "/a", f)
	push(t, pub, 30, 0, stampedBGR(w, h))
	dec := decodes(t, url(srv, "/a"), "tcp", w, h)

	err := dialErr(t, addr, "/b")
	var e *publisher.Error
	want := "the server has its maximum of 1 producers; try again when one leaves"
	if !errors.As(err, &e) || e.Code != publisher.CodeTooManyProducers || !e.Fatal || e.Message != want {
		t.Fatalf("second producer: %v, want too-many-producers: %s", err, want)
	}
	if _, err := srv.Publish("/c", f); !errors.Is(err, framecast.ErrTooManyProducers) {
		t.Fatalf("Publish beyond the limit: %v, want ErrTooManyProducers", err)
	}
	for range 30 {
		dec.Next(t, 5*time.Second)
	}
	pub.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := dialErr(t, addr, "/b")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a producer is still refused after the first left: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// docCommand returns the command of docs/serving.md that starts with prefix.
func docCommand(t *testing.T, prefix string) string {
	t.Helper()
	doc, err := os.ReadFile("docs/serving.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	t.Fatalf("docs/serving.md has no command starting with %q", prefix)
	return ""
}

// TestServingDocCommandsWork runs, as written, the openssl one-liner of
// docs/serving.md and serves RTSPS with its certificate, and the one-liner
// that hashes a password, and logs in with the hash.
func TestServingDocCommandsWork(t *testing.T) {
	testkit.Need(t, "openssl", "sha256sum")
	const w, h = 320, 240
	dir := t.TempDir()
	run := func(line string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", "-c", line)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s\n%v: %s", line, err, out)
		}
		return string(out)
	}
	run(docCommand(t, "openssl req "))
	hashLine := docCommand(t, "echo \"sha256:")
	hashed := strings.TrimSpace(run(hashLine))
	if hashed != sha256Pass("secret") {
		t.Fatalf("%s printed %q, want %q", hashLine, hashed, sha256Pass("secret"))
	}
	srv := newServer(t, framecast.Config{
		TLSCert: filepath.Join(dir, "cert.pem"), TLSKey: filepath.Join(dir, "key.pem"),
		Auth: []framecast.PathAuth{{Path: "*", Read: []framecast.Credentials{{User: "viewer", Pass: hashed}}}},
	})
	servePattern(t, srv, "/cam", w, h, 30)
	secure := "rtsps://" + srv.Addr().String() + "/cam"
	wantRefused(t, secure, "tcp", "401 Unauthorized")
	decodes(t, withCreds(secure, "viewer", "secret"), "tcp", w, h)
}

// TestRepeatedAuthFailuresAreCountedNotLoggedEachTime: the first refused
// token from an address is logged at once; the next ones are counted and
// logged together, at most once every 10 s.
func TestRepeatedAuthFailuresAreCountedNotLoggedEachTime(t *testing.T) {
	srv, logs := newLoggedServer(t, framecast.Config{Auth: []framecast.PathAuth{
		{Path: "*", Publish: []framecast.Credentials{{Pass: "t0ken"}}}}})
	addr := listenIngestTCP(t, srv)
	start := time.Now()
	for range 20 {
		if err := dialErr(t, addr, "/cam", publisher.WithToken("guess")); err == nil {
			t.Fatal("a wrong token was taken")
		}
	}
	if n := len(logs.lines("authentication failed")); n != 1 {
		t.Fatalf("%d lines for 20 failures in %v, want 1: %s", n, time.Since(start), logs)
	}
	time.Sleep(10*time.Second - time.Since(start) + 100*time.Millisecond)
	dialErr(t, addr, "/cam", publisher.WithToken("guess"))
	repeated := logs.lines("authentication failures repeated", "what=publish", "remote=127.0.0.1:", "failures=20 failures_total=21")
	if len(repeated) != 1 {
		t.Errorf("want one line counting the 20 failures after the first; log: %s", logs)
	}
}

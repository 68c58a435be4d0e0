package push

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	srt "github.com/datarhei/gosrt"
)

// media is what an RTMP or SRT receiver got: its sessions (what each was
// announced) and the access units, with their timestamps.
type media struct {
	mu       sync.Mutex
	sessions []session
	frames   []tsFrame
	ended    int // sessions ended by the publisher
	more     chan struct{}
}

type session struct {
	name     string // RTMP: the URL published to; SRT: the streamid
	sps, pps []byte // RTMP's sequence header; SRT has none
}

type tsFrame struct {
	n   uint32
	idr bool
	pts time.Duration
}

func newMedia() *media { return &media{more: make(chan struct{}, 1)} }

func (m *media) changed() {
	select {
	case m.more <- struct{}{}:
	default:
	}
}

func (m *media) addSession(s session) {
	m.mu.Lock()
	m.sessions = append(m.sessions, s)
	m.mu.Unlock()
	m.changed()
}

func (m *media) addAU(au [][]byte, pts time.Duration) {
	f := tsFrame{pts: pts}
	slice := false
	for _, nalu := range au {
		if len(nalu) < 5 {
			continue
		}
		if typ := h264.NALUType(nalu[0] & 0x1f); typ == h264.NALUTypeNonIDR || typ == h264.NALUTypeIDR {
			f.n, f.idr, slice = readNumber(nalu[1:]), typ == h264.NALUTypeIDR, true
		}
	}
	if !slice {
		return // gortmplib's reader hands the sequence header's SPS and PPS on as an access unit
	}
	m.mu.Lock()
	m.frames = append(m.frames, f)
	m.mu.Unlock()
	m.changed()
}

func (m *media) end() {
	m.mu.Lock()
	m.ended++
	m.mu.Unlock()
	m.changed()
}

func (m *media) wait(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		m.mu.Lock()
		ok := cond()
		m.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-m.more:
		case <-deadline.C:
			t.Fatalf("receiver: no %s within %v", what, timeout)
		}
	}
}

func (m *media) snapshot() []tsFrame {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]tsFrame(nil), m.frames...)
}

// checkTSFrames checks frames as a decoder would see them: an IDR first,
// numbers going up, a gap only before an IDR, and timestamps spaced as
// the source's pts, within tolerance (RTMP counts milliseconds).
func checkTSFrames(t *testing.T, src *source, frames []tsFrame, tolerance time.Duration) {
	t.Helper()
	if len(frames) == 0 {
		t.Fatal("no frames")
	}
	if !frames[0].idr {
		t.Fatalf("first frame received (%d) is not an IDR", frames[0].n)
	}
	for i := 1; i < len(frames); i++ {
		a, b := frames[i-1], frames[i]
		if b.n <= a.n {
			t.Fatalf("frame %d after frame %d: out of order", b.n, a.n)
		}
		if b.n != a.n+1 && !b.idr {
			t.Fatalf("frame %d after frame %d is not an IDR: a decoder would miss its references", b.n, a.n)
		}
		want := src.pts(b.n) - src.pts(a.n)
		if d := b.pts - a.pts - want; d > tolerance || d < -tolerance {
			t.Fatalf("frame %d is %v after frame %d, want %v", b.n, b.pts-a.pts, a.n, want)
		}
	}
}

// rtmpReceiver is an RTMP server (gortmplib's server side) that accepts
// publishers, as nginx-rtmp does, and keeps what they send.
type rtmpReceiver struct {
	*media
	l  net.Listener
	wg sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

func startRTMPReceiver(t *testing.T, addr string) *rtmpReceiver {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return serveRTMP(t, l)
}

// serveRTMP runs an rtmpReceiver on l.
func serveRTMP(t *testing.T, l net.Listener) *rtmpReceiver {
	r := &rtmpReceiver{media: newMedia(), l: l}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.conns = append(r.conns, c)
			r.mu.Unlock()
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				defer c.Close()
				r.serve(c)
			}()
		}
	}()
	t.Cleanup(r.Close)
	return r
}

func (r *rtmpReceiver) serve(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	sc := &gortmplib.ServerConn{RW: c}
	if err := sc.Initialize(); err != nil {
		return
	}
	if err := sc.AcceptConn(); err != nil || !sc.Publish {
		return
	}
	rd := &gortmplib.Reader{Conn: sc}
	if err := rd.Initialize(); err != nil {
		return
	}
	s := session{name: sc.URL.String()}
	for _, tr := range rd.Tracks() {
		if codec, ok := tr.Codec.(*codecs.H264); ok {
			s.sps, s.pps = codec.SPS, codec.PPS
			rd.OnDataH264(tr, func(pts, _ time.Duration, au [][]byte) { r.addAU(au, pts) })
		}
	}
	r.addSession(s)
	c.SetReadDeadline(time.Time{})
	for {
		if err := rd.Read(); err != nil {
			r.end()
			return
		}
	}
}

// Close stops the receiver and disconnects its publishers.
func (r *rtmpReceiver) Close() {
	r.l.Close()
	r.mu.Lock()
	for _, c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

func TestRTMPPushSendsTheIDRsParametersAndEveryFrameInOrder(t *testing.T) {
	r := startRTMPReceiver(t, "127.0.0.1:0")
	src := newSource(30)
	src.run(t)
	logs, log := newLogs(t)
	p := newPusher(t, Config{URL: "rtmp://" + r.l.Addr().String() + "/live/cam-key", Subscribe: src.Subscribe, Logger: log})

	r.wait(t, 10*time.Second, "45 frames", func() bool { return len(r.frames) >= 45 })
	frames := r.snapshot()
	checkTSFrames(t, src, frames, time.Millisecond)
	for i := 1; i < len(frames); i++ {
		if frames[i].n != frames[i-1].n+1 {
			t.Fatalf("frame %d after %d: a frame is missing", frames[i].n, frames[i-1].n)
		}
	}
	if frames[0].pts != 0 {
		t.Errorf("first frame at %v, want RTMP timestamps to start at 0", frames[0].pts)
	}
	r.media.mu.Lock()
	s := r.sessions[0]
	r.media.mu.Unlock()
	if want := "rtmp://" + r.l.Addr().String() + "/live/cam-key"; s.name != want || !bytes.Equal(s.sps, testSPS) || !bytes.Equal(s.pps, testPPS) {
		t.Errorf("published to %s with SPS %x PPS %x; want %s with the IDR's %x %x", s.name, s.sps, s.pps, want, testSPS, testPPS)
	}
	if st := p.Stats(); !st.Connected || st.Dropped != 0 || st.Reconnects != 0 || st.Failures != 0 || p.Transport() != "tcp" {
		t.Errorf("stats %+v, transport %s; want connected, nothing dropped, no reconnect or failure, tcp", st, p.Transport())
	}
	p.Close()
	r.wait(t, 5*time.Second, "end of the publication", func() bool { return r.ended == 1 })
	if n := src.sinkCount(); n != 0 {
		t.Errorf("%d sinks still registered after Close", n)
	}
	for _, rec := range logs.all() {
		if bytes.Contains([]byte(rec.text), []byte("cam-key")) {
			t.Errorf("stream key in a log line: %s", rec.text)
		}
	}
}

// TestRTMPSPushChecksTheServersCertificate publishes over TLS to a
// server whose certificate the push trusts, and refuses one it does not.
func TestRTMPSPushChecksTheServersCertificate(t *testing.T) {
	cert, pool := selfSigned(t)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	r := serveRTMP(t, l)
	src := newSource(30)
	src.run(t)
	url := "rtmps://" + r.l.Addr().String() + "/live/cam"

	logs, log := newLogs(t)
	untrusted := newPusher(t, Config{URL: url, Subscribe: src.Subscribe, Logger: log, MinBackoff: time.Second})
	eventually(t, 10*time.Second, "a failed attempt", func() bool { return len(logs.find("push failed")) >= 1 })
	if e := logs.find("push failed")[0].attrs["error"].String(); !strings.Contains(e, "certificate") {
		t.Errorf("untrusted server: error %q, want one about its certificate", e)
	}
	untrusted.Close()

	_, log = newLogs(t)
	newPusher(t, Config{URL: url, Subscribe: src.Subscribe, Logger: log, tlsConfig: &tls.Config{RootCAs: pool}})
	r.wait(t, 10*time.Second, "15 frames over TLS", func() bool { return len(r.frames) >= 15 })
	checkTSFrames(t, src, r.snapshot(), time.Millisecond)
}

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "framecast test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestRTMPPushReconnectsWithAFreshIDRAfterTheServerRestarts(t *testing.T) {
	r1 := startRTMPReceiver(t, "127.0.0.1:0")
	addr := r1.l.Addr().String()
	src := newSource(30)
	src.run(t)
	logs, log := newLogs(t)
	p := newPusher(t, Config{URL: "rtmp://" + addr + "/live/cam", Subscribe: src.Subscribe, Logger: log,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	r1.wait(t, 10*time.Second, "15 frames", func() bool { return len(r1.frames) >= 15 })
	r1.Close()
	eventually(t, 5*time.Second, "two failed attempts", func() bool { return len(logs.find("push failed")) >= 2 })
	r2 := startRTMPReceiver(t, addr)
	r2.wait(t, 10*time.Second, "15 frames after the restart", func() bool { return len(r2.frames) >= 15 })
	checkTSFrames(t, src, r2.snapshot(), time.Millisecond)
	if first, second := r1.snapshot(), r2.snapshot(); second[0].n <= first[len(first)-1].n {
		t.Errorf("after the restart the push starts at frame %d, not after %d", second[0].n, first[len(first)-1].n)
	}
	if st := p.Stats(); !st.Connected || st.Reconnects != 1 || st.Failures < 3 {
		t.Errorf("stats %+v, want connected, 1 reconnect, at least 3 failures", st)
	}
	if d := logs.find("push disconnected"); len(d) != 1 || d[0].attrs["url"].String() != "rtmp://"+addr+"/live/xxxxx" {
		t.Errorf("disconnection logged as %v, want once with the key redacted", d)
	}
}

// srtReceiver is an SRT listener (gosrt) that takes one publisher at a
// time and demuxes its MPEG-TS (mediacommon).
type srtReceiver struct {
	*media
	ln srt.Listener
	wg sync.WaitGroup

	mu    sync.Mutex
	conns []srt.Conn
}

func startSRTReceiver(t *testing.T, addr, passphrase string) *srtReceiver {
	t.Helper()
	cfg := srt.DefaultConfig()
	cfg.Passphrase = passphrase
	ln, err := srt.Listen("srt", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &srtReceiver{media: newMedia(), ln: ln}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			req, err := ln.Accept2()
			if err != nil {
				return
			}
			if passphrase != "" {
				if err := req.SetPassphrase(passphrase); err != nil {
					req.Reject(srt.REJ_BADSECRET)
					continue
				}
			}
			c, err := req.Accept()
			if err != nil {
				continue
			}
			r.mu.Lock()
			r.conns = append(r.conns, c)
			r.mu.Unlock()
			r.addSession(session{name: c.StreamId()})
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				defer c.Close()
				r.serve(c)
			}()
		}
	}()
	t.Cleanup(r.Close)
	return r
}

func (r *srtReceiver) serve(c srt.Conn) {
	defer r.end()
	rd := &mpegts.Reader{R: c}
	if err := rd.Initialize(); err != nil {
		return
	}
	for _, tr := range rd.Tracks() {
		rd.OnDataH264(tr, func(pts, _ int64, au [][]byte) error {
			r.addAU(au, time.Duration(pts)*time.Second/tsClockRate)
			return nil
		})
	}
	for {
		if err := rd.Read(); err != nil {
			return
		}
	}
}

// Close stops the receiver and disconnects its publishers.
func (r *srtReceiver) Close() {
	r.ln.Close()
	r.mu.Lock()
	for _, c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

func TestSRTPushSendsEveryFrameInOrderAndTheLastOnesBeforeShutdown(t *testing.T) {
	for _, passphrase := range []string{"", "0123456789-secret"} {
		name := "clear"
		if passphrase != "" {
			name = "encrypted"
		}
		t.Run(name, func(t *testing.T) {
			addr := freeUDP(t)
			r := startSRTReceiver(t, addr, passphrase)
			src := newSource(30)
			src.run(t)
			logs, log := newLogs(t)
			url := "srt://" + addr + "?streamid=cam-secret"
			if passphrase != "" {
				url += "&passphrase=" + passphrase
			}
			p := newPusher(t, Config{URL: url, Subscribe: src.Subscribe, Logger: log})
			eventually(t, 10*time.Second, "45 frames pushed", func() bool { return p.Stats().FramesSent >= 45 })
			if p.Transport() != "udp" {
				t.Errorf("transport %s, want udp", p.Transport())
			}
			p.Close()
			st := p.Stats()
			r.wait(t, 5*time.Second, "end of the connection", func() bool { return r.ended == 1 })
			frames := r.snapshot()
			checkTSFrames(t, src, frames, time.Second/tsClockRate)
			for i := 1; i < len(frames); i++ {
				if frames[i].n != frames[i-1].n+1 {
					t.Fatalf("frame %d after %d: a frame is missing", frames[i].n, frames[i-1].n)
				}
			}
			// mediacommon's reader holds the last access unit until the
			// next begins: all but one arrive.
			if got := uint64(len(frames)); got+1 < st.FramesSent || got > st.FramesSent {
				t.Errorf("receiver got %d frames, the push sent %d", got, st.FramesSent)
			}
			r.media.mu.Lock()
			sid := r.sessions[0].name
			r.media.mu.Unlock()
			if sid != "cam-secret" {
				t.Errorf("streamid %q, want cam-secret", sid)
			}
			for _, rec := range logs.all() {
				if bytes.Contains([]byte(rec.text), []byte("secret")) {
					t.Errorf("secret in a log line: %s", rec.text)
				}
			}
		})
	}
}

func TestSRTPushReconnectsAfterTheListenerRestarts(t *testing.T) {
	addr := freeUDP(t)
	r1 := startSRTReceiver(t, addr, "")
	src := newSource(30)
	src.run(t)
	_, log := newLogs(t)
	p := newPusher(t, Config{URL: "srt://" + addr, Subscribe: src.Subscribe, Logger: log,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	r1.wait(t, 10*time.Second, "15 frames", func() bool { return len(r1.frames) >= 15 })
	r1.Close() // the listener shuts the connection down
	eventually(t, 10*time.Second, "the push to notice", func() bool { return !p.Stats().Connected })
	r2 := startSRTReceiver(t, addr, "")
	r2.wait(t, 20*time.Second, "15 frames after the restart", func() bool { return len(r2.frames) >= 15 })
	checkTSFrames(t, src, r2.snapshot(), time.Second/tsClockRate)
	if st := p.Stats(); !st.Connected || st.Reconnects != 1 {
		t.Errorf("stats %+v, want connected, 1 reconnect", st)
	}
}

// freeUDP returns a loopback address with a free UDP port.
func freeUDP(t *testing.T) string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

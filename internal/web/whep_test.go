package web_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/web"
	"github.com/pion/ice/v4"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// receivedAU is one access unit a preview client received.
type receivedAU struct {
	ts    uint32 // RTP timestamp
	types []h264.NALUType
	sps   []byte // the SPS, if the access unit has one
}

// previewClient is a pion peer that plays a preview like a browser does.
type previewClient struct {
	pc       *webrtc.PeerConnection
	location string
	aus      chan receivedAU
	state    chan webrtc.PeerConnectionState
}

// clientAPI is a pion API for a test client: loopback only, no mDNS.
func clientAPI(t *testing.T, codecs ...webrtc.RTPCodecParameters) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if len(codecs) == 0 {
		if err := m.RegisterDefaultCodecs(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range codecs {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se))
}

// offer makes a receive-only video offer with all its candidates.
func offer(t *testing.T, api *webrtc.API) (*webrtc.PeerConnection, string) {
	t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gathered:
	case <-time.After(5 * time.Second):
		t.Fatal("client: ICE gathering did not complete")
	}
	return pc, pc.LocalDescription().SDP
}

// postOffer POSTs an SDP offer and returns the response and its body.
func postOffer(t *testing.T, url, ctype, sdp string) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(sdp))
	req.Header.Set("Content-Type", ctype)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// openPreview plays path's preview with a pion client.
func openPreview(t *testing.T, base, path string) *previewClient {
	t.Helper()
	pc, sdp := offer(t, clientAPI(t))
	c := &previewClient{pc: pc, aus: make(chan receivedAU, 1000), state: make(chan webrtc.PeerConnectionState, 16)}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		select {
		case c.state <- s:
		default:
		}
	})
	var wg sync.WaitGroup
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var dep codecs.H264Packet
			var cur receivedAU
			for {
				pkt, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				if len(cur.types) > 0 && pkt.Timestamp != cur.ts {
					t.Errorf("access unit at %d has no marker bit before the next at %d", cur.ts, pkt.Timestamp)
				}
				cur.ts = pkt.Timestamp
				annexB, err := dep.Unmarshal(pkt.Payload)
				if err != nil {
					t.Errorf("depacketising: %v", err)
					return
				}
				var nalus h264.AnnexB
				if len(annexB) > 0 { // empty in the middle of a fragmented NAL unit
					if err := nalus.Unmarshal(annexB); err != nil {
						t.Errorf("depacketised payload: %v", err)
						return
					}
				}
				for _, nal := range nalus {
					typ := h264.NALUType(nal[0] & 0x1f)
					cur.types = append(cur.types, typ)
					if typ == h264.NALUTypeSPS {
						cur.sps = nal
					}
				}
				if pkt.Marker {
					select {
					case c.aus <- cur:
					default:
					}
					cur = receivedAU{}
				}
			}
		}()
	})
	t.Cleanup(func() {
		pc.Close()
		wg.Wait()
	})
	res, answer := postOffer(t, base+"/api/v1/streams"+path+"/whep", "application/sdp", sdp)
	if res.StatusCode != http.StatusCreated || res.Header.Get("Content-Type") != "application/sdp" {
		t.Fatalf("POST whep: %s %s: %s", res.Status, res.Header.Get("Content-Type"), answer)
	}
	c.location = res.Header.Get("Location")
	if !strings.HasPrefix(c.location, "/api/v1/whep/") {
		t.Fatalf("Location %q, want /api/v1/whep/ID", c.location)
	}
	if !strings.Contains(answer, "packetization-mode=1") || !strings.Contains(answer, "profile-level-id=42e01f") {
		t.Errorf("answer does not offer H.264 profile 42e01f with packetization-mode=1:\n%s", answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	return c
}

// next returns the next access unit, failing the test after timeout.
func (c *previewClient) next(t *testing.T, timeout time.Duration) receivedAU {
	t.Helper()
	select {
	case au := <-c.aus:
		return au
	case <-time.After(timeout):
		t.Fatalf("no access unit within %v (connection %s)", timeout, c.pc.ConnectionState())
		return receivedAU{}
	}
}

// TestPreviewStartsWithAnIDRAndFollowsTheStreamClock: with a GOP far longer
// than the test, the preview's first picture can only be the IDR its join
// asked for; its RTP timestamps advance 3000 ticks (90 kHz) per frame at 30 fps.
func TestPreviewStartsWithAnIDRAndFollowsTheStreamClock(t *testing.T) {
	srv := newFramecast(t, framecast.Config{Encoder: framecast.EncoderConfig{GOP: 1000}})
	servePattern(t, srv, "/test", 320, 240, 30)
	_, base := newWeb(t, srv)
	c := openPreview(t, base, "/test")
	first := c.next(t, 10*time.Second)
	if len(first.types) < 3 || first.types[0] != h264.NALUTypeSPS || first.types[1] != h264.NALUTypePPS || first.types[2] != h264.NALUTypeIDR {
		t.Fatalf("first access unit has NAL types %v, want SPS, PPS, IDR", first.types)
	}
	// What the SDP announces (42e0: Constrained Baseline) is what x264's
	// ultrafast preset makes: profile_idc 66 with constraint_set1.
	if sps := first.sps; len(sps) < 4 || sps[1] != 66 || sps[2]&0x40 == 0 {
		t.Errorf("SPS starts %x: want profile_idc 66 (0x42) with constraint_set1 (0x40): Constrained Baseline", sps[:min(4, len(sps))])
	}
	prev := first.ts
	var steps []int
	for range 30 {
		au := c.next(t, 5*time.Second)
		steps = append(steps, int(au.ts-prev))
		prev = au.ts
		for _, ty := range au.types {
			switch ty {
			case h264.NALUTypeNonIDR, h264.NALUTypeIDR, h264.NALUTypeSPS, h264.NALUTypePPS:
			default:
				t.Errorf("access unit has NAL types %v, want slices, SPS or PPS", au.types)
			}
		}
	}
	sort.Ints(steps)
	if med := steps[len(steps)/2]; med < 2700 || med > 3300 {
		t.Errorf("median RTP timestamp step %d, want about 3000 (30 fps at 90 kHz); steps %v", med, steps)
	}

	// The preview is listed as a viewer, and counted.
	var s streamJSON
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		s = getStreams(t, base)[0]
		if len(s.Viewers) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(s.Viewers) != 1 || s.Viewers[0].Transport != "WebRTC" || s.Viewers[0].Bytes == 0 || s.Stats.PreviewBytes == 0 {
		t.Fatalf("viewers = %+v, preview bytes %d; want one WebRTC viewer that got bytes", s.Viewers, s.Stats.PreviewBytes)
	}
	metrics := scrape(t, base)
	for _, want := range []string{
		`framecast_viewers{path="/test",transport="WebRTC"} 1`,
		`framecast_previews_opened_total{path="/test"} 1`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}

	// DELETE closes it.
	req, _ := http.NewRequest(http.MethodDelete, base+c.location, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("DELETE %s: %s", c.location, res.Status)
	}
	for deadline := time.Now().Add(5 * time.Second); len(getStreams(t, base)[0].Viewers) > 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the preview is still listed 5 s after DELETE")
		}
	}
}

func TestPreviewRequestsAreChecked(t *testing.T) {
	srv := newFramecast(t, framecast.Config{})
	servePattern(t, srv, "/test", 64, 48, 30)
	_, base := newWeb(t, srv)
	_, sdp := offer(t, clientAPI(t))
	vp8 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}
	_, vp8Only := offer(t, clientAPI(t, vp8))
	h264pm0 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f"}, PayloadType: 96}
	_, mode0Only := offer(t, clientAPI(t, h264pm0))
	for _, c := range []struct {
		name, path, ctype, sdp string
		want                   int
	}{
		{"unknown path", "/nothing", "application/sdp", sdp, http.StatusNotFound},
		{"not SDP", "/test", "text/plain", sdp, http.StatusUnsupportedMediaType},
		{"garbage", "/test", "application/sdp", "v=0\r\nthis is not SDP\r\n", http.StatusBadRequest},
		{"VP8 only", "/test", "application/sdp", vp8Only, http.StatusNotAcceptable},
		{"H.264 packetization-mode 0 only", "/test", "application/sdp", mode0Only, http.StatusNotAcceptable},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, body := postOffer(t, base+"/api/v1/streams"+c.path+"/whep", c.ctype, c.sdp)
			if res.StatusCode != c.want {
				t.Errorf("%s, want %d: %s", res.Status, c.want, body)
			}
		})
	}
	// None of them is left behind as a viewer.
	if v := getStreams(t, base)[0].Viewers; len(v) != 0 {
		t.Errorf("viewers after refused offers: %+v", v)
	}
}

// TestCloseEndsPreviews: Close returns once the previews have stopped, and
// their sinks are gone: with nobody watching, the stream stops encoding.
func TestCloseEndsPreviews(t *testing.T) {
	srv := newFramecast(t, framecast.Config{})
	servePattern(t, srv, "/test", 64, 48, 30)
	ws, base := newWeb(t, srv)
	c := openPreview(t, base, "/test")
	c.next(t, 10*time.Second)
	done := make(chan struct{})
	go func() {
		ws.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10 s")
	}
	skipped := func() uint64 { return srv.Streams()[0].Stats.Skipped }
	before := skipped()
	for deadline := time.Now().Add(10 * time.Second); skipped() == before; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Error("the stream still encodes 10 s after Close: the preview's sink was not removed")
			break
		}
	}
	for deadline := time.After(10 * time.Second); ; {
		select {
		case s := <-c.state:
			if s == webrtc.PeerConnectionStateClosed || s == webrtc.PeerConnectionStateFailed ||
				s == webrtc.PeerConnectionStateDisconnected {
				return
			}
		case <-deadline:
			t.Fatalf("the client still sees the preview as %s 10 s after Close", c.pc.ConnectionState())
		}
	}
}

func TestPreviewsBeyondMaxPreviewsAreRefused(t *testing.T) {
	srv := newFramecast(t, framecast.Config{})
	servePattern(t, srv, "/test", 64, 48, 30)
	_, base := newWebWith(t, srv, web.Options{MaxPreviews: 1})
	c := openPreview(t, base, "/test")
	c.next(t, 10*time.Second)
	_, sdp := offer(t, clientAPI(t))
	res, body := postOffer(t, base+"/api/v1/streams/test/whep", "application/sdp", sdp)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("a second preview with MaxPreviews 1: %s (Retry-After %q): %s; want 503 with Retry-After",
			res.Status, res.Header.Get("Retry-After"), body)
	}
}

// TestPreviewEndsWhenTheBrowserCloses: a browser that closes its peer
// connection (DTLS close) without a DELETE is forgotten at once.
func TestPreviewEndsWhenTheBrowserCloses(t *testing.T) {
	srv := newFramecast(t, framecast.Config{})
	servePattern(t, srv, "/test", 64, 48, 30)
	_, base := newWeb(t, srv)
	c := openPreview(t, base, "/test")
	c.next(t, 10*time.Second)
	c.pc.Close()
	for deadline := time.Now().Add(5 * time.Second); len(getStreams(t, base)[0].Viewers) > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the preview is still listed 5 s after its client closed")
		}
	}
}

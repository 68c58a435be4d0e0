package web_test

import (
	"bytes"
	"encoding/json"
	"image/jpeg"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/internal/testsrc"
	"github.com/framecast/framecast/internal/web"
)

// streamJSON is the part of the API's stream description the tests read.
type streamJSON struct {
	Path        string `json:"path"`
	RTSPURL     string `json:"rtsp_url"`
	SnapshotURL string `json:"snapshot_url"`
	WHEPURL     string `json:"whep_url"`
	Producer    struct {
		Address     string  `json:"address"`
		Connected   bool    `json:"connected"`
		PixelFormat string  `json:"pixel_format"`
		Width       int     `json:"width"`
		Height      int     `json:"height"`
		FPS         float64 `json:"fps"`
		FPSIn       float64 `json:"fps_in"`
	} `json:"producer"`
	Encoder struct {
		BitrateKbps int     `json:"bitrate_kbps"`
		GOP         int     `json:"gop"`
		Preset      string  `json:"preset"`
		FPSOut      float64 `json:"fps_out"`
		KbpsOut     float64 `json:"kbps_out"`
		Dropped     uint64  `json:"dropped"`
	} `json:"encoder"`
	Stats struct {
		FramesIn      uint64 `json:"frames_in"`
		FramesEncoded uint64 `json:"frames_encoded"`
		BytesEncoded  uint64 `json:"bytes_encoded"`
		PreviewBytes  uint64 `json:"preview_bytes"`
	} `json:"stats"`
	Viewers []struct {
		Address   string    `json:"address"`
		Transport string    `json:"transport"`
		Since     time.Time `json:"since"`
		Bytes     uint64    `json:"bytes"`
	} `json:"viewers"`
}

func getStreams(t *testing.T, base string) []streamJSON {
	t.Helper()
	res, body := get(t, base+"/api/v1/streams")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/v1/streams: %s, %s: %s", res.Status, res.Header.Get("Content-Type"), body)
	}
	var out struct{ Streams []streamJSON }
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("GET /api/v1/streams: %v: %s", err, body)
	}
	return out.Streams
}

func TestStreamsAPIDescribesProducerEncoderAndViewers(t *testing.T) {
	const w, h = 320, 240
	srv := newFramecast(t, framecast.Config{})
	servePattern(t, srv, "/test", w, h, 30)
	_, base := newWeb(t, srv)
	rtsp := "rtsp://" + srv.Addr().String() + "/test"
	dec := testkit.FFmpeg(t, rtsp, "tcp", "gray", w, h)
	dec.Next(t, 10*time.Second)
	// The rates need two samples a second apart.
	var s streamJSON
	for deadline := time.Now().Add(5 * time.Second); ; {
		streams := getStreams(t, base)
		if len(streams) != 1 {
			t.Fatalf("streams = %+v, want one", streams)
		}
		s = streams[0]
		if s.Encoder.FPSOut > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if s.Path != "/test" || s.RTSPURL != rtsp || s.SnapshotURL != "/api/v1/streams/test/snapshot.jpg" ||
		s.WHEPURL != "/api/v1/streams/test/whep" {
		t.Errorf("path %q, rtsp_url %q, snapshot_url %q, whep_url %q; want /test, %s and the API's URLs",
			s.Path, s.RTSPURL, s.SnapshotURL, s.WHEPURL, rtsp)
	}
	p := s.Producer
	if p.Address != "the Go API" || !p.Connected || p.PixelFormat != "bgr24" || p.Width != w || p.Height != h || p.FPS != 30 {
		t.Errorf("producer = %+v, want the Go API, bgr24 %dx%d at 30 fps", p, w, h)
	}
	// About 30 fps in and out; the bounds only tell a live stream from none.
	if p.FPSIn < 10 || p.FPSIn > 60 || s.Encoder.FPSOut < 10 || s.Encoder.FPSOut > 60 || s.Encoder.KbpsOut <= 0 {
		t.Errorf("fps in %v, fps out %v, kbit/s %v: want about 30 fps and some bits", p.FPSIn, s.Encoder.FPSOut, s.Encoder.KbpsOut)
	}
	if s.Encoder.BitrateKbps <= 0 || s.Encoder.GOP != 60 || s.Encoder.Preset != "ultrafast" {
		t.Errorf("encoder = %+v, want a bitrate, GOP 60, ultrafast", s.Encoder)
	}
	if s.Stats.FramesIn == 0 || s.Stats.FramesEncoded == 0 || s.Stats.BytesEncoded == 0 {
		t.Errorf("stats = %+v, want frames and bytes", s.Stats)
	}
	if len(s.Viewers) != 1 || s.Viewers[0].Transport != "TCP" || !strings.HasPrefix(s.Viewers[0].Address, "127.0.0.1:") ||
		s.Viewers[0].Bytes == 0 || time.Since(s.Viewers[0].Since) > time.Minute {
		t.Errorf("viewers = %+v, want ffmpeg over TCP from 127.0.0.1", s.Viewers)
	}

	res, body := get(t, base+"/api/v1/streams/test")
	var one streamJSON
	if err := json.Unmarshal(body, &one); res.StatusCode != http.StatusOK || err != nil || one.Path != "/test" {
		t.Errorf("GET /api/v1/streams/test: %s %v: %s", res.Status, err, body)
	}
	if res, body := get(t, base+"/api/v1/streams/nothing"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /api/v1/streams/nothing: %s: %s; want 404", res.Status, body)
	}
}

// TestURLsOfNestedPathsKeepTheirSlashes: /a/b's snapshot is
// /api/v1/streams/a/b/snapshot.jpg, and it answers.
func TestURLsOfNestedPathsKeepTheirSlashes(t *testing.T) {
	srv := newFramecast(t, framecast.Config{})
	servePattern(t, srv, "/a/b", 64, 48, 30)
	_, base := newWeb(t, srv)
	streams := getStreams(t, base)
	if len(streams) != 1 || streams[0].RTSPURL != "rtsp://"+srv.Addr().String()+"/a/b" ||
		streams[0].SnapshotURL != "/api/v1/streams/a/b/snapshot.jpg" || streams[0].WHEPURL != "/api/v1/streams/a/b/whep" {
		t.Fatalf("streams = %+v", streams)
	}
	if res, body := get(t, base+streams[0].SnapshotURL); res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %.200s", streams[0].SnapshotURL, res.Status, body)
	}
}

// TestSnapshotIsAJPEGOfTheLatestFrame decodes the JPEG and checks the
// colour bars, in full range: white is 255 and black 0, not 235 and 16.
func TestSnapshotIsAJPEGOfTheLatestFrame(t *testing.T) {
	const w, h = 320, 240
	srv := newFramecast(t, framecast.Config{})
	servePattern(t, srv, "/test", w, h, 30)
	_, base := newWeb(t, srv)
	res, body := get(t, base+"/api/v1/streams/test/snapshot.jpg")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("GET snapshot.jpg: %s %s: %.200s", res.Status, res.Header.Get("Content-Type"), body)
	}
	img, err := jpeg.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("decoding the snapshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("snapshot is %v, want %dx%d", b, w, h)
	}
	p := testsrc.New(w, h)
	for i, bar := range testsrc.Bars {
		x, y := p.BarCenter(i)
		r, g, b, _ := img.At(x, y).RGBA()
		got := [3]int{int(r >> 8), int(g >> 8), int(b >> 8)}
		want := [3]int{int(bar.R), int(bar.G), int(bar.B)}
		for c := range 3 {
			if d := got[c] - want[c]; d < -20 || d > 20 {
				t.Errorf("bar %s at (%d,%d): R,G,B = %v, want %v ±20", bar.Name, x, y, got, want)
				break
			}
		}
	}
	if res, _ := get(t, base+"/api/v1/streams/test/snapshot.jpg?quality=101"); res.StatusCode != http.StatusBadRequest {
		t.Errorf("quality=101: %s, want 400", res.Status)
	}
	if res, _ := get(t, base+"/api/v1/streams/nothing/snapshot.jpg"); res.StatusCode != http.StatusNotFound {
		t.Errorf("snapshot of an unknown path: %s, want 404", res.Status)
	}
}

func TestPageIsSelfContained(t *testing.T) {
	srv := newFramecast(t, framecast.Config{})
	_, base := newWeb(t, srv)
	for _, c := range []struct{ path, ctype, want string }{
		{"/", "text/html; charset=utf-8", `<script src="/app.js">`},
		{"/app.js", "text/javascript; charset=utf-8", "RTCPeerConnection"},
		{"/style.css", "text/css; charset=utf-8", "video"},
	} {
		res, body := get(t, base+c.path)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != c.ctype || !strings.Contains(string(body), c.want) {
			t.Errorf("GET %s: %s %s, want 200 %s with %q", c.path, res.Status, res.Header.Get("Content-Type"), c.ctype, c.want)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q, want default-src 'self'", c.path, csp)
		}
		for _, ext := range []string{"http://", "https://", "//cdn"} {
			if c.path != "/" && strings.Contains(string(body), ext) {
				t.Errorf("%s refers to %s: the page must load nothing from elsewhere", c.path, ext)
			}
		}
	}
	if res, _ := get(t, base+"/nothing.js"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing.js: %s, want 404", res.Status)
	}
}

func TestWrongMethodsAreRefused(t *testing.T) {
	srv := newFramecast(t, framecast.Config{})
	srv.Publish("/test", framecast.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48})
	_, base := newWeb(t, srv)
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, "/api/v1/streams/test/snapshot.jpg", http.StatusMethodNotAllowed},
		{http.MethodGet, "/api/v1/streams/test/whep", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/api/v1/whep/nosuchpreview", http.StatusNotFound},
		{http.MethodPost, "/api/v1/streams", http.StatusMethodNotAllowed},
	} {
		req, _ := http.NewRequest(c.method, base+c.path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.want {
			t.Errorf("%s %s: %s, want %d", c.method, c.path, res.Status, c.want)
		}
	}
}

// TestAuthorizeHidesPathsAndAsksForCredentials: a path Authorize refuses is
// left out of the list, its snapshot answers 401 with a Basic challenge, and
// the right credentials open it.
func TestAuthorizeHidesPathsAndAsksForCredentials(t *testing.T) {
	srv := newFramecast(t, framecast.Config{})
	servePattern(t, srv, "/open", 64, 48, 30)
	servePattern(t, srv, "/secret", 64, 48, 30)
	_, base := newWebWith(t, srv, web.Options{Authorize: func(r *http.Request, path string) bool {
		u, p, _ := r.BasicAuth()
		return path != "/secret" || (u == "viewer" && p == "pw")
	}})
	do := func(path, user, pass string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	paths := func(body []byte) (out []string) {
		var v struct{ Streams []streamJSON }
		json.Unmarshal(body, &v)
		for _, s := range v.Streams {
			out = append(out, s.Path)
		}
		return out
	}
	for _, c := range []struct {
		path, user, pass string
		code             int
		list             string // the paths listed, for /api/v1/streams
	}{
		{"/", "", "", http.StatusUnauthorized, ""},
		{"/", "viewer", "pw", http.StatusOK, ""},
		{"/api/v1/streams", "", "", http.StatusUnauthorized, ""},
		{"/api/v1/streams", "viewer", "wrong", http.StatusOK, "/open"},
		{"/api/v1/streams", "viewer", "pw", http.StatusOK, "/open /secret"},
		{"/api/v1/streams/open/snapshot.jpg", "", "", http.StatusOK, ""},
		{"/api/v1/streams/secret/snapshot.jpg", "", "", http.StatusUnauthorized, ""},
		{"/api/v1/streams/secret/snapshot.jpg", "viewer", "pw", http.StatusOK, ""},
		{"/api/v1/streams/secret", "viewer", "wrong", http.StatusUnauthorized, ""},
	} {
		res, body := do(c.path, c.user, c.pass)
		if res.StatusCode != c.code {
			t.Errorf("GET %s as %q: %s, want %d", c.path, c.user, res.Status, c.code)
		}
		if c.code == http.StatusUnauthorized && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("GET %s: 401 without a Basic challenge", c.path)
		}
		if c.list != "" {
			if got := strings.Join(paths(body), " "); got != c.list {
				t.Errorf("GET %s as %q lists %q, want %q", c.path, c.user, got, c.list)
			}
		}
	}
	res, body := postOffer(t, base+"/api/v1/streams/secret/whep", "application/sdp", "v=0\r\n")
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST a preview offer of /secret without credentials: %s: %s", res.Status, body)
	}
}

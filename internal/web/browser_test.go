package web_test

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/testsrc"
)

// waitPlaying waits (in the page) until the preview of path plays, then
// watches it for a second: its size, currentTime before and after, and what
// the page shows around it.
const waitPlaying = `async (path) => {
  const deadline = Date.now() + 20000;
  const sel = 'section[data-path="' + path + '"]';
  let v;
  for (;;) {
    v = document.querySelector(sel + ' video');
    if (v && v.readyState >= 2 && v.videoWidth > 0 && v.currentTime > 0) break;
    if (Date.now() > deadline) {
      const c = document.querySelector(sel + ' .preview');
      return {error: 'the preview did not play within 20 s: ' + (c ? c.textContent : 'no section for ' + path)};
    }
    await new Promise(r => setTimeout(r, 20));
  }
  const t0 = v.currentTime;
  await new Promise(r => setTimeout(r, 1000));
  const q = s => document.querySelector(sel + ' ' + s);
  return {
    width: v.videoWidth, height: v.videoHeight, t0, t1: v.currentTime, paused: v.paused,
    url: q('.url').value, producer: q('.producer').textContent, format: q('.format').textContent,
    viewers: [...document.querySelectorAll(sel + ' .viewers tr')].map(tr => tr.textContent),
  };
}`

// readFrames reads, for every frame the preview presents during ms
// milliseconds, the frame number stamped by the test pattern (through a
// canvas) and when it was to be shown; and the colours at the bar centres
// of one frame.
const readFrames = `async (path, ms, bars, barY) => {
  const v = document.querySelector('section[data-path="' + path + '"] video');
  const w = v.videoWidth, h = v.videoHeight;
  const b = Math.max(2, Math.floor(w / 32));
  const y = Math.floor(b / 2); // the row testsrc.ReadNumber reads
  // Only the bottom row of blocks is copied for each frame: the stamp.
  const c = document.createElement('canvas');
  c.width = w; c.height = b;
  const g = c.getContext('2d', {willReadFrequently: true});
  const frames = [];
  let colours = null;
  const end = performance.now() + ms;
  await new Promise(resolve => {
    const step = (now, meta) => {
      g.drawImage(v, 0, h - b, w, b, 0, 0, w, b);
      const row = g.getImageData(0, y, w, 1).data;
      let n = 0;
      for (let i = 0; i < 16; i++) {
        const o = (i * b + Math.floor(b / 2)) * 4;
        n = n * 2 + (0.299 * row[o] + 0.587 * row[o + 1] + 0.114 * row[o + 2] >= 128 ? 1 : 0);
      }
      frames.push({
        n,
        shown: performance.timeOrigin + meta.expectedDisplayTime,
        received: meta.receiveTime ? performance.timeOrigin + meta.receiveTime : 0,
      });
      if (!colours) {
        const full = document.createElement('canvas');
        full.width = w; full.height = h;
        const fg = full.getContext('2d');
        fg.drawImage(v, 0, 0, w, h);
        colours = bars.map(x => Array.from(fg.getImageData(x, barY, 1, 1).data.slice(0, 3)));
      }
      if (performance.now() < end) v.requestVideoFrameCallback(step); else resolve();
    };
    v.requestVideoFrameCallback(step);
  });
  return {frames, colours};
}`

type playing struct {
	Error                 string
	Width, Height         int
	T0, T1                float64
	Paused                bool
	URL, Producer, Format string
	Viewers               []string
}

type frameRead struct {
	N        uint32
	Shown    float64 // Unix ms
	Received float64 // Unix ms; 0 when unknown
}

// TestPagePlaysPreviewInChromium loads the page in headless Chromium, waits
// for the WebRTC preview to play, checks its size, that it advances, its
// colours and frame order, and logs its glass-to-glass latency: from the
// producer writing frame n to Chromium showing it.
func TestPagePlaysPreviewInChromium(t *testing.T) {
	checkPreviewInChromium(t, framecast.Config{}, 640, 360, 30)
}

// checkPreviewInChromium runs the test pattern at w x h and fps on a server
// configured by cfg and checks Chromium's preview of it.
func checkPreviewInChromium(t *testing.T, cfg framecast.Config, w, h int, fps float64) {
	srv := newFramecast(t, cfg)
	drawn := servePattern(t, srv, "/test", w, h, fps)
	_, base := newWeb(t, srv)
	c := startChromium(t)
	c.navigate(t, base+"/")

	var p playing
	c.eval(t, 30*time.Second, jsCall(waitPlaying, "/test"), &p)
	if p.Error != "" {
		t.Fatalf("%s; chromium stderr:\n%s", p.Error, c.stderr)
	}
	if p.Width != w || p.Height != h {
		t.Errorf("video is %dx%d, want %dx%d", p.Width, p.Height, w, h)
	}
	if p.Paused || p.T1-p.T0 < 0.5 {
		t.Errorf("video currentTime went from %.3f to %.3f in 1 s (paused %v), want it to advance about 1 s", p.T0, p.T1, p.Paused)
	}
	if want := "rtsp://" + srv.Addr().String() + "/test"; p.URL != want {
		t.Errorf("the page shows the URL %q, want %q", p.URL, want)
	}
	if p.Producer != "the Go API" || !strings.Contains(p.Format, fmt.Sprintf("bgr24 %d×%d", w, h)) {
		t.Errorf("the page shows producer %q, format %q", p.Producer, p.Format)
	}
	if len(p.Viewers) != 1 || !strings.Contains(p.Viewers[0], "WebRTC") {
		t.Errorf("the page lists viewers %q, want its own preview (WebRTC)", p.Viewers)
	}

	pat := testsrc.New(w, h)
	var xs []int
	_, barY := pat.BarCenter(0)
	for i := range testsrc.Bars {
		x, _ := pat.BarCenter(i)
		xs = append(xs, x)
	}
	var r struct {
		Frames  []frameRead
		Colours [][3]int
	}
	c.eval(t, 20*time.Second, jsCall(readFrames, "/test", 3000, xs, barY), &r)
	for i, bar := range testsrc.Bars {
		if i >= len(r.Colours) {
			t.Fatalf("got %d bar colours, want %d", len(r.Colours), len(testsrc.Bars))
		}
		got, want := r.Colours[i], [3]int{int(bar.R), int(bar.G), int(bar.B)}
		for k := range 3 {
			if d := got[k] - want[k]; d < -40 || d > 40 {
				t.Errorf("bar %s: the page's video shows R,G,B %v, want %v ±40", bar.Name, got, want)
				break
			}
		}
	}
	// About 90 frames in 3 s, in order; each number must be one the
	// producer wrote, which also checks the stamp was read right.
	if len(r.Frames) < int(fps*3/2) {
		t.Fatalf("Chromium presented %d frames in 3 s, want about %.0f at %g fps", len(r.Frames), fps*3, fps)
	}
	var lat, net []float64
	for i, f := range r.Frames {
		if i > 0 && f.N < r.Frames[i-1].N {
			t.Fatalf("frame %d shown after frame %d", f.N, r.Frames[i-1].N)
		}
		at, ok := drawn.at(f.N)
		if !ok {
			t.Fatalf("read frame number %d, which the producer never wrote", f.N)
		}
		ms := float64(at.UnixNano()) / 1e6
		lat = append(lat, f.Shown-ms)
		if f.Received > 0 {
			net = append(net, f.Received-ms)
		}
	}
	med, p90, worst := quantiles(lat)
	t.Logf("glass-to-glass latency over %d frames (producer writes frame → Chromium shows it): median %.0f ms, p90 %.0f ms, max %.0f ms",
		len(lat), med, p90, worst)
	if len(net) > 0 {
		m, p, x := quantiles(net)
		t.Logf("of which producer → last RTP packet received by Chromium: median %.0f ms, p90 %.0f ms, max %.0f ms", m, p, x)
	}
	// Not a timing assertion: only a preview seconds behind (a jitter
	// buffer filling up, frames queued somewhere) is a failure.
	if med > 1000 {
		t.Errorf("median latency %.0f ms: the preview is not live", med)
	}
}

// jsCall is the JavaScript expression that calls the function fn with args
// (as JSON).
func jsCall(fn string, args ...any) string {
	b, err := json.Marshal(args)
	if err != nil {
		panic(err)
	}
	return "(" + fn + ")(..." + string(b) + ")"
}

// quantiles returns the median, 90th percentile and maximum of v.
func quantiles(v []float64) (med, p90, worst float64) {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	at := func(q float64) float64 { return s[int(math.Min(float64(len(s)-1), q*float64(len(s))))] }
	return at(0.5), at(0.9), s[len(s)-1]
}

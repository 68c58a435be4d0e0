package main

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"os/exec"
	"strings"
	"testing"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/bench"
)

func TestParseBench(t *testing.T) {
	out := `goos: linux
pkg: github.com/framecast/framecast/internal/yuv
BenchmarkConvert/bgr24/1920x1080-2         	     463	    780289 ns/op	7972.02 MB/s	       0 B/op	       0 allocs/op
pkg: github.com/framecast/framecast/bench
BenchmarkWriteFrame/bgr24/1280x720-2       	     541	   3725407 ns/op	       268.4 frames/s	   20200 B/op	      26 allocs/op
PASS
`
	got := parseBench(out)
	if len(got) != 2 {
		t.Fatalf("got %d results, want 2: %+v", len(got), got)
	}
	if got[0].Package != "internal/yuv" || got[0].Name != "BenchmarkConvert/bgr24/1920x1080" || got[0].Metrics["MB/s"] != 7972.02 {
		t.Errorf("first result %+v", got[0])
	}
	if got[1].Package != "bench" || got[1].Metrics["frames/s"] != 268.4 || got[1].Metrics["allocs/op"] != 26 {
		t.Errorf("second result %+v", got[1])
	}
}

func TestMedianAndQuantile(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median of 3 values %v, want 2", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median of 4 values %v, want 2.5", m)
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing is not NaN")
	}
	s := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct{ p, want float64 }{{0.5, 5}, {0.95, 10}, {0.1, 1}} {
		if q := quantile(s, c.p); q != c.want {
			t.Errorf("quantile %v = %v, want %v", c.p, q, c.want)
		}
	}
}

func TestTrimProcs(t *testing.T) {
	for in, want := range map[string]string{"BenchmarkX-2": "BenchmarkX", "BenchmarkX/a-b": "BenchmarkX/a-b", "BenchmarkY/viewers=10-16": "BenchmarkY/viewers=10"} {
		if got := trimProcs(in); got != want {
			t.Errorf("trimProcs(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseFields(t *testing.T) {
	for _, c := range []struct {
		in   string
		want fields
	}{
		{"a=1 b=x%", fields{"a": "1", "b": "x%"}},
		{"rep=1 per_target=0.96% of a core (sent 422, dropped 0)", fields{"rep": "1", "per_target": "0.96%"}},
		{`protocol=rtmp reason="nginx's module is \"missing\"" x=2`, fields{"protocol": "rtmp", "reason": `nginx's module is "missing"`, "x": "2"}},
		{"  word  k=  last", fields{"k": ""}},
		{"", fields{}},
	} {
		got, err := parseFields(c.in)
		if err != nil {
			t.Errorf("parseFields(%q): %v", c.in, err)
			continue
		}
		if !maps.Equal(got, c.want) {
			t.Errorf("parseFields(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if _, err := parseFields(`reason="not closed`); err == nil {
		t.Error("parseFields of an unclosed quote: no error")
	}
}

func TestParsePushCost(t *testing.T) {
	for _, c := range []struct {
		line string
		want pushSample
		ok   bool
		err  bool
	}{
		{line: "PUSHCOST rep=1 protocol=rtsp targets=2 base=16.01% with=17.92% per_target=0.96% of a core (sent 422, dropped 3)",
			want: pushSample{Protocol: "rtsp", Rep: 1, Targets: 2, Base: 16.01, With: 17.92, PerTarget: 0.96, Sent: 422, Dropped: 3}, ok: true},
		{line: "PUSHCOST rep=2 protocol=srt targets=4 base=16.50% with=16.10% per_target=-0.10% of a core (sent 90, dropped 0)",
			want: pushSample{Protocol: "srt", Rep: 2, Targets: 4, Base: 16.5, With: 16.1, PerTarget: -0.1, Sent: 90}, ok: true},
		{line: `PUSHCOST skipped protocol=rtmp reason="nginx is not installed"`,
			want: pushSample{Protocol: "rtmp", Skipped: "nginx is not installed"}, ok: true},
		{line: `PUSHCOST failed rep=1 protocol=srt error="1 of 2 pushes connected within 20s"`,
			want: pushSample{Protocol: "srt", Rep: 1, Error: "1 of 2 pushes connected within 20s"}, ok: true},
		{line: "PUSHCOST median protocol=rtsp per_target=0.96% of a core at 1280x720 30fps (1 repeats)"},
		{line: "RTSP rtsp://127.0.0.1:1234/bench"},
		{line: "PUSHCOST rep=1 protocol=rtsp targets=2 base=16.01% with=x% per_target=0.96% of a core (sent 422, dropped 0)", err: true},
		{line: "PUSHCOST rep=1 protocol=rtsp targets=2 base=16.01% with=17.92% per_target=0.96%", err: true},
		{line: "PUSHCOST rep=1 targets=2 base=1% with=2% per_target=0.5% (sent 1, dropped 0)", err: true},
	} {
		got, ok, err := parsePushCost(c.line)
		if (err != nil) != c.err {
			t.Errorf("parsePushCost(%q): error %v, want error %v", c.line, err, c.err)
			continue
		}
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("parsePushCost(%q) = %+v, %v; want %+v, %v", c.line, got, ok, c.want, c.ok)
		}
	}
}

func TestParseHLSLatency(t *testing.T) {
	for _, c := range []struct {
		line string
		want hlsSample
		ok   bool
		err  bool
	}{
		{line: "HLS_LATENCY client=ll-hls size=1280x720 first_frame_ms=5516 frames=300 p50_ms=308 p95_ms=312 max_ms=341",
			want: hlsSample{Client: "ll-hls", Size: "1280x720", FirstFrame: 5516, Frames: 300, P50: 308, P95: 312, Max: 341}, ok: true},
		{line: `HLS_LATENCY client=ffmpeg error="client ended: exit status 1"`,
			want: hlsSample{Client: "ffmpeg", Error: "client ended: exit status 1"}, ok: true},
		{line: "HLS http://127.0.0.1:1234/bench/index.m3u8"},
		{line: "HLS_LATENCY client=ll-hls size=1280x720 first_frame_ms=5516 frames=300 p50_ms=308 p95_ms=312", err: true},
		{line: "HLS_LATENCY client=ll-hls size=1280x720 first_frame_ms=5516 frames=3.5 p50_ms=308 p95_ms=312 max_ms=341", err: true},
		{line: "HLS_LATENCY size=1280x720", err: true},
	} {
		got, ok, err := parseHLSLatency(c.line)
		if (err != nil) != c.err {
			t.Errorf("parseHLSLatency(%q): error %v, want error %v", c.line, err, c.err)
			continue
		}
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("parseHLSLatency(%q) = %+v, %v; want %+v, %v", c.line, got, ok, c.want, c.ok)
		}
	}
}

// TestPushAndHLSReport checks the push cost's medians, the targets and the
// two sections: a protocol skipped, one failed, one measured twice.
func TestPushAndHLSReport(t *testing.T) {
	r := &results{Plan: quickPlan, PartSeconds: map[string]float64{"pushcost": 40, "hls": 42},
		PushCost: []pushSample{
			{Protocol: "rtsp", Rep: 1, Targets: 2, Base: 16, With: 18, PerTarget: 1},
			{Protocol: "rtsp", Rep: 2, Targets: 2, Base: 16, With: 17, PerTarget: 0.5},
			{Protocol: "rtmp", Skipped: "nginx is not installed"},
			{Protocol: "srt", Rep: 1, Error: "0 of 2 pushes connected within 20s"},
		},
		HLS: []hlsSample{
			{Client: hlsClientLL, Size: "1280x720", FirstFrame: 5516, Frames: 300, P50: 308, P95: 312, Max: 341},
			{Client: hlsClientFFmpeg, Size: "1280x720", FirstFrame: 3140, Frames: 344, P50: 2361, P95: 4394, Max: 4675},
		}}
	r.Summary = summarize(r)
	if len(r.Summary.PushCost) != 3 {
		t.Fatalf("push rows %+v, want 3", r.Summary.PushCost)
	}
	if row := r.Summary.PushCost[0]; row.Protocol != "rtsp" || row.N != 2 || row.PerTarget != 0.75 || row.Base != 16 || row.With != 17.5 {
		t.Errorf("rtsp row %+v", row)
	}
	met := map[string]string{}
	for _, tg := range r.Summary.Targets {
		met[tg.Name] = tg.Met
	}
	for name, want := range map[string]string{
		"CPU added per push target at 720p30, RTSP": "yes",
		"CPU added per push target at 720p30, RTMP": "n/a",
		"CPU added per push target at 720p30, SRT":  "n/a",
		"HLS latency p50, LL-HLS client":            "yes",
		"HLS latency p50, plain HLS (ffmpeg)":       "no",
	} {
		if met[name] != want {
			t.Errorf("target %q met %q, want %q", name, met[name], want)
		}
	}
	md := markdown(r, true)
	for _, want := range []string{
		"### 7. CPU added per push target",
		"| RTSP | ffmpeg as an RTSP server (-rtsp_flags listen) | 2 | 16.00 % | 17.50 % | **0.75 %** of a core | ≤ 1 % of a core | yes | no equivalent | 0 |",
		"not measured (skipped: nginx is not installed)",
		"not measured (failed: 0 of 2 pushes connected within 20s)",
		"### 8. HLS latency",
		"| **308 ms** | 312 ms | 341 ms | ≤ 1.5 s | yes / yes | no equivalent |",
		"| **2361 ms** | 4394 ms | 4675 ms | ≤ 1.5 s | no / no | no equivalent |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report has no %q:\n%s", want, md)
		}
	}
}

func TestParseStreamLine(t *testing.T) {
	for _, c := range []struct {
		line string
		want streamCounters
		ok   bool
		err  bool
	}{
		{line: "STREAM path=/bench frames_in=300 encoded=290 dropped=10 skipped=0 refused=1 viewers=1 slow_viewers=2",
			want: streamCounters{FramesIn: 300, Encoded: 290, Dropped: 10, Refused: 1, Viewers: 1, SlowViewers: 2}, ok: true},
		{line: "STREAM path=/bench frames_in=120 encoded=0 dropped=0 skipped=120 refused=0 viewers=0 slow_viewers=0",
			want: streamCounters{FramesIn: 120, Skipped: 120}, ok: true},
		{line: "STREAM path=/bench none"},
		{line: "RTSP rtsp://127.0.0.1:1234/bench"},
		{line: "STREAM frames_in=1 encoded=1 dropped=0 skipped=0 refused=0 viewers=0 slow_viewers=0", err: true},
		{line: "STREAM path=/bench frames_in=1 encoded=1 dropped=0 skipped=0 refused=0 viewers=0", err: true},
		{line: "STREAM path=/bench frames_in=x encoded=1 dropped=0 skipped=0 refused=0 viewers=0 slow_viewers=0", err: true},
		{line: "STREAM path=/bench frames_in=-1 encoded=1 dropped=0 skipped=0 refused=0 viewers=0 slow_viewers=0", err: true},
		{line: `STREAM path=/bench frames_in="1`, err: true},
	} {
		got, ok, err := parseStreamLine(c.line)
		if (err != nil) != c.err {
			t.Errorf("parseStreamLine(%q): error %v, want error %v", c.line, err, c.err)
			continue
		}
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("parseStreamLine(%q) = %+v, %v; want %+v, %v", c.line, got, ok, c.want, c.ok)
		}
	}
	// What role-framecast prints reads back.
	st := framecast.StreamStats{FramesIn: 7, FramesEncoded: 5, Dropped: 2, Viewers: 1, SlowViewers: 3}
	got, ok, err := parseStreamLine(streamLine("/bench", st, true))
	if want := (streamCounters{FramesIn: 7, Encoded: 5, Dropped: 2, Viewers: 1, SlowViewers: 3}); err != nil || !ok || got != want {
		t.Errorf("streamLine read back as %+v, %v, %v; want %+v", got, ok, err, want)
	}
	if _, ok, err := parseStreamLine(streamLine("/bench", st, false)); ok || err != nil {
		t.Errorf("streamLine of no stream read back as ok %v, error %v", ok, err)
	}
}

func TestStatsCount(t *testing.T) {
	for _, c := range []struct {
		payload, key string
		want         int
	}{
		{`{"sent": 300, "seconds": 5.1, "shm": true}`, "sent", 300},
		{`{"frames_in":120,"encoded":0}`, "frames_in", 120},
		{`{"sent": 300}`, "frames_in", 0},
		{``, "sent", 0},
		{`pushed=3`, "sent", 0},
	} {
		if got := statsCount(c.payload, c.key); got != c.want {
			t.Errorf("statsCount(%q, %q) = %d, want %d", c.payload, c.key, got, c.want)
		}
	}
}

// TestShmReport checks the shm part's ratios, targets and section: two
// repeats of the ingest alone, a viewer case, the maximum rate, 4K with
// its viewer dropped, and a case that failed.
func TestShmReport(t *testing.T) {
	big, hd := size1080.String(), size720.String()
	win := func(in, dropped, slow uint64) *streamCounters {
		return &streamCounters{FramesIn: in, Encoded: in - dropped, Dropped: dropped, SlowViewers: slow}
	}
	prod := func(p, s float64) map[string]float64 { return map[string]float64{"producer": p, "framecast": s} }
	r := &results{Plan: quickPlan, PartSeconds: map[string]float64{"shm": 58},
		Shm: []shmSample{
			{Case: shmIdle, System: sysPyIngest, Size: big, Rep: 0, Cores: 0.10, CoresByProc: prod(0.06, 0.04), InFPS: 30, Window: win(120, 0, 0)},
			{Case: shmIdle, System: sysPyIngest, Size: big, Rep: 1, Cores: 0.20, CoresByProc: prod(0.12, 0.08), InFPS: 30, Window: win(120, 0, 0)},
			{Case: shmIdle, System: sysPyShmWrite, Size: big, Rep: 0, Cores: 0.04, CoresByProc: prod(0.035, 0.005), InFPS: 30, Window: win(120, 0, 0)},
			{Case: shmIdle, System: sysPyShmWrite, Size: big, Rep: 1, Cores: 0.06, CoresByProc: prod(0.05, 0.01), InFPS: 30, Window: win(120, 0, 0)},
			{Case: shmIdle, System: sysPyShmFrame, Size: big, Rep: 0, Error: "producer exited"},
			{Case: shmViewer, System: sysPyShmWrite, Size: hd, Cores: 0.2, CoresByProc: prod(0.03, 0.17), FPS: 30},
			{Case: shmViewer, System: sysSeed, Size: hd, Cores: 0.32, CoresByProc: map[string]float64{"seed": 0.32}, FPS: 30},
			{Case: shmMax, System: sysPyShmWrite, Size: big, Cores: 1.5, CoresByProc: prod(0.2, 1.3), FPS: 120},
			{Case: shmMax, System: sysGoShm, Size: big, Cores: 1.5, CoresByProc: prod(0.1, 1.4), FPS: 125},
			{Case: shmMax, System: sysGoAPI, Size: big, Cores: 1.4, CoresByProc: map[string]float64{"fc-go-api": 1.4}, FPS: 140},
			{Case: shm4K, System: sysPyShmWrite, Size: size2160.String(), Cores: 1.2, CoresByProc: prod(0.15, 1.05),
				InFPS: 30.2, EncodedFPS: 29.5, Window: win(121, 3, 1), Sent: 152, ServerIn: 152},
		}}
	r.Summary = summarize(r)
	write := r.Summary.shmRow(shmIdle, sysPyShmWrite, big)
	if write == nil || write.N != 2 || math.Abs(write.Vs-0.35) > 1e-9 || math.Abs(write.Cores-0.05) > 1e-9 || math.Abs(write.ProducerCores-0.0425) > 1e-9 {
		t.Errorf("idle write() row %+v: want 2 repeats, 0.05 cores, 0.35 × (the median of 0.4 and 0.3)", write)
	}
	if row := r.Summary.shmRow(shmMax, sysPyShmWrite, big); row == nil || row.Vs != 0.96 || math.Abs(row.VsGoAPI-120.0/140) > 1e-9 {
		t.Errorf("max row %+v: want 0.96 × the Go publisher, 0.857 × the Go API", row)
	}
	met := map[string]string{}
	measured := map[string]string{}
	for _, tg := range r.Summary.Targets {
		met[tg.Name], measured[tg.Name] = tg.Met, tg.Measured
	}
	for name, want := range map[string]string{
		"ingest CPU, 1080p30 from Python, nobody watching, shared memory write() (one copy)":           "yes",
		"ingest CPU, 1080p30 from Python, nobody watching, shared memory frame()/commit() (zero copy)": "n/a",
		"CPU with one viewer at 720p30, shared memory from Python":                                     "yes",
		"CPU with one viewer at 1080p30, shared memory from Python":                                    "n/a",
		"max frames/s from Python at 1080p, shared memory":                                             "yes",
		"4K30 bgr24 from Python, shared memory, one viewer":                                            "no",
	} {
		if met[name] != want {
			t.Errorf("target %q met %q (%s), want %q", name, met[name], measured[name], want)
		}
	}
	if m := measured["ingest CPU, 1080p30 from Python, nobody watching, shared memory frame()/commit() (zero copy)"]; m != "not measured: producer exited" {
		t.Errorf("failed case measured %q", m)
	}
	md := markdown(r, true)
	for _, want := range []string{
		"### 9. Shared-memory ingest from Python (issue 15)",
		"| Unix socket, write() | 30.0 frames/s | 0.090 | 0.060 | **0.150** | 1 | (the reference) | – | no equivalent |",
		"| shared memory, write() (one copy) | 30.0 frames/s | 0.043 | 0.007 | **0.050** | 0.35 × | ≤ 0.35 × socket | yes | no equivalent |",
		"| shared memory, frame()/commit() (zero copy: stamped in the slot) | not measured: producer exited |",
		"| 1280x720 | **0.200** | 0.170 | 30.0 | 0.320 | 30.0 | 0.62 × | ≤ 0.8 × seed | yes |",
		"| Python, shared memory, write() (one copy) | **120** | 0.20 | 1.30 | 0.96 × | 0.86 × | ≥ 0.95 × Go publisher | yes | not measured in this run (section 1 measures it) |",
		"| Go publisher, shared memory, WriteFrame (one copy) | **125** | 0.10 | 1.40 | (the reference) | 0.89 × |",
		"| Go API, in the server's process | **140** | – | 1.40 | 1.12 × | – |",
		"| 30 frames/s | **30.2** frames/s (152 of 152 sent in all) | 3 of 121 | 29.5 frames/s | 0.0 frames/s (disconnected by the server as too slow",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report has no %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "1920x1080 | **") {
		t.Errorf("the viewer table has a 1080p row though nothing was measured there:\n%s", md)
	}
}

// TestPythonStampMatchesGo checks that bench/python/benchframes.py stamps
// the very pixels bench.StampRow does, at the sizes the harness uses.
func TestPythonStampMatchesGo(t *testing.T) {
	py := ""
	for _, name := range []string{"/usr/bin/python3", "python3"} { // findPython's order
		if path, err := exec.LookPath(name); err == nil && exec.Command(path, "-c", "import numpy").Run() == nil {
			py = path
			break
		}
	}
	if py == "" {
		t.Skip("no python3 with numpy")
	}
	for _, sz := range []size{size480, size720, size1080, size2160} {
		script := fmt.Sprintf(`import sys; sys.path.insert(0, "../python")
import numpy as np, benchframes
f = np.zeros((%d, %d, 3), np.uint8)
benchframes._row(f, 0, 0xbeef)
benchframes._row(f, 1, 0x1234)
sys.stdout.buffer.write(f.tobytes())`, sz.H, sz.W)
		out, err := exec.Command(py, "-c", script).Output()
		if err != nil {
			t.Fatalf("%v: python: %v", sz, err)
		}
		want := make([]byte, sz.W*sz.H*3)
		bench.StampRow(want, sz.W, sz.H, bench.RowNumber, 0xbeef)
		bench.StampRow(want, sz.W, sz.H, bench.RowSent, 0x1234)
		if !bytes.Equal(out, want) {
			t.Errorf("%v: Python's stamp differs from bench.StampRow's", sz)
		}
	}
}

func TestSpliceDocReplacesWhatIsBetweenTheMarkers(t *testing.T) {
	for _, tc := range []struct {
		doc, md, want, err string
	}{
		{doc: "# B\n" + docBegin + "\nold\ntables\n" + docEnd + "\n## Findings\n", md: "new\n",
			want: "# B\n" + docBegin + "\nnew\n" + docEnd + "\n## Findings\n"},
		{doc: docBegin + "\n" + docEnd + "\n", md: "no newline", want: docBegin + "\nno newline\n" + docEnd + "\n"},
		{doc: "# B\nno markers\n", md: "x", err: "want a"},
		{doc: docEnd + "\n" + docBegin + "\n", md: "x", err: "want a"},
	} {
		got, err := spliceDoc([]byte(tc.doc), tc.md)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("spliceDoc(%q): error %v, want one with %q", tc.doc, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("spliceDoc(%q, %q) = %q, %v; want %q", tc.doc, tc.md, got, err, tc.want)
		}
	}
}

func TestJoinAndFanOutTargets(t *testing.T) {
	join := func(viewer string, ms ...float64) []joinSample {
		var out []joinSample
		for _, m := range ms {
			out = append(out, joinSample{System: sysGoAPI, Viewer: viewer, MS: m})
		}
		return out
	}
	r := &results{Plan: quickPlan}
	r.Join = append(r.Join, join(viewerFFmpegBuffered, 140, 160, 170)...) // p50 160
	r.Join = append(r.Join, join(viewerGStreamer, 215, 220, 230)...)      // p50 above 160 + 50
	r.Join = append(r.Join, join(viewerFFmpeg, 250, 250)...)              // within 160 + 100
	r.Join = append(r.Join, joinSample{System: sysGoAPIAllIDR, Viewer: viewerFFmpegBuffered, MS: 155})
	step := func(sys, tr string, n int, rss, silence float64, ok bool) fanStep {
		wait := silence // framecast writes a frame's packets together
		if sys == sysSeed {
			wait = silence + 30
		}
		return fanStep{System: sys, Transport: tr, Viewers: n, Playing: n, OK: ok, JoinSeconds: 8,
			RSSPerViewer: rss * 1024, SilenceP95: silence, FrameWaitP95: wait, FPSPerViewer: 30, HoldSeconds: 10,
			CoresPer100: float64(n) / 10000} // 0.010 at 100, 0.040 at 400
	}
	r.FanOut = []fanStep{
		step(sysGoAPI, "tcp", 100, 70, 80, true), step(sysSeed, "tcp", 100, 15, 90, true),
		step(sysGoAPI, "tcp", 400, 70, 80, true), step(sysSeed, "tcp", 400, 15, 90, true),
		step(sysGoAPI, "tcp", 1000, 70, 500, false), step(sysGoAPI, "udp", 1000, 70, 90, true),
	}
	r.Summary = summarize(r)
	got := map[string]target{}
	for _, tg := range r.Summary.Targets {
		got[tg.Name] = tg
	}
	for _, tc := range []struct{ name, met, measured string }{
		{"late-join first frame p50", "no", "160 ms (ffmpeg's own floor, every frame an IDR: 155 ms)"},
		{"late-join first frame p50, GStreamer rtspsrc latency=0", "no", "220 vs 160 ms"},
		{"late-join first frame p50, ffmpeg -fflags nobuffer", "yes", "250 vs 160 ms"},
		{"fan-out memory per viewer, 400 TCP viewers", "no", "70.0 KiB per viewer (seed recipe 15.0)"},
		{"fan-out CPU per viewer, 400 TCP viewers", "yes", "+0.040 vs +0.040 cores per 100 viewers (at 100: +0.010 vs +0.010)"},
		{"longest silence per viewer p95, 400 TCP viewers", "yes", "80 vs 90 ms"},
		{"longest wait for a whole frame per viewer p95, 400 TCP viewers (beside the silence, not a target of its own)", "yes", "80 vs 120 ms"},
		{"1000 TCP viewers joining", "yes", "0 failed, 1000 playing after 8.0 s (125 joins/s)"},
		{"1000 UDP viewers at 720p30", "yes", "1000 of 1000 playing, 0 lost packets, 0 ended, 30.0 frames/s per viewer, held 10 s"},
	} {
		tg, ok := got[tc.name]
		if !ok {
			t.Errorf("no target %q in %+v", tc.name, r.Summary.Targets)
			continue
		}
		if tg.Met != tc.met || tg.Measured != tc.measured {
			t.Errorf("target %q: met %q measured %q, want %q %q", tc.name, tg.Met, tg.Measured, tc.met, tc.measured)
		}
	}
}

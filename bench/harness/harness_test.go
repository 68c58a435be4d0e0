package main

import (
	"maps"
	"math"
	"strings"
	"testing"
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

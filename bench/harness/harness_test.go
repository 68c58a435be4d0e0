package main

import (
	"math"
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

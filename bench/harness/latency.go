package main

import (
	"fmt"
	"slices"
	"time"
)

// latSample is one run at 1280x720 30 fps with one viewer: the CPU the
// system used while ffmpeg (the benchmark's low-delay flags) decoded it, and
// the glass-to-glass latency of the frames ffmpeg decoded; then, with
// GStreamer as the viewer instead, the latency again.
type latSample struct {
	System      string             `json:"system"`
	Rep         int                `json:"rep"`
	Cores       float64            `json:"cores"`         // user+sys of the system's processes, in cores
	CoresByProc map[string]float64 `json:"cores_by_proc"` // the same, per process
	ViewerCores float64            `json:"viewer_cores"`  // ffmpeg's, not counted in Cores
	Frames      int                `json:"frames"`        // good frames ffmpeg decoded in the window
	Missing     int                `json:"missing"`       // frame numbers it never decoded
	Broken      int                `json:"broken"`        // pictures unlike the frame sent
	P50         float64            `json:"p50_ms"`
	P95         float64            `json:"p95_ms"`
	P99         float64            `json:"p99_ms"`
	GstFrames   int                `json:"gst_frames"`
	GstP50      float64            `json:"gst_p50_ms"`
	GstP95      float64            `json:"gst_p95_ms"`
	GstP99      float64            `json:"gst_p99_ms"`
	Stats       map[string]string  `json:"stats,omitempty"`
}

var latSystems = []string{sysX264, sysGoAPI, sysPyIngest, sysSeed}

// cpuLatency measures CPU and glass-to-glass latency at 720p30, alternating
// the systems. The x264 ceiling has no viewer: its row is libx264 encoding
// the same frames at 30 fps, for scale.
func (e *env) cpuLatency() ([]latSample, error) {
	var out []latSample
	for rep := range e.plan.Reps {
		for i := range latSystems {
			sys := latSystems[(i+rep)%len(latSystems)]
			s, err := e.cpuLatencyOnce(sys)
			if err != nil {
				return out, fmt.Errorf("cpu/latency %s: %w", sys, err)
			}
			s.Rep = rep
			e.logf("cpu+latency %-14s rep %d: %.3f cores; ffmpeg p50 %.0f p95 %.0f p99 %.0f ms (%d frames, %d missing, %d broken); gstreamer p50 %.0f p95 %.0f p99 %.0f ms",
				sys, rep, s.Cores, s.P50, s.P95, s.P99, s.Frames, s.Missing, s.Broken, s.GstP50, s.GstP95, s.GstP99)
			out = append(out, s)
		}
	}
	return out, nil
}

func (e *env) cpuLatencyOnce(sys string) (s latSample, err error) {
	s = latSample{System: sys, CoresByProc: map[string]float64{}}
	sz := size720
	if sys == sysX264 {
		return e.x264At30(sz)
	}
	ref, err := e.reference(sz)
	if err != nil {
		return s, err
	}
	r, err := e.startSystem(sys, sz, 30, false)
	if err != nil {
		return s, err
	}
	defer func() { s.Stats = r.stop() }()

	ff, err := startViewer(viewerFFmpeg, r.url, ref)
	if err != nil {
		return s, err
	}
	defer ff.stop()
	if _, _, err := ff.waitFirst(10 * time.Second); err != nil {
		return s, err
	}
	time.Sleep(e.plan.LatWarmup)
	cpu, err := startCPU(append(r.pids(), ff.pid())...)
	if err != nil {
		return s, err
	}
	t0 := time.Now()
	time.Sleep(e.plan.LatMeasure)
	cores, err := cpu.cores()
	if err != nil {
		return s, err
	}
	for i, p := range r.procs {
		s.CoresByProc[p.name] = cores[i]
		s.Cores += cores[i]
	}
	s.ViewerCores = cores[len(cores)-1]
	var ages []float64
	ages, s.Missing, s.Broken = latencies(ff.since(t0))
	ff.stop()
	if len(ages) == 0 {
		return s, fmt.Errorf("ffmpeg decoded no good frame in the window: %s", ff.stderr)
	}
	s.Frames = len(ages)
	s.P50, s.P95, s.P99 = quantile(ages, 0.50), quantile(ages, 0.95), quantile(ages, 0.99)

	gst, err := startViewer(viewerGStreamer, r.url, ref)
	if err != nil {
		return s, err
	}
	defer gst.stop()
	if _, _, err := gst.waitFirst(10 * time.Second); err != nil {
		return s, err
	}
	time.Sleep(time.Second)
	t1 := time.Now()
	time.Sleep(e.plan.LatGstMeasure)
	ages, _, _ = latencies(gst.since(t1))
	if len(ages) == 0 {
		return s, fmt.Errorf("gstreamer decoded no good frame in the window: %s", gst.stderr)
	}
	s.GstFrames = len(ages)
	s.GstP50, s.GstP95, s.GstP99 = quantile(ages, 0.50), quantile(ages, 0.95), quantile(ages, 0.99)
	return s, nil
}

// latencies returns the sorted ages of the good frames, the frame numbers
// between them that were never decoded, and the broken pictures.
func latencies(frames []decoded) (ages []float64, missing, broken int) {
	var last *decoded
	for i := range frames {
		d := &frames[i]
		if !d.good {
			broken++
			continue
		}
		ages = append(ages, float64(d.age))
		if last != nil {
			if gap := int(uint16(d.num - last.num)); gap > 1 && gap < 1000 {
				missing += gap - 1
			}
		}
		last = d
	}
	slices.Sort(ages)
	return ages, missing, broken
}

// x264At30 is the ceiling's row of the CPU table: libx264 alone encoding the
// pre-converted frames at 30 fps.
func (e *env) x264At30(sz size) (latSample, error) {
	s := latSample{System: sysX264, CoresByProc: map[string]float64{}}
	ring, err := e.ring(sz)
	if err != nil {
		return s, err
	}
	p, err := startProc(sysX264, []string{e.self, "role-x264", "-size", sz.String(), "-ring", ring, "-rate", "30",
		"-bitrate", fmt.Sprint(sz.bitrate()), "-gop", fmt.Sprint(gop),
		"-warmup", secs(e.plan.LatWarmup), "-seconds", secs(e.plan.LatMeasure)}, nil)
	if err != nil {
		return s, err
	}
	<-p.done
	var st struct{ Cores float64 }
	if err := jsonUnmarshal(p.stop(), &st); err != nil {
		return s, fmt.Errorf("x264 role: %v: %s", err, p.stderr)
	}
	s.Cores = st.Cores
	s.CoresByProc[sysX264] = st.Cores
	return s, nil
}

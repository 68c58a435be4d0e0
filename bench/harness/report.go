package main

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// summary is what the tables show: medians over repeats, and ratios taken
// repeat by repeat (systems measured back to back) before their median.
type summary struct {
	Throughput []tpRow   `json:"throughput,omitempty"`
	CPULatency []latRow  `json:"cpu_latency,omitempty"`
	Join       []joinRow `json:"late_join,omitempty"`
	FanOut     []fanRow  `json:"fanout,omitempty"`
	PushCost   []pushRow `json:"push_cost,omitempty"`
	Shm        []shmRow  `json:"shm,omitempty"`
	Targets    []target  `json:"targets,omitempty"`
}

type tpRow struct {
	System string  `json:"system"`
	Size   string  `json:"size"`
	N      int     `json:"n"`
	FPS    float64 `json:"fps"`
	Min    float64 `json:"fps_min"`
	Max    float64 `json:"fps_max"`
	Cores  float64 `json:"cores"`
	VsX264 float64 `json:"vs_x264,omitempty"`
	VsSeed float64 `json:"vs_seed,omitempty"`
}

type latRow struct {
	System       string  `json:"system"`
	N            int     `json:"n"`
	Cores        float64 `json:"cores"`
	ViewerCores  float64 `json:"viewer_cores"`
	P50          float64 `json:"p50_ms"`
	P95          float64 `json:"p95_ms"`
	P99          float64 `json:"p99_ms"`
	GstP50       float64 `json:"gst_p50_ms"`
	GstP95       float64 `json:"gst_p95_ms"`
	GstP99       float64 `json:"gst_p99_ms"`
	Missing      int     `json:"missing_frames"`
	Broken       int     `json:"broken_pictures"`
	GstP50VsSeed float64 `json:"gst_p50_vs_seed,omitempty"`
	CoresVsSeed  float64 `json:"cores_vs_seed,omitempty"`
	P50VsSeed    float64 `json:"p50_vs_seed,omitempty"`
}

type joinRow struct {
	System string  `json:"system"`
	Viewer string  `json:"viewer"`
	Broken int     `json:"broken_pictures"`
	N      int     `json:"n"`
	P50    float64 `json:"p50_ms"`
	P95    float64 `json:"p95_ms"`
	Max    float64 `json:"max_ms"`
}

// fanRow is a system's fan-out over one transport: the most viewers it
// served without loss, and its cost per viewer at each step.
type fanRow struct {
	System    string    `json:"system"`
	Transport string    `json:"transport"`
	MaxOK     int       `json:"max_viewers_ok"`
	Steps     []fanStep `json:"-"`
}

// pushRow is a protocol's cost per push target: medians over the repeats
// measured, or why it was not measured.
type pushRow struct {
	Protocol  string  `json:"protocol"`
	N         int     `json:"n"` // repeats measured
	Targets   int     `json:"targets"`
	Base      float64 `json:"base_pct"`
	With      float64 `json:"with_pct"`
	PerTarget float64 `json:"per_target_pct"`
	Dropped   uint64  `json:"dropped"`
	Skipped   string  `json:"skipped,omitempty"`
	Error     string  `json:"error,omitempty"` // of the repeats that failed
}

type target struct {
	Name     string `json:"name"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Met      string `json:"met"` // "yes", "no", or "n/a" when not measured
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// quantile is the p-quantile of sorted values, nearest rank.
func quantile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func summarize(r *results) summary {
	var s summary
	// Throughput.
	byKey := map[[2]string]map[int]tpSample{}
	for _, t := range r.Throughput {
		k := [2]string{t.System, t.Size}
		if byKey[k] == nil {
			byKey[k] = map[int]tpSample{}
		}
		byKey[k][t.Rep] = t
	}
	ratio := func(a, b map[int]tpSample) float64 {
		var rs []float64
		for rep, x := range a {
			if y, ok := b[rep]; ok && y.FPS > 0 {
				rs = append(rs, x.FPS/y.FPS)
			}
		}
		return median(rs)
	}
	for _, sz := range r.Plan.SizeNames {
		for _, sys := range tpSystems {
			m := byKey[[2]string{sys, sz}]
			if len(m) == 0 {
				continue
			}
			var fps, cores []float64
			for _, t := range m {
				fps = append(fps, t.FPS)
				cores = append(cores, t.Cores)
			}
			row := tpRow{System: sys, Size: sz, N: len(m), FPS: median(fps), Min: slices.Min(fps), Max: slices.Max(fps), Cores: median(cores)}
			if sys != sysX264 {
				row.VsX264 = nan0(ratio(m, byKey[[2]string{sysX264, sz}]))
			}
			if sys != sysSeed {
				row.VsSeed = nan0(ratio(m, byKey[[2]string{sysSeed, sz}]))
			}
			s.Throughput = append(s.Throughput, row)
		}
	}
	// CPU and latency.
	lat := map[string]map[int]latSample{}
	for _, l := range r.CPULatency {
		if lat[l.System] == nil {
			lat[l.System] = map[int]latSample{}
		}
		lat[l.System][l.Rep] = l
	}
	for _, sys := range latSystems {
		m := lat[sys]
		if len(m) == 0 {
			continue
		}
		var cores, vc, p50, p95, p99, g50, g95, g99, cr, pr, gr []float64
		missing, broken := 0, 0
		for rep, l := range m {
			cores, vc = append(cores, l.Cores), append(vc, l.ViewerCores)
			p50, p95, p99 = append(p50, l.P50), append(p95, l.P95), append(p99, l.P99)
			g50, g95, g99 = append(g50, l.GstP50), append(g95, l.GstP95), append(g99, l.GstP99)
			missing += l.Missing
			broken += l.Broken
			if sd, ok := lat[sysSeed][rep]; ok && sys != sysSeed {
				cr = append(cr, l.Cores/sd.Cores)
				if l.Frames > 0 && sd.P50 > 0 {
					pr = append(pr, l.P50/sd.P50)
				}
				if l.GstFrames > 0 && sd.GstP50 > 0 {
					gr = append(gr, l.GstP50/sd.GstP50)
				}
			}
		}
		row := latRow{System: sys, N: len(m), Cores: median(cores), ViewerCores: median(vc), Missing: missing, Broken: broken,
			CoresVsSeed: nan0(median(cr)), P50VsSeed: nan0(median(pr)), GstP50VsSeed: nan0(median(gr))}
		if sys != sysX264 {
			row.P50, row.P95, row.P99 = median(p50), median(p95), median(p99)
			row.GstP50, row.GstP95, row.GstP99 = median(g50), median(g95), median(g99)
		}
		s.CPULatency = append(s.CPULatency, row)
	}
	// Late join: pooled over every join.
	for _, kind := range joinViewers {
		for _, sys := range joinSystems {
			var ms []float64
			broken := 0
			for _, j := range r.Join {
				if j.System == sys && j.Viewer == kind {
					ms = append(ms, j.MS)
					broken += j.Broken
				}
			}
			if len(ms) == 0 {
				continue
			}
			slices.Sort(ms)
			s.Join = append(s.Join, joinRow{System: sys, Viewer: kind, Broken: broken, N: len(ms),
				P50: quantile(ms, 0.5), P95: quantile(ms, 0.95), Max: ms[len(ms)-1]})
		}
	}
	// Fan-out.
	for _, tr := range []string{"tcp", "udp"} {
		for _, sys := range fanSystems {
			row := fanRow{System: sys, Transport: tr}
			for _, f := range r.FanOut {
				if f.System == sys && f.Transport == tr {
					row.Steps = append(row.Steps, f)
					if f.OK && f.Viewers > row.MaxOK {
						row.MaxOK = f.Viewers
					}
				}
			}
			if len(row.Steps) > 0 {
				s.FanOut = append(s.FanOut, row)
			}
		}
	}
	// Push cost: the protocols make bench measures, then any other.
	protos := slices.Clone(pushProtocols)
	for _, ps := range r.PushCost {
		if !slices.Contains(protos, ps.Protocol) {
			protos = append(protos, ps.Protocol)
		}
	}
	for _, proto := range protos {
		row := pushRow{Protocol: proto}
		var base, with, per []float64
		var errs []string
		seen := false
		for _, ps := range r.PushCost {
			if ps.Protocol != proto {
				continue
			}
			seen = true
			switch {
			case ps.Skipped != "":
				row.Skipped = ps.Skipped
			case ps.Error != "":
				errs = append(errs, ps.Error)
			default:
				row.N++
				row.Targets = ps.Targets
				row.Dropped += ps.Dropped
				base, with, per = append(base, ps.Base), append(with, ps.With), append(per, ps.PerTarget)
			}
		}
		if !seen {
			continue
		}
		row.Error = strings.Join(errs, "; ")
		if row.N > 0 {
			row.Base, row.With, row.PerTarget = median(base), median(with), median(per)
		}
		s.PushCost = append(s.PushCost, row)
	}
	s.Shm = summarizeShm(r.Shm)
	s.Targets = targets(&s, r)
	return s
}

// pushGoal is the goal for the CPU a push target adds at 720p30,
// in % of a core.
const pushGoal = 1.0

// hlsGoal is the goal for HLS latency, in milliseconds.
const hlsGoal = 1500.0

func nan0(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func (s *summary) tp(sys, sz string) *tpRow {
	for i := range s.Throughput {
		if s.Throughput[i].System == sys && s.Throughput[i].Size == sz {
			return &s.Throughput[i]
		}
	}
	return nil
}

func (s *summary) lat(sys string) *latRow {
	for i := range s.CPULatency {
		if s.CPULatency[i].System == sys {
			return &s.CPULatency[i]
		}
	}
	return nil
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// targets checks the goals against this run.
func targets(s *summary, r *results) []target {
	var out []target
	big := size1080.String()
	if row := s.tp(sysGoAPI, big); row != nil && row.VsX264 > 0 {
		out = append(out, target{"throughput, Go API, 1080p", "≥ 0.9 × x264 ceiling",
			fmt.Sprintf("%.2f × (%.0f vs %.0f frames/s)", row.VsX264, row.FPS, s.tp(sysX264, big).FPS), yesNo(row.VsX264 >= 0.9)})
	} else {
		out = append(out, target{"throughput, Go API, 1080p", "≥ 0.9 × x264 ceiling", "not measured", "n/a"})
	}
	if row := s.tp(sysPyIngest, big); row != nil && row.VsSeed > 0 {
		out = append(out, target{"throughput, socket from Python, 1080p", "≥ 2 × seed recipe",
			fmt.Sprintf("%.2f × (%.0f vs %.0f frames/s)", row.VsSeed, row.FPS, s.tp(sysSeed, big).FPS), yesNo(row.VsSeed >= 2)})
	} else {
		out = append(out, target{"throughput, socket from Python, 1080p", "≥ 2 × seed recipe", "not measured", "n/a"})
	}
	for _, sys := range []string{sysPyIngest, sysGoAPI} {
		name := "CPU at 720p30, " + shortName(sys)
		if row, seed := s.lat(sys), s.lat(sysSeed); row != nil && seed != nil && row.CoresVsSeed > 0 {
			out = append(out, target{name, "≤ 0.8 × seed recipe",
				fmt.Sprintf("%.2f × (%.3f vs %.3f cores)", row.CoresVsSeed, row.Cores, seed.Cores), yesNo(row.CoresVsSeed <= 0.8)})
		} else {
			out = append(out, target{name, "≤ 0.8 × seed recipe", "not measured", "n/a"})
		}
	}
	for _, sys := range []string{sysPyIngest, sysGoAPI} {
		name := "glass-to-glass p50 (ffmpeg viewer), " + shortName(sys)
		if row, seed := s.lat(sys), s.lat(sysSeed); row != nil && seed != nil && row.P50VsSeed > 0 {
			out = append(out, target{name, "≤ 0.8 × seed recipe",
				fmt.Sprintf("%.2f × (%.0f vs %.0f ms)", row.P50VsSeed, row.P50, seed.P50), yesNo(row.P50VsSeed <= 0.8)})
			if row.GstP50VsSeed > 0 {
				out = append(out, target{"same, GStreamer viewer (no viewer-side delay), " + shortName(sys), "≤ 0.8 × seed recipe",
					fmt.Sprintf("%.2f × (%.0f vs %.0f ms)", row.GstP50VsSeed, row.GstP50, seed.GstP50), yesNo(row.GstP50VsSeed <= 0.8)})
			}
		} else {
			out = append(out, target{name, "≤ 0.8 × seed recipe", "not measured", "n/a"})
		}
	}
	out = append(out, joinTargets(s)...)
	// Fan-out cost per viewer at the largest TCP step both served cleanly.
	var fc, seed *fanRow
	for i := range s.FanOut {
		f := &s.FanOut[i]
		if f.Transport == "tcp" && f.System == sysGoAPI {
			fc = f
		}
		if f.Transport == "tcp" && f.System == sysSeed {
			seed = f
		}
	}
	if fc != nil && seed != nil {
		n := min(fc.MaxOK, seed.MaxOK)
		a, b := stepAt(fc, n), stepAt(seed, n)
		if a != nil && b != nil {
			m := fmt.Sprintf("+%.3f vs +%.3f cores per 100 viewers", a.CoresPer100, b.CoresPer100)
			// The smaller steps both served, for where the figures cross.
			var at []string
			for _, fs := range fc.Steps {
				if sb := stepAt(seed, fs.Viewers); fs.Viewers < n && fs.Viewers > 1 && fs.OK && sb != nil && sb.OK {
					at = append(at, fmt.Sprintf("%d: +%.3f vs +%.3f", fs.Viewers, fs.CoresPer100, sb.CoresPer100))
				}
			}
			if len(at) > 0 {
				m += " (at " + strings.Join(at, "; ") + ")"
			}
			out = append(out, target{fmt.Sprintf("fan-out CPU per viewer, %d TCP viewers", n), "≤ seed recipe", m, yesNo(a.CoresPer100 <= b.CoresPer100)})
			out = append(out, target{fmt.Sprintf("fan-out memory per viewer, %d TCP viewers", n), "≤ 16 KiB",
				fmt.Sprintf("%.1f KiB per viewer (seed recipe %.1f)", a.RSSPerViewer/1024, b.RSSPerViewer/1024), yesNo(a.RSSPerViewer <= 16<<10)})
			out = append(out, target{fmt.Sprintf("longest silence per viewer p95, %d TCP viewers", n), "≤ seed recipe",
				fmt.Sprintf("%.0f vs %.0f ms", a.SilenceP95, b.SilenceP95), yesNo(a.SilenceP95 <= b.SilenceP95)})
			out = append(out, target{fmt.Sprintf("longest wait for a whole frame per viewer p95, %d TCP viewers (beside the silence, not a target of its own)", n), "≤ seed recipe",
				fmt.Sprintf("%.0f vs %.0f ms", a.FrameWaitP95, b.FrameWaitP95), yesNo(a.FrameWaitP95 <= b.FrameWaitP95)})
		}
	}
	if fc != nil {
		top := stepAt(fc, 1000)
		m := "not reached"
		ok := false
		if top != nil {
			ok = top.OK
			m = fmt.Sprintf("%d of 1000 playing, %d lost packets, %d ended, %.1f frames/s per viewer, held %.0f s",
				top.Playing, top.Lost, top.Ended, top.FPSPerViewer, top.HoldSeconds)
		}
		out = append(out, target{"1000 TCP viewers at 720p30", "no loss", m, yesNo(ok)})
	} else {
		out = append(out, target{"1000 TCP viewers at 720p30", "no loss", "not measured", "n/a"})
	}
	out = append(out, fanTopTargets(s)...)
	out = append(out, pushTargets(s)...)
	out = append(out, hlsTargets(r)...)
	return append(out, shmTargets(s)...)
}

// joinTargets are the late joiners' targets: ffmpeg's fast start on its
// own, and the other viewers against it.
func joinTargets(s *summary) []target {
	p50Of := func(sys, kind string) (float64, bool) {
		for _, j := range s.Join {
			if j.System == sys && j.Viewer == kind {
				return j.P50, true
			}
		}
		return 0, false
	}
	p50 := func(kind string) (float64, bool) { return p50Of(sysGoAPI, kind) }
	ff, ok := p50(viewerFFmpegBuffered)
	if !ok {
		return []target{{"late-join first frame p50", "< 150 ms", "not measured", "n/a"}}
	}
	m := fmt.Sprintf("%.0f ms", ff)
	if floor, ok := p50Of(sysGoAPIAllIDR, viewerFFmpegBuffered); ok {
		// What the viewer takes by itself on this machine, the join
		// costing nothing.
		m += fmt.Sprintf(" (ffmpeg's own floor, every frame an IDR: %.0f ms)", floor)
	}
	out := []target{{"late-join first frame p50", "< 150 ms", m, yesNo(ff < 150)}}
	for _, o := range []struct {
		kind, name string
		slack      float64
	}{
		{viewerGStreamer, "late-join first frame p50, GStreamer rtspsrc latency=0", 50},
		{viewerFFmpeg, "late-join first frame p50, ffmpeg -fflags nobuffer", 100},
	} {
		goal := fmt.Sprintf("≤ ffmpeg fast start + %.0f ms", o.slack)
		if v, ok := p50(o.kind); ok {
			out = append(out, target{o.name, goal, fmt.Sprintf("%.0f vs %.0f ms", v, ff), yesNo(v <= ff+o.slack)})
		} else {
			out = append(out, target{o.name, goal, "not measured", "n/a"})
		}
	}
	return out
}

// fanTopTargets are the targets of framecast's largest fan-out step beyond
// the 1000 TCP viewers' loss: the join of those 1000, and 1000 over UDP.
func fanTopTargets(s *summary) []target {
	top := func(tr string) *fanStep {
		for i := range s.FanOut {
			if f := &s.FanOut[i]; f.System == sysGoAPI && f.Transport == tr {
				return stepAt(f, 1000)
			}
		}
		return nil
	}
	var out []target
	if t := top("tcp"); t != nil {
		rate := 0.0
		if t.JoinSeconds > 0 {
			rate = float64(t.Playing) / t.JoinSeconds
		}
		out = append(out, target{"1000 TCP viewers joining", "0 failures", fmt.Sprintf("%d failed, %d playing after %.1f s (%.0f joins/s)",
			t.Failed, t.Playing, t.JoinSeconds, rate), yesNo(t.Failed == 0 && t.Playing == 1000)})
	} else {
		out = append(out, target{"1000 TCP viewers joining", "0 failures", "not measured", "n/a"})
	}
	if t := top("udp"); t != nil {
		out = append(out, target{"1000 UDP viewers at 720p30", "no loss", fmt.Sprintf("%d of 1000 playing, %d lost packets, %d ended, %.1f frames/s per viewer, held %.0f s",
			t.Playing, t.Lost, t.Ended, t.FPSPerViewer, t.HoldSeconds), yesNo(t.OK)})
	} else {
		out = append(out, target{"1000 UDP viewers at 720p30", "no loss", "not measured", "n/a"})
	}
	return out
}

// pushTargets are the push cost's targets, a protocol each.
func pushTargets(s *summary) []target {
	var out []target
	goal := fmt.Sprintf("≤ %g %% of a core", pushGoal)
	for _, proto := range pushProtocols {
		name := "CPU added per push target at 720p30, " + strings.ToUpper(proto)
		i := slices.IndexFunc(s.PushCost, func(r pushRow) bool { return r.Protocol == proto })
		switch {
		case i < 0:
			out = append(out, target{name, goal, "not measured", "n/a"})
		case s.PushCost[i].N == 0:
			row := s.PushCost[i]
			out = append(out, target{name, goal, "not measured: " + cell(cmp.Or(row.Skipped, row.Error), 200), "n/a"})
		default:
			row := s.PushCost[i]
			out = append(out, target{name, goal, fmt.Sprintf("%.2f %% (%d targets, %s)", row.PerTarget, row.Targets, plural(row.N, "repeat")),
				yesNo(row.PerTarget <= pushGoal)})
		}
	}
	return out
}

// hlsTargets are the HLS latency's targets, a client each.
func hlsTargets(r *results) []target {
	var out []target
	goal := fmt.Sprintf("≤ %g s", hlsGoal/1000)
	for _, c := range hlsClients {
		name := "HLS latency p50, " + hlsShortNames[c]
		i := slices.IndexFunc(r.HLS, func(h hlsSample) bool { return h.Client == c })
		switch {
		case i < 0:
			out = append(out, target{name, goal, "not measured", "n/a"})
		case r.HLS[i].Error != "":
			out = append(out, target{name, goal, "not measured: " + cell(r.HLS[i].Error, 200), "n/a"})
		default:
			h := r.HLS[i]
			out = append(out, target{name, goal, fmt.Sprintf("%.0f ms (p95 %.0f ms; first frame after %.1f s)", h.P50, h.P95, h.FirstFrame/1000),
				yesNo(h.P50 <= hlsGoal)})
		}
	}
	return out
}

// hlsShortNames are how the targets name the HLS clients.
var hlsShortNames = map[string]string{
	hlsClientLL:     "LL-HLS client",
	hlsClientFFmpeg: "plain HLS (ffmpeg)",
}

// plural is n and noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func stepAt(f *fanRow, n int) *fanStep {
	for i := range f.Steps {
		if f.Steps[i].Viewers == n {
			return &f.Steps[i]
		}
	}
	return nil
}

func shortName(sys string) string {
	switch sys {
	case sysPyIngest:
		return "socket from Python"
	case sysGoAPI:
		return "Go API"
	}
	return sys
}

// markdown renders the run as the tables docs/benchmarks.md shows.
func markdown(r *results, quick bool) string {
	var b strings.Builder
	s := &r.Summary
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("\n## framecast benchmarks, %s\n\n", r.Date)
	if quick {
		p("**Quick run (-quick): fewer sizes, repeats and viewers; not for publishing.**\n\n")
	}
	m := r.Machine
	p("Machine: %s, %d cores, %d GiB; %s, kernel %s; %s; x264 %s; libyuv %s; ffmpeg %s; GStreamer %s; %s. Load average before %s, after %s. %d repeats, %.0f s in all.\n",
		m.CPU, m.Cores, m.MemoryGiB, m.OS, m.Kernel, m.Go, m.X264, m.Libyuv, m.FFmpeg, m.GStreamer, m.Python,
		m.LoadBefore, m.LoadAfter, r.Plan.Reps, r.Seconds)
	if f := strings.Fields(m.LoadBefore); len(f) > 0 {
		if load, err := strconv.ParseFloat(f[0], 64); err == nil && load > 0.5 {
			p("\n**The machine was busy when the run started (load %s): other processes shared the two cores, so the numbers are noisy.**\n", f[0])
		}
	}

	if len(s.Throughput) > 0 {
		p("\n### 1. Maximum sustained throughput (frames/s, frames in → RTP out, one TCP viewer)\n\n")
		p("Median of %d repeats (min–max); ratios are taken per repeat, then their median.\n\n", r.Plan.Reps)
		p("| system |")
		for _, sz := range r.Plan.SizeNames {
			p(" %s |", sz)
		}
		p(" vs x264 ceiling | vs seed recipe | cores used |\n|---|")
		for range r.Plan.SizeNames {
			p("---:|")
		}
		p("---|---|---|\n")
		for _, sys := range tpSystems {
			var cells, vsX, vsS, cores []string
			any := false
			for _, sz := range r.Plan.SizeNames {
				row := s.tp(sys, sz)
				if row == nil {
					cells = append(cells, "–")
					continue
				}
				any = true
				cells = append(cells, fmt.Sprintf("**%.0f** (%.0f–%.0f)", row.FPS, row.Min, row.Max))
				label := strings.TrimSuffix(strings.SplitN(sz, "x", 2)[1], "") + "p"
				if row.VsX264 > 0 {
					vsX = append(vsX, fmt.Sprintf("%s %.2f", label, row.VsX264))
				}
				if row.VsSeed > 0 {
					vsS = append(vsS, fmt.Sprintf("%s %.2f", label, row.VsSeed))
				}
				cores = append(cores, fmt.Sprintf("%.2f", row.Cores))
			}
			if !any {
				continue
			}
			p("| %s | %s | %s | %s | %s |\n", systemNames[sys], strings.Join(cells, " | "),
				dash(strings.Join(vsX, ", ")), dash(strings.Join(vsS, ", ")), strings.Join(cores, " / "))
		}
	}
	if len(s.CPULatency) > 0 {
		p("\n### 2–3. CPU and glass-to-glass latency at 1280x720, 30 fps, one viewer (ffmpeg, low-delay flags)\n\n")
		p("CPU is user+sys of the system's processes (producer and server), in cores; the viewer's own is apart. Latency: send stamp → frame decoded by ffmpeg → stamp read back. Medians of %d repeats.\n\n", r.Plan.Reps)
		p("| system | cores | vs seed | viewer (ffmpeg) cores | ffmpeg p50 / p95 / p99 | p50 vs seed | GStreamer p50 / p95 / p99 | p50 vs seed | frames missing / broken |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, l := range s.CPULatency {
			if l.System == sysX264 {
				p("| %s, encode only | %.3f | %s | – | – | – | – | – | – |\n", systemNames[l.System], l.Cores, ratioCell(l.CoresVsSeed))
				continue
			}
			p("| %s | %.3f | %s | %.3f | %.0f / %.0f / %.0f ms | %s | %.0f / %.0f / %.0f ms | %s | %d / %d |\n", systemNames[l.System], l.Cores,
				ratioCell(l.CoresVsSeed), l.ViewerCores, l.P50, l.P95, l.P99, ratioCell(l.P50VsSeed),
				l.GstP50, l.GstP95, l.GstP99, ratioCell(l.GstP50VsSeed), l.Missing, l.Broken)
		}
	}
	if len(s.Join) > 0 {
		p("\n### 4. Time to first decoded frame for a late joiner (720p30, GOP 2 s)\n\n")
		p("From starting the viewer to its first good decoded frame (a picture that matches the frame sent; broken pictures decoded from P frames before it are counted apart), while another viewer plays.\n\n")
		p("| system | viewer | joins | p50 | p95 | max | broken pictures before |\n|---|---|---:|---:|---:|---:|---:|\n")
		for _, j := range s.Join {
			p("| %s | %s | %d | %.0f ms | %.0f ms | %.0f ms | %d |\n", systemNames[j.System], joinViewerNames[j.Viewer], j.N, j.P50, j.P95, j.Max, j.Broken)
		}
	}
	if len(s.FanOut) > 0 {
		p("\n### 5. Fan-out at 1280x720, 30 fps\n\n")
		p("Each step connects N viewers (bench/loadclient, gortsplib, counting packets only), waits 2 s, then holds %.0f s (the last step %.0f s for framecast over TCP, %.0f s for the others; the one-viewer baseline %.0f s). Costs are against the baseline. Silence: a viewer's longest time without a packet. Frame wait: its longest time between two whole frames (packets with the marker bit). p95 over the viewers. The load client runs on the same 2 cores: its CPU is beside the server's. One run, no repeats.\n\n",
			r.Plan.FanHold.Seconds(), r.Plan.FanHoldTop.Seconds(), r.Plan.FanHoldTopRest.Seconds(), r.Plan.FanBaseHold.Seconds())
		p("| system | transport | viewers | no loss | server cores | + cores / 100 viewers | RSS / viewer | silence p95 | frame wait p95 | load client cores | lost packets | fps / viewer |\n|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, f := range s.FanOut {
			for _, st := range f.Steps {
				per100, rss := "–", "–"
				if st.Viewers > 1 {
					per100 = fmt.Sprintf("%+.3f", st.CoresPer100)
					rss = fmt.Sprintf("%.1f KiB", st.RSSPerViewer/1024)
				}
				ok := yesNo(st.OK)
				if st.Error != "" {
					p("| %s | %s | %d | not measured: %s | | | | | | | | |\n", systemNames[f.System], f.Transport, st.Viewers, cell(st.Error, 300))
					continue
				}
				if st.Playing < st.Viewers {
					ok += fmt.Sprintf(" (%d playing)", st.Playing)
				}
				p("| %s | %s | %d | %s | %.3f | %s | %s | %.0f ms | %.0f ms | %.3f | %d | %.1f |\n", systemNames[f.System], f.Transport,
					st.Viewers, ok, st.ServerCores, per100, rss, st.SilenceP95, st.FrameWaitP95, st.ClientCores, st.Lost, st.FPSPerViewer)
			}
		}
	}
	if len(r.Micro) > 0 {
		p("\n### 6. Go micro-benchmarks (-benchmem, -benchtime %s)\n\n", r.Plan.MicroBenchtime)
		p("| package | benchmark | ns/op | throughput | B/op | allocs/op |\n|---|---|---:|---:|---:|---:|\n")
		for _, mb := range r.Micro {
			thr := "–"
			if v, ok := mb.Metrics["MB/s"]; ok {
				thr = fmt.Sprintf("%.0f MB/s", v)
			}
			if v, ok := mb.Metrics["frames/s"]; ok {
				thr = fmt.Sprintf("%.0f frames/s", v)
			}
			if v, ok := mb.Metrics["ns/viewer"]; ok {
				thr = fmt.Sprintf("%.0f ns/viewer", v)
			}
			p("| %s | %s | %.0f | %s | %.0f | %.0f |\n", mb.Package, strings.TrimPrefix(mb.Name, "Benchmark"),
				mb.Metrics["ns/op"], thr, mb.Metrics["B/op"], mb.Metrics["allocs/op"])
		}
	}
	if len(s.PushCost) > 0 {
		p("\n### 7. CPU added per push target at 1280x720, 30 fps\n\n")
		p("User+sys of the framecast server's process (role-pushcost, which writes its frames already in yuv420p: no conversion in the loop), in %% of one core: %.0f s with no push, then %.0f s with %d pushes of one protocol to receivers of their own on 127.0.0.1, after they connect and 2 s of warm-up; the difference divided by the pushes. The receivers' CPU is not counted. %s, %.0f s in all%s. The seed recipe serves RTSP only: it has no push to compare with.\n\n",
			r.Plan.PushMeasure.Seconds(), r.Plan.PushMeasure.Seconds(), r.Plan.PushTargets, plural(r.Plan.PushReps, "repeat"),
			r.PartSeconds["pushcost"], medianOf(r.Plan.PushReps))
		p("| protocol | receiver | pushes | server, no push | with the pushes | added per push target | goal | met | seed recipe | frames dropped |\n|---|---|---:|---:|---:|---:|---|---|---|---:|\n")
		for _, row := range s.PushCost {
			name, recv := strings.ToUpper(row.Protocol), cmp.Or(pushReceivers[row.Protocol], "–")
			goal := fmt.Sprintf("≤ %g %% of a core", pushGoal)
			if row.N == 0 {
				why := "failed: " + row.Error
				if row.Skipped != "" {
					why = "skipped: " + row.Skipped
				}
				p("| %s | %s | – | – | – | not measured (%s) | %s | n/a | no equivalent | – |\n", name, recv, cell(why, 300), goal)
				continue
			}
			p("| %s | %s | %d | %.2f %% | %.2f %% | **%.2f %%** of a core | %s | %s | no equivalent | %d |\n", name, recv, row.Targets,
				row.Base, row.With, row.PerTarget, goal, yesNo(row.PerTarget <= pushGoal), row.Dropped)
		}
		for _, row := range s.PushCost {
			if row.N > 0 && row.Error != "" {
				p("\n%s: %s failed: %s\n", strings.ToUpper(row.Protocol), plural(len(strings.Split(row.Error, "; ")), "repeat"), cell(row.Error, 300))
			}
		}
	}
	if len(r.HLS) > 0 {
		p("\n### 8. HLS latency at 1280x720, 30 fps\n\n")
		p("framecast and its web server in one process (role-hls), frames stamped and written through the Go API; each client in turn, on a muxer of its own. Latency: send stamp → frame decoded → stamp read back, over %.0f s from %.0f s after the client's first frame. First frame: from starting the client to its first decoded frame. One run, %.0f s in all. The seed recipe serves RTSP only: it has no HLS to compare with.\n\n",
			r.Plan.HLSMeasure.Seconds(), r.Plan.HLSWarmup.Seconds(), r.PartSeconds["hls"])
		p("| client | frames | first frame | p50 | p95 | max | goal | met (p50 / p95) | seed recipe |\n|---|---:|---:|---:|---:|---:|---|---|---|\n")
		goal := fmt.Sprintf("≤ %g s", hlsGoal/1000)
		for _, h := range r.HLS {
			name := cmp.Or(hlsClientNames[h.Client], h.Client)
			if h.Error != "" {
				p("| %s | not measured: %s | | | | | %s | n/a | no equivalent |\n", name, cell(h.Error, 300), goal)
				continue
			}
			p("| %s | %d | %.0f ms | **%.0f ms** | %.0f ms | %.0f ms | %s | %s / %s | no equivalent |\n", name, h.Frames, h.FirstFrame,
				h.P50, h.P95, h.Max, goal, yesNo(h.P50 <= hlsGoal), yesNo(h.P95 <= hlsGoal))
		}
	}
	if len(r.Shm) > 0 {
		shmMarkdown(&b, r)
	}
	if len(s.Targets) > 0 {
		p("\n### Targets\n\n| target | goal | measured | met |\n|---|---|---|---|\n")
		for _, t := range s.Targets {
			p("| %s | %s | %s | %s |\n", t.Name, t.Goal, t.Measured, t.Met)
		}
	}
	if len(r.Errors) > 0 {
		p("\n**Errors:**\n\n")
		for _, e := range r.Errors {
			p("- %s\n", e)
		}
	}
	return b.String()
}

var joinViewerNames = map[string]string{
	viewerFFmpegBuffered: "ffmpeg, fast start",
	viewerFFmpeg:         "ffmpeg, fast start + -fflags nobuffer",
	viewerGStreamer:      "GStreamer, rtspsrc latency=0",
}

// cell makes s fit in a Markdown table cell of at most n bytes.
func cell(s string, n int) string {
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, "|", "/")), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// medianOf says what the push table's figures are over reps repeats.
func medianOf(reps int) string {
	if reps > 1 {
		return "; medians of the repeats"
	}
	return ""
}

func dash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func ratioCell(v float64) string {
	if v <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f ×", v)
}

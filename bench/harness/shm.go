package main

// The shm part: issue 15's targets for the shared-memory ingest, measured
// side by side in one run, with bgr24 frames of the harness's ring sent
// from Python (bench/python/fc_publish.py):
//
//  1. ingest alone: 1080p30 with nobody watching (framecast's default, no
//     conversion or encoding without a viewer), through the Unix socket
//     (write()), through the ring with write() (one copy into a slot), and
//     with frame()/commit() (the frame only stamped into the slot's view:
//     the zero-copy figure);
//  2. one RTSP viewer over TCP at 720p30 and 1080p30: framecast with the
//     Python producer on the ring (write()) against the seed recipe;
//  3. the most frames/s at 1080p from Python on the ring (write()) against
//     the Go publisher package on the ring (role-gopub -shm, WriteFrame: one
//     copy too), the target's reference, and the Go API in the server's
//     process (no ingest at all), each with one viewer and the encoder's
//     back-pressure (--when-full block), as section 1 measures;
//  4. 4K30 from Python on the ring (write()) with one viewer: the frames the
//     server took, dropped and encoded, from its stream's counters.
//
// The Python producer draws nothing: write() copies the pre-drawn ring
// frame, as the seed recipe's producer does (frame.tobytes()), so that the
// systems encode the same moving picture. frame()/commit() is measured only
// where nothing is encoded (1.), since its slots keep the picture drawn in
// them before (a program drawing with OpenCV into the view pays its drawing
// either way).

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// The cases of the shm part.
const (
	shmIdle   = "idle"   // 1080p30, nobody watching: ingest alone
	shmViewer = "viewer" // 30 fps, one viewer: against the seed recipe
	shmMax    = "max"    // 1080p as fast as taken: against the Go publisher on the ring, and the Go API
	shm4K     = "4k"     // 2160p30, one viewer: sustained or not
)

// shmCase is one measurement of the part.
type shmCase struct {
	Case   string
	System string
	Size   size
	Rate   float64 // frames/s asked of the producer; 0: as fast as taken
	Viewer bool    // one TCP viewer (bench/loadclient)
	Opts   sysOptions
}

// shmCases are the part's measurements, in groups measured back to back.
var shmCases = [][]shmCase{
	{
		{shmIdle, sysPyIngest, size1080, 30, false, sysOptions{idle: true}},
		{shmIdle, sysPyShmWrite, size1080, 30, false, sysOptions{idle: true}},
		{shmIdle, sysPyShmFrame, size1080, 30, false, sysOptions{idle: true}},
	},
	{
		{shmViewer, sysPyShmWrite, size720, 30, true, sysOptions{}},
		{shmViewer, sysSeed, size720, 30, true, sysOptions{}},
	},
	{
		{shmViewer, sysPyShmWrite, size1080, 30, true, sysOptions{}},
		{shmViewer, sysSeed, size1080, 30, true, sysOptions{}},
	},
	{
		{shmMax, sysPyShmWrite, size1080, 0, true, sysOptions{block: true}},
		{shmMax, sysGoShm, size1080, 0, true, sysOptions{block: true}},
		{shmMax, sysGoAPI, size1080, 0, true, sysOptions{block: true}},
	},
	{
		{shm4K, sysPyShmWrite, size2160, 30, true, sysOptions{mmapRing: true}},
	},
}

// shmRefs are the system each case's ratio is against.
var shmRefs = map[string]string{shmIdle: sysPyIngest, shmViewer: sysSeed, shmMax: sysGoShm}

// shmSample is one measurement of the shm part.
type shmSample struct {
	Case        string             `json:"case"`
	System      string             `json:"system"`
	Size        string             `json:"size"`
	Rep         int                `json:"rep"`
	Rate        float64            `json:"rate"` // frames/s asked; 0: as fast as taken
	Viewers     int                `json:"viewers"`
	Seconds     float64            `json:"seconds"`                 // the window
	Cores       float64            `json:"cores"`                   // producer + server, user+sys, in cores
	CoresByProc map[string]float64 `json:"cores_by_proc,omitempty"` // the same, per process
	FPS         float64            `json:"fps,omitempty"`           // frames/s the viewer got
	Lost        uint64             `json:"lost,omitempty"`          // RTP packets the viewer lost
	Ended       int                `json:"ended,omitempty"`         // viewers whose session ended in the window
	// Window is the server's stream counters over the window (framecast
	// only); InFPS and EncodedFPS are its frames in and encoded a second.
	Window     *streamCounters   `json:"window,omitempty"`
	InFPS      float64           `json:"in_fps,omitempty"`
	EncodedFPS float64           `json:"encoded_fps,omitempty"`
	Sent       int               `json:"sent,omitempty"`      // frames the producer sent in all
	ServerIn   int               `json:"server_in,omitempty"` // frames the server took in all
	Stats      map[string]string `json:"stats,omitempty"`
	Error      string            `json:"error,omitempty"`
}

// shm runs the part: every case, even after one fails (its sample says
// why), each group's systems alternating from one repeat to the next.
func (e *env) shm() ([]shmSample, error) {
	var out []shmSample
	var errs []error
	for rep := range e.plan.ShmReps {
		for _, group := range shmCases {
			for i := range group {
				c := group[(i+rep)%len(group)]
				s, err := e.shmOnce(c)
				s.Rep = rep
				if err != nil {
					s.Error = err.Error()
					errs = append(errs, fmt.Errorf("shm %s %s %v: %w", c.Case, c.System, c.Size, err))
					e.logf("shm %-6s %-16s %-9v rep %d: %v", c.Case, c.System, c.Size, rep, err)
				} else {
					e.logf("shm %-6s %-16s %-9v rep %d: %.3f cores %v; viewer %.1f frames/s; server in %.1f, encoded %.1f frames/s, window %+v",
						c.Case, c.System, c.Size, rep, s.Cores, s.CoresByProc, s.FPS, s.InFPS, s.EncodedFPS, s.Window)
				}
				out = append(out, s)
			}
		}
	}
	return out, errors.Join(errs...)
}

func (e *env) shmOnce(c shmCase) (s shmSample, err error) {
	s = shmSample{Case: c.Case, System: c.System, Size: c.Size.String(), Rate: c.Rate, CoresByProc: map[string]float64{}}
	r, err := e.startSystemWith(c.System, c.Size, c.Rate, c.Opts)
	if err != nil {
		return s, err
	}
	defer func() {
		s.Stats = r.stop()
		s.Sent, s.ServerIn = statsCount(s.Stats["producer"], "sent"), statsCount(s.Stats["framecast"], "frames_in")
	}()
	var v *viewers
	if c.Viewer {
		if v, err = e.startViewers(r.url, 1, "tcp", 20*time.Second); err != nil {
			return s, err
		}
		defer v.stop()
		if v.ready.Playing != 1 {
			return s, fmt.Errorf("viewer did not play: %s", v.ready.FirstError)
		}
		s.Viewers = 1
	}
	time.Sleep(e.plan.ShmWarmup)
	server := r.procs[0]
	counted := c.System != sysSeed // the seed recipe has no counters to ask
	var c0 streamCounters
	if counted {
		if c0, err = askStream(server); err != nil {
			return s, err
		}
	}
	cpu, err := startCPU(r.pids()...)
	if err != nil {
		return s, err
	}
	if v != nil {
		if err := v.mark(); err != nil {
			return s, err
		}
	}
	t0 := time.Now()
	window := e.plan.ShmMeasure
	if c.Case == shmMax {
		window = e.plan.ShmMaxMeasure
	}
	time.Sleep(window)
	cores, err := cpu.cores()
	if err != nil {
		return s, err
	}
	s.Seconds = time.Since(t0).Seconds()
	for i, p := range r.procs {
		s.CoresByProc[p.name] += cores[i]
		s.Cores += cores[i]
	}
	if counted {
		c1, err := askStream(server)
		if err != nil {
			return s, err
		}
		w := c1.minus(c0)
		s.Window = &w
		s.InFPS = float64(w.FramesIn) / s.Seconds
		s.EncodedFPS = float64(w.Encoded) / s.Seconds
	}
	if v != nil {
		rep, err := v.report()
		if err != nil {
			return s, err
		}
		s.FPS = float64(rep.Frames) / rep.Seconds
		s.Lost, s.Ended = rep.Lost, rep.Ended
	}
	return s, nil
}

// streamCounters are a framecast stream's counters, from role-framecast's
// STREAM line.
type streamCounters struct {
	FramesIn    uint64 `json:"frames_in"`
	Encoded     uint64 `json:"encoded"`
	Dropped     uint64 `json:"dropped"`
	Skipped     uint64 `json:"skipped"`
	Refused     uint64 `json:"refused"`
	Viewers     int    `json:"viewers"`      // playing now
	SlowViewers uint64 `json:"slow_viewers"` // disconnected for not reading fast enough, since the start
}

// minus is c less an earlier reading b: what happened between them, but
// for the viewers playing and the slow viewers, which are c's.
func (c streamCounters) minus(b streamCounters) streamCounters {
	return streamCounters{FramesIn: c.FramesIn - b.FramesIn, Encoded: c.Encoded - b.Encoded, Dropped: c.Dropped - b.Dropped,
		Skipped: c.Skipped - b.Skipped, Refused: c.Refused - b.Refused, Viewers: c.Viewers, SlowViewers: c.SlowViewers}
}

// askStream asks role-framecast for its stream's counters.
func askStream(p *proc) (streamCounters, error) {
	if err := p.send("stats"); err != nil {
		return streamCounters{}, fmt.Errorf("%s: ask for stats: %w", p.name, err)
	}
	line, err := p.expect("STREAM ", 5*time.Second)
	if err != nil {
		return streamCounters{}, err
	}
	c, ok, err := parseStreamLine("STREAM " + line)
	if err == nil && !ok {
		err = fmt.Errorf("%s has no stream /bench", p.name)
	}
	return c, err
}

// parseStreamLine reads a STREAM line (streamLine): ok is false for a
// line that is not one, or that says the path has no stream.
func parseStreamLine(line string) (c streamCounters, ok bool, err error) {
	rest, found := strings.CutPrefix(line, "STREAM ")
	if !found {
		return c, false, nil
	}
	f, err := parseFields(rest)
	if err != nil {
		return c, false, fmt.Errorf("STREAM line %q: %w", line, err)
	}
	if f["path"] == "" {
		return c, false, fmt.Errorf("STREAM line %q: no path", line)
	}
	if strings.HasSuffix(rest, " none") {
		return c, false, nil
	}
	var errs []error
	count := func(key string) uint64 {
		n := f.integer(key, &errs)
		if n < 0 {
			errs = append(errs, fmt.Errorf("%s: %d is negative", key, n))
			return 0
		}
		return uint64(n)
	}
	c = streamCounters{FramesIn: count("frames_in"), Encoded: count("encoded"), Dropped: count("dropped"),
		Skipped: count("skipped"), Refused: count("refused"), Viewers: f.integer("viewers", &errs),
		SlowViewers: count("slow_viewers")}
	if err := errors.Join(errs...); err != nil {
		return streamCounters{}, false, fmt.Errorf("STREAM line %q: %w", line, err)
	}
	return c, true, nil
}

// statsCount is the integer key of a STATS payload (JSON), 0 if none.
func statsCount(payload, key string) int {
	var m map[string]any
	if jsonUnmarshal(payload, &m) != nil {
		return 0
	}
	v, _ := m[key].(float64)
	return int(v)
}

// shmRow is a system's figures in one case of the shm part: medians over
// the repeats measured, the ratio to the case's reference taken repeat by
// repeat before its median.
type shmRow struct {
	Case          string  `json:"case"`
	System        string  `json:"system"`
	Size          string  `json:"size"`
	N             int     `json:"n"`
	Cores         float64 `json:"cores"`
	ProducerCores float64 `json:"producer_cores"`
	ServerCores   float64 `json:"server_cores"`
	FPS           float64 `json:"fps,omitempty"`
	InFPS         float64 `json:"in_fps,omitempty"`
	EncodedFPS    float64 `json:"encoded_fps,omitempty"`
	FramesIn      uint64  `json:"frames_in,omitempty"`    // over the windows
	Dropped       uint64  `json:"dropped,omitempty"`      // over the windows
	SlowViewers   uint64  `json:"slow_viewers,omitempty"` // viewers the server dropped as too slow, over the runs
	Sent          int     `json:"sent,omitempty"`         // frames the producer sent, over the runs
	ServerIn      int     `json:"server_in,omitempty"`    // of which the server took, over the runs
	Ended         int     `json:"viewers_ended,omitempty"`
	Vs            float64 `json:"vs,omitempty"`        // against shmRefs[Case]: cores, or frames/s for shmMax
	VsGoAPI       float64 `json:"vs_go_api,omitempty"` // shmMax: frames/s against the Go API in the server's process
	Error         string  `json:"error,omitempty"`     // of the repeats that failed
}

// summarizeShm makes the shm part's rows, in the order of shmCases.
func summarizeShm(samples []shmSample) []shmRow {
	type key struct{ c, sys, sz string }
	by := map[key]map[int]shmSample{}
	for _, s := range samples {
		k := key{s.Case, s.System, s.Size}
		if by[k] == nil {
			by[k] = map[int]shmSample{}
		}
		by[k][s.Rep] = s
	}
	value := func(s shmSample) float64 {
		if s.Case == shmMax {
			return s.FPS
		}
		return s.Cores
	}
	var out []shmRow
	for _, group := range shmCases {
		for _, c := range group {
			k := key{c.Case, c.System, c.Size.String()}
			m := by[k]
			if len(m) == 0 {
				continue
			}
			row := shmRow{Case: c.Case, System: c.System, Size: k.sz}
			var cores, prod, srv, fps, in, enc, vs, vsAPI []float64
			var errs []string
			for rep, s := range m {
				if s.Error != "" {
					errs = append(errs, s.Error)
					continue
				}
				row.N++
				cores = append(cores, s.Cores)
				p, sv := splitCores(s)
				prod, srv = append(prod, p), append(srv, sv)
				fps, in, enc = append(fps, s.FPS), append(in, s.InFPS), append(enc, s.EncodedFPS)
				if s.Window != nil {
					row.FramesIn += s.Window.FramesIn
					row.Dropped += s.Window.Dropped
					row.SlowViewers += s.Window.SlowViewers
				}
				row.Ended += s.Ended
				row.Sent += s.Sent
				row.ServerIn += s.ServerIn
				ref, ok := by[key{c.Case, shmRefs[c.Case], k.sz}][rep]
				if ok && c.System != shmRefs[c.Case] && ref.Error == "" && value(ref) > 0 {
					vs = append(vs, value(s)/value(ref))
				}
				api, ok := by[key{c.Case, sysGoAPI, k.sz}][rep]
				if ok && c.Case == shmMax && c.System != sysGoAPI && api.Error == "" && api.FPS > 0 {
					vsAPI = append(vsAPI, s.FPS/api.FPS)
				}
			}
			row.Error = strings.Join(errs, "; ")
			if row.N > 0 {
				row.Cores, row.ProducerCores, row.ServerCores = median(cores), median(prod), median(srv)
				row.FPS, row.InFPS, row.EncodedFPS = median(fps), median(in), median(enc)
				row.Vs, row.VsGoAPI = nan0(median(vs)), nan0(median(vsAPI))
			}
			out = append(out, row)
		}
	}
	return out
}

// splitCores is a sample's cores of its producer and of its server; a
// system in one process (the seed recipe, the Go API) is all server.
func splitCores(s shmSample) (producer, server float64) {
	producer = s.CoresByProc["producer"]
	return producer, s.Cores - producer
}

func (s *summary) shmRow(c, sys, sz string) *shmRow {
	for i := range s.Shm {
		if r := &s.Shm[i]; r.Case == c && r.System == sys && r.Size == sz {
			return r
		}
	}
	return nil
}

// The goals for the shared-memory ingest.
const (
	shmIdleGoal   = 0.35 // ingest CPU against the socket's, at most
	shmViewerGoal = 0.8  // CPU with a viewer against the seed recipe's, at most
	shmMaxGoal    = 0.95 // frames/s against the Go API's, at least
	// shm4KSustained is the share of 30 frames/s the server must take in
	// the window for 4K30 to count as sustained (with no frame dropped).
	shm4KSustained = 0.97
)

// shmTargets are the shm part's rows of the Targets table.
func shmTargets(s *summary) []target {
	var out []target
	big := size1080.String()
	socket := s.shmRow(shmIdle, sysPyIngest, big)
	for _, c := range []struct{ sys, name string }{
		{sysPyShmWrite, "write() (one copy)"},
		{sysPyShmFrame, "frame()/commit() (zero copy)"},
	} {
		name := "ingest CPU, 1080p30 from Python, nobody watching, shared memory " + c.name
		goal := fmt.Sprintf("≤ %.2f × Unix socket", shmIdleGoal)
		row := s.shmRow(shmIdle, c.sys, big)
		if row == nil || row.N == 0 || socket == nil || socket.N == 0 || row.Vs <= 0 {
			out = append(out, target{name, goal, notMeasured(row, socket), "n/a"})
			continue
		}
		out = append(out, target{name, goal, fmt.Sprintf("%.2f × (%.3f vs %.3f cores)", row.Vs, row.Cores, socket.Cores),
			yesNo(row.Vs <= shmIdleGoal)})
	}
	for _, sz := range []size{size720, size1080} {
		name := fmt.Sprintf("CPU with one viewer at %s30, shared memory from Python", sz.label())
		goal := fmt.Sprintf("≤ %.1f × seed recipe", shmViewerGoal)
		row, seed := s.shmRow(shmViewer, sysPyShmWrite, sz.String()), s.shmRow(shmViewer, sysSeed, sz.String())
		if row == nil || row.N == 0 || seed == nil || seed.N == 0 || row.Vs <= 0 {
			out = append(out, target{name, goal, notMeasured(row, seed), "n/a"})
			continue
		}
		out = append(out, target{name, goal, fmt.Sprintf("%.2f × (%.3f vs %.3f cores)", row.Vs, row.Cores, seed.Cores),
			yesNo(row.Vs <= shmViewerGoal)})
	}
	{
		name := "max frames/s from Python at 1080p, shared memory"
		goal := fmt.Sprintf("≥ %.2f × Go publisher, shared memory", shmMaxGoal)
		row, gopub, api := s.shmRow(shmMax, sysPyShmWrite, big), s.shmRow(shmMax, sysGoShm, big), s.shmRow(shmMax, sysGoAPI, big)
		if row == nil || row.N == 0 || gopub == nil || gopub.N == 0 || row.Vs <= 0 {
			out = append(out, target{name, goal, notMeasured(row, gopub), "n/a"})
		} else {
			m := fmt.Sprintf("%.2f × (%.0f vs %.0f frames/s)", row.Vs, row.FPS, gopub.FPS)
			if api != nil && row.VsGoAPI > 0 {
				m += fmt.Sprintf("; %.2f × the Go API in the server's process (%.0f)", row.VsGoAPI, api.FPS)
			}
			out = append(out, target{name, goal, m, yesNo(row.Vs >= shmMaxGoal)})
		}
	}
	name, goal := "4K30 bgr24 from Python, shared memory, one viewer", shm4KGoal()
	if row := s.shmRow(shm4K, sysPyShmWrite, size2160.String()); row == nil || row.N == 0 {
		out = append(out, target{name, goal, notMeasured(row, nil), "n/a"})
	} else {
		out = append(out, target{name, goal, describe4K(row), yesNo(sustained4K(row))})
	}
	return out
}

// sustained4K says whether the server took 4K at 30 frames/s, dropped
// none, and kept its viewer.
func sustained4K(r *shmRow) bool {
	return r.InFPS >= shm4KSustained*30 && r.Dropped == 0 && r.SlowViewers == 0 && r.Ended == 0
}

func describe4K(r *shmRow) string {
	return fmt.Sprintf("server took %.1f frames/s (%s), dropped %d of %d, encoded %.1f frames/s; viewer %s",
		r.InFPS, sentTaken(r), r.Dropped, r.FramesIn, r.EncodedFPS, viewer4K(r))
}

// sentTaken is the frames the producer sent and the server took, in all.
func sentTaken(r *shmRow) string {
	return fmt.Sprintf("%d of %d sent in all", r.ServerIn, r.Sent)
}

func shm4KGoal() string {
	return fmt.Sprintf("sustained (≥ %.0f frames/s taken), no frame dropped, the viewer kept", shm4KSustained*30)
}

// viewer4K is what the 4K viewer got, and whether the server dropped it.
func viewer4K(r *shmRow) string {
	v := fmt.Sprintf("%.1f frames/s", r.FPS)
	if r.SlowViewers > 0 {
		v += " (disconnected by the server as too slow: its write queue was full)"
	} else if r.Ended > 0 {
		v += " (its session ended)"
	}
	return v
}

// notMeasured says why a target has no figure: the error of its row or of
// its reference's, if one failed.
func notMeasured(rows ...*shmRow) string {
	for _, r := range rows {
		if r != nil && r.N == 0 && r.Error != "" {
			return "not measured: " + cell(r.Error, 200)
		}
	}
	return "not measured"
}

// shmMarkdown renders the shm part's section.
func shmMarkdown(b *strings.Builder, r *results) {
	s := &r.Summary
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("\n### 9. Shared-memory ingest from Python (issue 15)\n\n")
	p("bgr24 frames of the harness's ring sent by framecast.Publisher (bench/python/fc_publish.py) over the Unix socket, or through the shared-memory ring: write() copies each pre-drawn frame once into a slot; frame()/commit() stamps it straight into the slot's view, no copy (a program drawing with OpenCV into the view draws there instead of into its own array). CPU is user+sys of producer and server, in cores, over %.0f s after %.0f s of warm-up (%.0f s for the maximum rate); frames/s are the server's own counters (frames in, encoded, dropped) and the viewer's (bench/loadclient, RTSP over TCP, not counted in the CPU). %s, %.0f s in all.\n\n",
		r.Plan.ShmMeasure.Seconds(), r.Plan.ShmWarmup.Seconds(), r.Plan.ShmMaxMeasure.Seconds(), plural(r.Plan.ShmReps, "repeat"), r.PartSeconds["shm"])
	big := size1080.String()

	p("Ingest alone: 1920x1080 at 30 fps, nobody watching (framecast's default: frames kept, not converted or encoded, until a viewer comes).\n\n")
	p("| producer → server | server took | producer cores | server cores | producer + server | vs socket | goal | met | seed recipe |\n|---|---:|---:|---:|---:|---:|---|---|---|\n")
	for _, sys := range []string{sysPyIngest, sysPyShmWrite, sysPyShmFrame} {
		row := s.shmRow(shmIdle, sys, big)
		name := shmIdleNames[sys]
		goal, met, vs := fmt.Sprintf("≤ %.2f × socket", shmIdleGoal), "n/a", "–"
		if sys == sysPyIngest {
			goal, met, vs = "(the reference)", "–", "1"
		}
		switch {
		case row == nil:
			continue
		case row.N == 0:
			p("| %s | not measured: %s | | | | | %s | n/a | no equivalent |\n", name, cell(row.Error, 300), goal)
			continue
		case sys != sysPyIngest && row.Vs > 0:
			vs, met = fmt.Sprintf("%.2f ×", row.Vs), yesNo(row.Vs <= shmIdleGoal)
		}
		p("| %s | %.1f frames/s | %.3f | %.3f | **%.3f** | %s | %s | %s | no equivalent |\n", name, row.InFPS,
			row.ProducerCores, row.ServerCores, row.Cores, vs, goal, met)
	}
	p("\nThe seed recipe has no ingest to compare: its producer is in the server's process, which runs no pipeline while nobody watches.\n")

	p("\nOne viewer at 30 fps: framecast with the Python producer on the shared-memory ring (write()), against the seed recipe; each system's producer copies the pre-drawn frame once.\n\n")
	p("| size | framecast: producer + server cores | server cores | viewer frames/s | seed recipe: cores | viewer frames/s | vs seed | goal | met |\n|---|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, sz := range []size{size720, size1080} {
		row, seed := s.shmRow(shmViewer, sysPyShmWrite, sz.String()), s.shmRow(shmViewer, sysSeed, sz.String())
		if row == nil && seed == nil {
			continue
		}
		goal := fmt.Sprintf("≤ %.1f × seed", shmViewerGoal)
		fc, fcSrv, fcFPS := shmCells(row, func(r *shmRow) string { return fmt.Sprintf("**%.3f**", r.Cores) }), "–", "–"
		if row != nil && row.N > 0 {
			fcSrv, fcFPS = fmt.Sprintf("%.3f", row.ServerCores), fmt.Sprintf("%.1f", row.FPS)
		}
		sd, sdFPS := shmCells(seed, func(r *shmRow) string { return fmt.Sprintf("%.3f", r.Cores) }), "–"
		if seed != nil && seed.N > 0 {
			sdFPS = fmt.Sprintf("%.1f", seed.FPS)
		}
		vs, met := "–", "n/a"
		if row != nil && row.Vs > 0 {
			vs, met = fmt.Sprintf("%.2f ×", row.Vs), yesNo(row.Vs <= shmViewerGoal)
		}
		p("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", sz, fc, fcSrv, fcFPS, sd, sdFPS, vs, goal, met)
	}

	if rows := []*shmRow{s.shmRow(shmMax, sysPyShmWrite, big), s.shmRow(shmMax, sysGoShm, big), s.shmRow(shmMax, sysGoAPI, big)}; rows[0] != nil || rows[1] != nil || rows[2] != nil {
		p("\nMost frames/s at 1920x1080 (fps 0: as fast as taken), one viewer, the encoder's back-pressure (--when-full block), as section 1 measures. The target's reference is the Go publisher package on the same ring doing the same work (WriteFrame copies the frame once into a slot); the Go API writes from the server's own process, with no ingest at all.\n\n")
		p("| producer | frames/s | producer cores | server cores | vs Go publisher, shared memory | vs Go API | goal | met | seed recipe |\n|---|---:|---:|---:|---:|---:|---|---|---|\n")
		seed := "not measured in this run (section 1 measures it)"
		if t := s.tp(sysSeed, big); t != nil {
			seed = fmt.Sprintf("%.0f frames/s (section 1)", t.FPS)
		}
		goal := fmt.Sprintf("≥ %.2f × Go publisher", shmMaxGoal)
		for i, sys := range []string{sysPyShmWrite, sysGoShm, sysGoAPI} {
			row := rows[i]
			name := shmMaxNames[sys]
			if row == nil {
				continue
			}
			g, met, sd := "–", "–", ""
			if sys == sysPyShmWrite {
				g, met, sd = goal, "n/a", seed
			}
			if row.N == 0 {
				p("| %s | not measured: %s | | | | | %s | %s | %s |\n", name, cell(row.Error, 300), g, met, sd)
				continue
			}
			vs, vsAPI, prod := "–", "–", "–"
			switch {
			case sys == sysGoShm:
				vs = "(the reference)"
			case row.Vs > 0:
				vs = fmt.Sprintf("%.2f ×", row.Vs)
				if sys == sysPyShmWrite {
					met = yesNo(row.Vs >= shmMaxGoal)
				}
			}
			if sys != sysGoAPI && row.VsGoAPI > 0 {
				vsAPI = fmt.Sprintf("%.2f ×", row.VsGoAPI)
			}
			if sys != sysGoAPI {
				prod = fmt.Sprintf("%.2f", row.ProducerCores)
			}
			p("| %s | **%.0f** | %s | %.2f | %s | %s | %s | %s | %s |\n", name, row.FPS, prod, row.ServerCores, vs, vsAPI, g, met, sd)
		}
	}
	if row := s.shmRow(shm4K, sysPyShmWrite, size2160.String()); row != nil {
		p("\n3840x2160 at 30 fps from Python on the shared-memory ring (write()), one viewer, --when-full drop-oldest (the default): the server's counters over the window (frames in, dropped, encoded), and the frames it took of those the producer sent from start to end.\n\n")
		p("| asked | server took | dropped | encoded | viewer | producer cores | server cores | goal | met | seed recipe |\n|---|---:|---:|---:|---|---:|---:|---|---|---|\n")
		goal := shm4KGoal()
		if row.N == 0 {
			p("| 30 frames/s | not measured: %s | | | | | | %s | n/a | not measured |\n", cell(row.Error, 300), goal)
		} else {
			p("| 30 frames/s | **%.1f** frames/s (%s) | %d of %d | %.1f frames/s | %s | %.2f | %.2f | %s | %s | not measured |\n",
				row.InFPS, sentTaken(row), row.Dropped, row.FramesIn, row.EncodedFPS, viewer4K(row), row.ProducerCores, row.ServerCores, goal, yesNo(sustained4K(row)))
		}
	}
	for _, row := range s.Shm {
		if row.N > 0 && row.Error != "" {
			p("\n%s, %s %s: %s failed: %s\n", systemNames[row.System], row.Case, row.Size,
				plural(len(strings.Split(row.Error, "; ")), "repeat"), cell(row.Error, 300))
		}
	}
}

// shmIdleNames name the producers of the ingest-alone table.
var shmIdleNames = map[string]string{
	sysPyIngest:   "Unix socket, write()",
	sysPyShmWrite: "shared memory, write() (one copy)",
	sysPyShmFrame: "shared memory, frame()/commit() (zero copy: stamped in the slot)",
}

// shmMaxNames name the producers of the maximum-rate table.
var shmMaxNames = map[string]string{
	sysPyShmWrite: "Python, shared memory, write() (one copy)",
	sysGoShm:      "Go publisher, shared memory, WriteFrame (one copy)",
	sysGoAPI:      "Go API, in the server's process",
}

// shmCells is f of a measured row, or why it was not measured.
func shmCells(r *shmRow, f func(*shmRow) string) string {
	switch {
	case r == nil:
		return "not measured"
	case r.N == 0:
		return "not measured: " + cell(r.Error, 200)
	}
	return f(r)
}

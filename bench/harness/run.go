package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/framecast/framecast/bench"
)

// plan is what a run measures and for how long. fullPlan fits make bench's
// 15 minutes on two cores; quickPlan is for trying the harness out.
type plan struct {
	Reps           int           `json:"reps"`
	Sizes          []size        `json:"-"`
	SizeNames      []string      `json:"sizes"`
	TPWarmup       time.Duration `json:"throughput_warmup_ns"`
	TPMeasure      time.Duration `json:"throughput_measure_ns"`
	LatWarmup      time.Duration `json:"latency_warmup_ns"`
	LatMeasure     time.Duration `json:"latency_measure_ns"`
	LatGstMeasure  time.Duration `json:"latency_gstreamer_measure_ns"`
	Joins          int           `json:"joins_per_system"`
	JoinsNobuffer  int           `json:"joins_nobuffer_per_system"`
	FanSteps       []int         `json:"fanout_steps"`
	FanBaseHold    time.Duration `json:"fanout_baseline_hold_ns"`
	FanHold        time.Duration `json:"fanout_hold_ns"`
	FanHoldTop     time.Duration `json:"fanout_top_step_hold_ns"`      // framecast over TCP: the target's step
	FanHoldTopRest time.Duration `json:"fanout_top_step_hold_rest_ns"` // the others
	MicroBenchtime string        `json:"micro_benchtime"`
	PushTargets    int           `json:"push_targets"` // pushes of one protocol at once
	PushMeasure    time.Duration `json:"push_measure_ns"`
	PushReps       int           `json:"push_reps"`
	HLSWarmup      time.Duration `json:"hls_warmup_ns"` // from a client's first frame to its window
	HLSMeasure     time.Duration `json:"hls_measure_ns"`
	ShmReps        int           `json:"shm_reps"`
	ShmWarmup      time.Duration `json:"shm_warmup_ns"`
	ShmMeasure     time.Duration `json:"shm_measure_ns"`
	ShmMaxMeasure  time.Duration `json:"shm_max_measure_ns"` // the maximum-rate window
}

var fullPlan = plan{
	Reps:           3,
	Sizes:          []size{size480, size720, size1080},
	TPWarmup:       time.Second,
	TPMeasure:      2500 * time.Millisecond,
	LatWarmup:      1500 * time.Millisecond,
	LatMeasure:     6 * time.Second,
	LatGstMeasure:  3 * time.Second,
	Joins:          21,
	JoinsNobuffer:  6,
	FanSteps:       []int{100, 400, 1000},
	FanBaseHold:    5 * time.Second,
	FanHold:        10 * time.Second,
	FanHoldTop:     30 * time.Second,
	FanHoldTopRest: 15 * time.Second,
	MicroBenchtime: "300ms",
	PushTargets:    2,
	PushMeasure:    5 * time.Second,
	PushReps:       1,
	HLSWarmup:      3 * time.Second,
	HLSMeasure:     10 * time.Second,
	ShmReps:        1,
	ShmWarmup:      time.Second,
	ShmMeasure:     4 * time.Second,
	ShmMaxMeasure:  3 * time.Second,
}

var quickPlan = plan{
	Reps:           1,
	Sizes:          []size{size480, size1080},
	TPWarmup:       time.Second,
	TPMeasure:      2 * time.Second,
	LatWarmup:      time.Second,
	LatMeasure:     3 * time.Second,
	LatGstMeasure:  2 * time.Second,
	Joins:          4,
	JoinsNobuffer:  2,
	FanSteps:       []int{50, 200},
	FanBaseHold:    2 * time.Second,
	FanHold:        3 * time.Second,
	FanHoldTop:     3 * time.Second,
	FanHoldTopRest: 3 * time.Second,
	MicroBenchtime: "100ms",
	PushTargets:    2,
	PushMeasure:    3 * time.Second,
	PushReps:       1,
	HLSWarmup:      2 * time.Second,
	HLSMeasure:     5 * time.Second,
	ShmReps:        1,
	ShmWarmup:      time.Second,
	ShmMeasure:     2 * time.Second,
	ShmMaxMeasure:  2 * time.Second,
}

// env is what the scenarios share: where things are, and the rings drawn.
type env struct {
	plan       plan
	root       string // the repository
	tmp        string // rings, sockets, binaries; removed at the end
	self       string // this harness's executable, run again for roles
	loadclient string
	python     string
	rings      map[size]string
	refs       map[size]*reference
	nsock      int
	start      time.Time
}

func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%5.0fs] %s\n", time.Since(e.start).Seconds(), fmt.Sprintf(format, args...))
}

// ring returns the ring file of sz, drawing it the first time.
func (e *env) ring(sz size) (string, error) {
	if p, ok := e.rings[sz]; ok {
		return p, nil
	}
	p := filepath.Join(e.tmp, "ring-"+sz.String()+".bgr")
	if err := bench.WriteRing(p, sz.W, sz.H); err != nil {
		return "", err
	}
	e.rings[sz] = p
	return p, nil
}

// reference returns the luma of sz's ring, to check decoded pictures.
func (e *env) reference(sz size) (*reference, error) {
	if r, ok := e.refs[sz]; ok {
		return r, nil
	}
	p, err := e.ring(sz)
	if err != nil {
		return nil, err
	}
	ring, err := bench.ReadRing(p, sz.W, sz.H)
	if err != nil {
		return nil, err
	}
	r, err := newReference(ring, sz)
	if err != nil {
		return nil, err
	}
	e.refs[sz] = r
	return r, nil
}

// results is what bench/results/DATE.json holds.
type results struct {
	Date       string        `json:"date"`
	Machine    machine       `json:"machine"`
	Plan       plan          `json:"plan"`
	Throughput []tpSample    `json:"throughput,omitempty"`
	CPULatency []latSample   `json:"cpu_latency,omitempty"`
	Join       []joinSample  `json:"late_join,omitempty"`
	FanOut     []fanStep     `json:"fanout,omitempty"`
	Micro      []microResult `json:"micro,omitempty"`
	PushCost   []pushSample  `json:"push_cost,omitempty"`
	HLS        []hlsSample   `json:"hls_latency,omitempty"`
	Shm        []shmSample   `json:"shm,omitempty"`
	Summary    summary       `json:"summary"`
	Errors     []string      `json:"errors,omitempty"`
	Seconds    float64       `json:"seconds"`
	// PartSeconds is how long each part of the run took, by name.
	PartSeconds map[string]float64 `json:"part_seconds,omitempty"`
}

var allParts = []string{"micro", "throughput", "latency", "join", "fanout", "pushcost", "hls", "shm"}

// pythonParts are the parts that run the seed recipe or framecast's Python
// publisher, and so need findPython's Python.
var pythonParts = []string{"throughput", "latency", "join", "fanout", "shm"}

func run(args []string) error {
	fs := flag.NewFlagSet("harness", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "a short run with fewer sizes, repeats and viewers, to try the harness")
	only := fs.String("only", strings.Join(allParts, ","), "parts to run, comma-separated: "+strings.Join(allParts, ", "))
	out := fs.String("out", "bench/results", "directory for DATE.json (\"\" writes none)")
	root := fs.String("root", ".", "the framecast repository")
	doc := fs.String("doc", "", "also write the tables into this Markdown file, between its "+docBegin+" and "+docEnd+" lines (make bench: docs/benchmarks.md); a full run only")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench/harness [flags]\n\nRuns framecast's benchmarks and the systems it is compared with (docs/benchmarks.md),\nwrites DATE.json, prints Markdown tables and, with -doc, puts them in docs/benchmarks.md.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	parts := strings.Split(*only, ",")
	if *doc != "" && (*quick || len(parts) != len(allParts)) {
		return fmt.Errorf("-doc wants a full run (no -quick, no -only): the file shows every part")
	}
	for _, p := range parts {
		if !slices.Contains(allParts, p) {
			return fmt.Errorf("-only: unknown part %q (want %s)", p, strings.Join(allParts, ", "))
		}
	}
	e := &env{plan: fullPlan, rings: map[size]string{}, refs: map[size]*reference{}, start: time.Now()}
	if *quick {
		e.plan = quickPlan
	}
	for _, s := range e.plan.Sizes {
		e.plan.SizeNames = append(e.plan.SizeNames, s.String())
	}
	var err error
	if e.root, err = filepath.Abs(*root); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(e.root, "bench", "seed", "seed_server.py")); err != nil {
		return fmt.Errorf("-root %s is not the framecast repository: %w", e.root, err)
	}
	if e.self, err = os.Executable(); err != nil {
		return err
	}
	if e.tmp, err = os.MkdirTemp("", "framecast-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(e.tmp)
	if e.python, err = findPython(); err != nil {
		if slices.ContainsFunc(parts, func(p string) bool { return slices.Contains(pythonParts, p) }) {
			return err
		}
		e.logf("no Python for the seed recipe (no part of this run needs it)")
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return fmt.Errorf("ffmpeg is not installed (make deps installs it)")
	}
	e.loadclient = filepath.Join(e.tmp, "loadclient")
	build := exec.Command("go", "build", "-o", e.loadclient, "./bench/loadclient")
	build.Dir, build.Stderr = e.root, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build loadclient: %w", err)
	}

	res := &results{Date: time.Now().UTC().Format(time.RFC3339), Plan: e.plan, PartSeconds: map[string]float64{}}
	res.Machine = describeMachine(e)
	e.logf("machine: %s, %d cores, load %s; plan: %d repeats", res.Machine.CPU, res.Machine.Cores, res.Machine.LoadBefore, e.plan.Reps)
	fail := func(part string, err error) {
		e.logf("%s: %v", part, err)
		res.Errors = append(res.Errors, part+": "+err.Error())
	}
	for _, part := range parts {
		t0 := time.Now()
		switch part {
		case "micro":
			r, err := e.micro()
			res.Micro = r
			if err != nil {
				fail(part, err)
			}
		case "throughput":
			r, err := e.throughput()
			res.Throughput = r
			if err != nil {
				fail(part, err)
			}
		case "latency":
			r, err := e.cpuLatency()
			res.CPULatency = r
			if err != nil {
				fail(part, err)
			}
		case "join":
			r, err := e.lateJoin()
			res.Join = r
			if err != nil {
				fail(part, err)
			}
		case "fanout":
			r, err := e.fanOut()
			res.FanOut = r
			if err != nil {
				fail(part, err)
			}
		case "pushcost":
			r, err := e.pushCost()
			res.PushCost = r
			if err != nil {
				fail(part, err)
			}
		case "hls":
			r, err := e.hlsLatency()
			res.HLS = r
			if err != nil {
				fail(part, err)
			}
		case "shm":
			r, err := e.shm()
			res.Shm = r
			if err != nil {
				fail(part, err)
			}
		}
		res.PartSeconds[part] = time.Since(t0).Seconds()
		e.logf("%s: %.0f s", part, res.PartSeconds[part])
	}
	res.Seconds = time.Since(e.start).Seconds()
	res.Machine.LoadAfter = loadAvg()
	res.Summary = summarize(res)
	md := markdown(res, *quick)
	fmt.Print(md)
	if *out != "" {
		dir := *out
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(e.root, dir)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		name := time.Now().Format("2006-01-02")
		if *quick {
			name += "-quick"
		}
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		path := filepath.Join(dir, name+".json")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			return err
		}
		e.logf("wrote %s (%.0f s in all)", path, res.Seconds)
	}
	if *doc != "" {
		path := *doc
		if !filepath.IsAbs(path) {
			path = filepath.Join(e.root, path)
		}
		if err := writeDoc(path, md); err != nil {
			return err
		}
		e.logf("wrote the tables into %s", path)
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("%d part(s) failed: %s", len(res.Errors), strings.Join(res.Errors, "; "))
	}
	return nil
}

// findPython returns a Python 3 with numpy and GStreamer's bindings:
// Debian's /usr/bin/python3 (make bench-deps installs them for it), else
// python3 on PATH.
func findPython() (string, error) {
	check := `import numpy, gi; gi.require_version("GstRtspServer", "1.0"); from gi.repository import GstRtspServer`
	var tried []string
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		out, err := exec.Command(path, "-c", check).CombinedOutput()
		if err == nil {
			return path, nil
		}
		tried = append(tried, fmt.Sprintf("%s: %s", path, strings.TrimSpace(string(out))))
	}
	return "", fmt.Errorf("no python3 with numpy and gst-rtsp-server (make bench-deps installs python3-gst-1.0 gir1.2-gst-rtsp-server-1.0): %s",
		strings.Join(tried, "; "))
}

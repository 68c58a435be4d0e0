package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/framecast/framecast/bench"
)

// machine describes where a run took place.
type machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	MemoryGiB  int    `json:"memory_gib"`
	Kernel     string `json:"kernel"`
	OS         string `json:"os"`
	Go         string `json:"go"`
	X264       string `json:"x264"`
	Libyuv     string `json:"libyuv"`
	FFmpeg     string `json:"ffmpeg"`
	GStreamer  string `json:"gstreamer"`
	Python     string `json:"python"`
	LoadBefore string `json:"load_before"`
	LoadAfter  string `json:"load_after"`
}

func describeMachine(e *env) machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), LoadBefore: loadAvg()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb = atoi64(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			}
		}
		m.MemoryGiB = int((kb + 512<<10) >> 20)
	}
	m.Kernel = firstLine(readFile("/proc/sys/kernel/osrelease"))
	if v := firstLine(readFile("/etc/debian_version")); v != "" {
		m.OS = "Debian " + v
	}
	m.X264 = cmdLine("pkg-config", "--modversion", "x264")
	m.Libyuv = cmdLine("dpkg-query", "-W", "-f=${Version}", "libyuv0")
	m.FFmpeg = strings.TrimPrefix(strings.SplitN(cmdLine("ffmpeg", "-version"), " Copyright", 2)[0], "ffmpeg version ")
	m.GStreamer = cmdLine(e.python, "-c", `import gi; gi.require_version("Gst", "1.0"); from gi.repository import Gst; Gst.init(None); print(Gst.version_string())`)
	m.Python = cmdLine(e.python, "--version")
	return m
}

func loadAvg() string {
	f := strings.Fields(readFile("/proc/loadavg"))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(l)
}

func cmdLine(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return ""
	}
	return firstLine(string(out))
}

func atoi64(s string) int64 {
	var n int64
	for _, c := range strings.TrimSpace(s) {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// cpuMeter wraps bench.CPUMeter.
type cpuMeter struct{ m *bench.CPUMeter }

func startCPU(pids ...int) (*cpuMeter, error) {
	m, err := bench.StartCPU(pids...)
	if err != nil {
		return nil, err
	}
	return &cpuMeter{m}, nil
}

// cores returns the cores each process used since startCPU.
func (c *cpuMeter) cores() ([]float64, error) { return c.m.Cores() }

// total is the sum of cores over the processes (0 on error).
func (c *cpuMeter) total() float64 {
	cs, err := c.m.Cores()
	if err != nil {
		return 0
	}
	t := 0.0
	for _, v := range cs {
		t += v
	}
	return t
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

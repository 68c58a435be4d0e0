package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/internal/testsrc"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "framecast-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "framecast")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := testkit.RunAndCheckLeaks(m.Run)
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running framecast.
type proc struct {
	cmd    *exec.Cmd
	stderr *testkit.Buffer
	addr   string // RTSP address it listens on
	ingest string // ingest URL it listens on
	web    string // web page URL
	done   chan error
}

// startServe runs "framecast serve" with args on free loopback ports and
// waits until it listens.
func startServe(t *testing.T, stdin io.Reader, args ...string) *proc {
	t.Helper()
	rtp, rtcp := testkit.UDPPair(t)
	args = append([]string{"serve", "--rtsp", "127.0.0.1:0", "--udp-rtp", rtp, "--udp-rtcp", rtcp, "--ingest", "tcp://127.0.0.1:0", "--http", "127.0.0.1:0"}, args...)
	cmd := exec.Command(binary, args...)
	cmd.Stdin = stdin
	p := &proc{cmd: cmd, stderr: &testkit.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for p.web == "" && sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "framecast: web page on "); ok {
			p.web = a
		}
		if a, ok := strings.CutPrefix(sc.Text(), "framecast: RTSP server on "); ok {
			p.addr = a
		}
		if a, ok := strings.CutPrefix(sc.Text(), "framecast: ingest on "); ok {
			p.ingest = a
		}
	}
	go func() {
		io.Copy(io.Discard, out)
		p.done <- cmd.Wait()
	}()
	if p.addr == "" || p.ingest == "" || p.web == "" {
		t.Fatalf("framecast did not say where it listens; stderr: %s", p.stderr)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return o.String(), e.String(), exit.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

func TestServeHelpExplainsEveryFlag(t *testing.T) {
	out, _, code := runCLI(t, "serve", "--help")
	if code != 0 {
		t.Fatalf("serve --help exited %d", code)
	}
	var f serveFlags
	newServeFlagSet(&f).VisitAll(func(fl *flag.Flag) {
		// Spelled --name, as the README writes it.
		if !strings.Contains(out, "\n  --"+fl.Name) || fl.Usage == "" {
			t.Errorf("serve --help does not explain --%s", fl.Name)
		}
	})
	out, _, code = runCLI(t, "--help")
	if code != 0 || !strings.Contains(out, "framecast serve") {
		t.Errorf("framecast --help exited %d: %s", code, out)
	}
}

func TestBadInvocationsGiveOneLineErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	rtp, rtcp := testkit.UDPPair(t)
	udp := []string{"--udp-rtp", rtp, "--udp-rtcp", rtcp}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"serve", "--bogus"}, "flag provided but not defined: -bogus"},
		{"bad size", []string{"serve", "--testsrc", "/t", "--size", "640by480"}, `invalid --size "640by480": want WIDTHxHEIGHT`},
		{"odd size", []string{"serve", "--testsrc", "/t", "--size", "641x480"}, "must be even"},
		{"bad pixel format", []string{"serve", "--stdin", "/t", "--pix-fmt", "bgr"}, `unknown pixel format "bgr"`},
		{"nothing to serve", []string{"serve", "--ingest", "none"}, "nothing to serve"},
		{"bad ingest address", append([]string{"serve", "--rtsp", "127.0.0.1:0", "--ingest", "http://x"}, udp...), `ingest address "http://x": want tcp://HOST:PORT or unix:///PATH`},
		{"port in use", append([]string{"serve", "--testsrc", "/t", "--rtsp", busy.Addr().String()}, udp...), "address already in use"},
		{"bad preset", append([]string{"serve", "--testsrc", "/t", "--rtsp", "127.0.0.1:0", "--preset", "warp"}, udp...), "preset"},
		{"unknown command", []string{"stream"}, `unknown command "stream"`},
		{"bad push", []string{"serve", "--testsrc", "/t", "--push", "/t"}, `invalid --push "/t"`},
		{"bad audio", []string{"serve", "--testsrc", "/t", "--audio", "beep"}, `unknown audio track "beep" (want none or silent)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, tc.args...)
			if code == 0 {
				t.Fatalf("exit code 0, want non-zero")
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, tc.want) {
				t.Errorf("error %q does not say %q", last, tc.want)
			}
			for _, l := range lines[:len(lines)-1] {
				if !strings.Contains(l, "level=") {
					t.Errorf("error is more than one line: %q", stderr)
				}
			}
		})
	}
}

// TestSIGTERMClosesViewersAndExitsZero checks a clean shutdown: a playing
// ffmpeg viewer is disconnected and framecast exits with code 0.
func TestSIGTERMClosesViewersAndExitsZero(t *testing.T) {
	const w, h = 320, 240
	p := startServe(t, nil, "--testsrc", "/test", "--size", "320x240")
	viewer := testkit.FFmpeg(t, "rtsp://"+p.addr+"/test", "tcp", "gray", w, h)
	viewer.Next(t, 10*time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("framecast exited with %v after SIGTERM; stderr: %s", err, p.stderr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("framecast still running 5 s after SIGTERM")
	}
	if !strings.Contains(p.stderr.String(), "shutting down") {
		t.Errorf("no shutdown log: %s", p.stderr)
	}
	// The viewer sees the end of the stream instead of hanging.
	if !viewer.Ended(10 * time.Second) {
		t.Fatal("viewer still connected 10 s after the server stopped")
	}
}

// TestStdinServesRawFramesAndStopsAtEOF pipes ffmpeg's rawvideo output into
// framecast as the README shows, and decodes the stream back.
func TestStdinServesRawFramesAndStopsAtEOF(t *testing.T) {
	testkit.Need(t, "ffmpeg")
	const w, h = 640, 480
	src := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-re", "-f", "lavfi",
		"-i", "testsrc2=size=640x480:rate=30", "-frames:v", "150", "-f", "rawvideo", "-pix_fmt", "bgr24", "-")
	stdout, err := src.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Start(); err != nil {
		t.Fatal(err)
	}
	defer src.Wait()
	p := startServe(t, stdout, "--stdin", "/cam", "--size", "640x480", "--fps", "30", "--pix-fmt", "bgr24")
	dec := testkit.FFmpeg(t, "rtsp://"+p.addr+"/cam", "tcp", "bgr24", w, h)
	var frame []byte
	for range 10 {
		frame = dec.Next(t, 10*time.Second)
	}
	// testsrc2's picture is mostly saturated colour: check it decoded to
	// something that is neither grey nor black.
	var sat int
	for i := 0; i < len(frame); i += 3 {
		mx := max(frame[i], frame[i+1], frame[i+2])
		mn := min(frame[i], frame[i+1], frame[i+2])
		if mx-mn > 100 {
			sat++
		}
	}
	if sat < w*h/4 {
		t.Errorf("only %d of %d pixels are coloured: not testsrc2's picture", sat, w*h)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(p.stderr.String(), "stdin reached end of file") {
		if time.Now().After(deadline) {
			t.Fatalf("no end-of-file log after the producer finished; stderr: %s", p.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(p.stderr.String(), "frames=150") {
		t.Errorf("want 150 frames read from stdin; stderr: %s", p.stderr)
	}
}

// TestPythonProducerThroughServe runs the README's Python example against
// the binary's default ingest listener and decodes what it publishes.
func TestPythonProducerThroughServe(t *testing.T) {
	// Debian's python3, which has numpy (make deps installs python3-numpy).
	testkit.Need(t, "/usr/bin/python3")
	const w, h = 320, 240
	p := startServe(t, nil)
	py := exec.Command("/usr/bin/python3", "../../examples/python/synthetic.py", "--address", p.ingest,
		"--path", "/cam", "--size", "320x240", "--fps", "30", "--frames", "300")
	py.Env = append(os.Environ(), "PYTHONPATH=../../clients/python")
	pyOut := &testkit.Buffer{}
	py.Stdout, py.Stderr = pyOut, pyOut
	if err := py.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { py.Process.Kill(); py.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), `msg="stream published" path=/cam`) {
		if time.Now().After(deadline) {
			t.Fatalf("the Python producer did not publish /cam; python: %s; server: %s", pyOut, p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	dec := testkit.FFmpeg(t, "rtsp://"+p.addr+"/cam", "tcp", "gray", w, h)
	prev := testsrc.ReadNumber(dec.Next(t, 10*time.Second), w, h, w)
	for range 30 {
		n := testsrc.ReadNumber(dec.Next(t, 5*time.Second), w, h, w)
		if n != prev+1 {
			t.Fatalf("frame %d after %d; python: %s", n, prev, pyOut)
		}
		prev = n
	}
}

func TestExampleConfigIsValidAndServes(t *testing.T) {
	c, err := loadConfig("../../framecast.example.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Streams) != 4 || c.Encoder.Bitrate == nil || *c.Encoder.Bitrate != 2000 {
		t.Fatalf("example config read as %+v", c)
	}
	// Flags override the file's listeners.
	p := startServe(t, nil, "--config", "../../framecast.example.yml", "--ingest", "tcp://127.0.0.1:0")
	out, err := testkit.Run(t, 15*time.Second, "ffprobe", "-v", "error", "-rtsp_transport", "tcp",
		"-show_entries", "stream=width,height", "-of", "csv=p=0", "rtsp://"+p.addr+"/small")
	if err != nil || strings.TrimSpace(out) != "320,240" {
		t.Fatalf("ffprobe of the example's /small: %v %q, want 320,240", err, out)
	}
	// The example's auth: /private needs viewer:viewerpass (stored hashed).
	out, err = testkit.Run(t, 15*time.Second, "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "rtsp://"+p.addr+"/private")
	if err == nil || !strings.Contains(out, "401") {
		t.Fatalf("ffprobe of /private without credentials: %v %q, want 401", err, out)
	}
	out, err = testkit.Run(t, 15*time.Second, "ffprobe", "-v", "error", "-rtsp_transport", "tcp",
		"-show_entries", "stream=width", "-of", "csv=p=0", "rtsp://viewer:viewerpass@"+p.addr+"/private")
	if err != nil || strings.TrimSpace(out) != "320" {
		t.Fatalf("ffprobe of /private with the example's credentials: %v %q", err, out)
	}
	// The web page keeps /private closed as RTSP does.
	for _, tc := range []struct {
		user, pass string
		want       int
	}{{"", "", 401}, {"viewer", "wrong", 401}, {"viewer", "viewerpass", 200}} {
		req, _ := http.NewRequest("GET", p.web+"api/v1/streams/private", nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET /api/v1/streams/private as %q:%q: %d, want %d", tc.user, tc.pass, resp.StatusCode, tc.want)
		}
	}
}

func TestConfigErrorsNameKeyAndLine(t *testing.T) {
	for _, tc := range []struct {
		yaml, want string
	}{
		{"rtsp: \":8554\"\nbogus: 1\n", `line 2: unknown key "bogus"`},
		{"encoder:\n  bitrate: 100\n  speed: 3\n", `line 3: unknown key "speed"`},
		{"streams:\n  - path: /a\n    source: camera\n", `line 2: stream 1 (/a): source "camera": want testsrc, stdin or ingest`},
		{"streams:\n  - path: a\n    source: testsrc\n", `path "a" must start with /`},
		{"streams:\n  - path: /a\n    source: testsrc\n    size: big\n", `invalid size "big"`},
		{"status_interval: soon\n", `line 1: "soon" is not a duration`},
		{"idle: repeat\nwhen_full: drop-newest\n", `line 2: unknown when-full policy "drop-newest" (want drop-oldest or block)`},
		{"streams:\n  - path: /x\n    source: stdin\n    pix_fmt: bgr\n", `line 4: unknown pixel format "bgr"`},
		{"idle: sometimes\n", `line 1: unknown idle policy "sometimes"`},
		{"audio: aac\n", `line 1: unknown audio track "aac" (want none or silent)`},
		{"streams:\n  - path: /a\n    source: ingest\n    audio: loud\n", `line 4: unknown audio track "loud"`},
	} {
		path := filepath.Join(t.TempDir(), "framecast.yml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := loadConfig(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %q: error %v, want one saying %q", tc.yaml, err, tc.want)
		}
	}
	// And through the binary: a one-line error, non-zero exit.
	path := filepath.Join(t.TempDir(), "framecast.yml")
	os.WriteFile(path, []byte("rtsp: \":8554\"\nbogus: 1\n"), 0o644)
	_, stderr, code := runCLI(t, "serve", "--config", path)
	if code == 0 || !strings.Contains(stderr, `line 2: unknown key "bogus"`) {
		t.Errorf("serve with a bad config: exit %d, %q", code, stderr)
	}
}

// TestAudioFlagAndPerStreamAudio: --audio silent gives every path a silent
// AAC track; a stream's audio key in the config overrides it for its path.
func TestAudioFlagAndPerStreamAudio(t *testing.T) {
	path := filepath.Join(t.TempDir(), "framecast.yml")
	cfg := "streams:\n  - path: /quiet\n    source: testsrc\n    size: 320x240\n  - path: /mute\n    source: testsrc\n    size: 320x240\n    audio: none\n"
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, nil, "--config", path, "--audio", "silent", "--ingest", "none")
	for _, tc := range []struct{ path, want string }{{"/quiet", "h264,aac"}, {"/mute", "h264"}} {
		out, err := testkit.Run(t, 15*time.Second, "ffprobe", "-v", "error", "-rtsp_transport", "tcp",
			"-show_entries", "stream=codec_name", "-of", "csv=p=0", "rtsp://"+p.addr+tc.path)
		if got := strings.Join(strings.Fields(out), ","); err != nil || got != tc.want {
			t.Errorf("ffprobe %s: %v %q, want %s", tc.path, err, out, tc.want)
		}
	}
}

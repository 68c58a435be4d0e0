package framecast_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/testkit"
)

// TestREADMEHeadlessCommandsWork runs, as written, every command of the
// README that watches the test pattern without a screen, against a real
// server (only the port differs).
func TestREADMEHeadlessCommandsWork(t *testing.T) {
	testkit.Need(t, "ffmpeg", "ffprobe", "gst-launch-1.0")
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	const readmeURL = "rtsp://127.0.0.1:8554/test"
	var cmds []string
	inBlock := false
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "```") {
			inBlock = !inBlock
			continue
		}
		if inBlock && strings.Contains(line, readmeURL) && !strings.Contains(line, "autovideosink") &&
			(strings.HasPrefix(line, "ffprobe ") || strings.HasPrefix(line, "ffmpeg ") || strings.HasPrefix(line, "gst-launch-1.0 ")) {
			cmds = append(cmds, line)
		}
	}
	if len(cmds) < 4 {
		t.Fatalf("found %d headless commands in README.md, want ffprobe, two ffmpeg and gst-launch", len(cmds))
	}
	srv := newServer(t, framecast.Config{})
	servePattern(t, srv, "/test", 640, 360, 30)
	for _, c := range cmds {
		t.Run(strings.Fields(c)[0], func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "sh", "-c", strings.ReplaceAll(c, readmeURL, url(srv, "/test")))
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s\n%v: %s", c, err, out)
			}
			if strings.HasPrefix(c, "ffprobe") && !strings.Contains(string(out), "h264") {
				t.Errorf("%s printed %q, want h264", c, out)
			}
			for _, f := range []string{"snapshot.png", "snapshot.jpg"} {
				if strings.Contains(c, f) {
					if st, err := os.Stat(dir + "/" + f); err != nil || st.Size() < 1000 {
						t.Errorf("%s did not write a picture to %s: %v", c, f, err)
					}
				}
			}
		})
	}
}

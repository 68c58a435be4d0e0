package framecast_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/testkit"
)

// TestSilentAudioTrackOverRTSP: a path with the silent track is announced
// with H.264 and AAC; ffmpeg records three seconds of both (over TCP and
// UDP), the audio decodes to silence, and its duration matches the video's.
// A path without it stays video only.
func TestSilentAudioTrackOverRTSP(t *testing.T) {
	testkit.Need(t, "ffmpeg")
	testkit.Need(t, "ffprobe")
	srv := newServer(t, framecast.Config{AlwaysEncode: true,
		PathAudio: map[string]framecast.Audio{"/with": framecast.AudioSilent}})
	servePattern(t, srv, "/with", 320, 240, 30)
	servePattern(t, srv, "/without", 320, 240, 30)

	if got := codecs(t, url(srv, "/with")); got != "h264,aac" {
		t.Errorf("/with: streams %q, want h264,aac", got)
	}
	if got := codecs(t, url(srv, "/without")); got != "h264" {
		t.Errorf("/without: streams %q, want h264 alone", got)
	}
	for _, info := range srv.Streams() {
		want := map[string]framecast.Audio{"/with": framecast.AudioSilent, "/without": framecast.AudioNone}[info.Path]
		if info.Audio != want {
			t.Errorf("%s: StreamInfo.Audio %v, want %v", info.Path, info.Audio, want)
		}
	}

	for _, transport := range []string{"tcp", "udp"} {
		out := filepath.Join(t.TempDir(), "rec.mkv")
		if b, err := testkit.Run(t, 30*time.Second, "ffmpeg", "-v", "error", "-rtsp_transport", transport,
			"-i", url(srv, "/with"), "-t", "3", "-c", "copy", out); err != nil {
			t.Fatalf("%s: record: %v: %s", transport, err, b)
		}
		checkSilentTrack(t, transport, out)
	}
}

// checkSilentTrack checks a recording of about three seconds or more of
// a stream with the silent track: video and audio last as long as each
// other (within 0.3 s) and start together (within 0.2 s: RTCP, or the
// container's timestamps, map both to the same clock), and the audio
// decodes to silence.
func checkSilentTrack(t *testing.T, name, file string) {
	t.Helper()
	vstart, vdur := span(t, file, "v:0")
	astart, adur := span(t, file, "a:0")
	t.Logf("%s: video %.3f s from %.3f, audio %.3f s from %.3f", name, vdur, vstart, adur, astart)
	if vdur < 2 || adur < 2 || adur-vdur > 0.3 || vdur-adur > 0.3 {
		t.Errorf("%s: video %.3f s and audio %.3f s: want both at least 2 s, within 0.3 s of each other", name, vdur, adur)
	}
	if d := astart - vstart; d > 0.2 || d < -0.2 {
		t.Errorf("%s: audio starts at %.3f s, video at %.3f s: want within 0.2 s", name, astart, vstart)
	}
	pcm, err := exec.Command("ffmpeg", "-v", "error", "-i", file, "-map", "a:0", "-f", "s16le", "-c:a", "pcm_s16le", "pipe:1").Output()
	if err != nil {
		t.Fatalf("%s: decode the audio: %v", name, err)
	}
	if len(pcm) < 2*2*48000 {
		t.Errorf("%s: %d bytes of audio, want at least 2 s of 48 kHz stereo", name, len(pcm))
	}
	for i := 0; i+1 < len(pcm); i += 2 {
		if v := int16(binary.LittleEndian.Uint16(pcm[i:])); v != 0 {
			t.Fatalf("%s: sample %d is %d, want silence", name, i/2, v)
		}
	}
}

// fileCodecs lists the codecs of a recording's streams, and their sample
// rates and channels where they have them, as ffprobe names them:
// "h264,aac 48000 2".
func fileCodecs(t *testing.T, file string) string {
	t.Helper()
	b, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate,channels",
		"-of", "json", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	var r struct {
		Streams []struct {
			Codec      string `json:"codec_name"`
			SampleRate string `json:"sample_rate"`
			Channels   int    `json:"channels"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	var out []string
	for _, s := range r.Streams {
		if s.SampleRate != "" {
			out = append(out, fmt.Sprintf("%s %s %d", s.Codec, s.SampleRate, s.Channels))
		} else {
			out = append(out, s.Codec)
		}
	}
	return strings.Join(out, ",")
}

// codecs lists the codecs of url's streams as ffprobe names them.
func codecs(t *testing.T, url string) string {
	t.Helper()
	b, err := testkit.Run(t, 20*time.Second, "ffprobe", "-v", "error", "-rtsp_transport", "tcp",
		"-show_entries", "stream=codec_name", "-of", "csv=p=0", url)
	if err != nil {
		t.Fatalf("ffprobe %s: %v: %s", url, err, b)
	}
	var out string
	for _, line := range splitLines(string(b)) {
		if out != "" {
			out += ","
		}
		out += line
	}
	return out
}

// span is the first timestamp and the duration in seconds of one stream of
// a recording, from its packets' timestamps.
func span(t *testing.T, file, stream string) (start, dur float64) {
	t.Helper()
	b, err := exec.Command("ffprobe", "-v", "error", "-select_streams", stream,
		"-show_entries", "packet=pts_time", "-of", "json", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s %s: %v", file, stream, err)
	}
	var r struct {
		Packets []struct {
			PTS string `json:"pts_time"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Packets) == 0 {
		return 0, 0
	}
	first, _ := strconv.ParseFloat(r.Packets[0].PTS, 64)
	last, _ := strconv.ParseFloat(r.Packets[len(r.Packets)-1].PTS, 64)
	return first, last - first
}

func splitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

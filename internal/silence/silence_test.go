package silence

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/framecast/framecast/internal/testkit"
)

// TestFFmpegDecodesTheFramesAsSilence: a second of frames in ADTS, for one
// and two channels, decodes with ffmpeg's AAC decoder to the right number
// of samples, all zero, without an error.
func TestFFmpegDecodesTheFramesAsSilence(t *testing.T) {
	testkit.Need(t, "ffmpeg")
	for _, channels := range []int{1, 2} {
		const frames = 47
		var pkts mpeg4audio.ADTSPackets
		for range frames {
			pkts = append(pkts, &mpeg4audio.ADTSPacket{
				Type: mpeg4audio.ObjectTypeAACLC, SampleRate: SampleRate, ChannelCount: channels,
				AU: rawSilentFrame(channels),
			})
		}
		b, err := pkts.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		in := filepath.Join(t.TempDir(), "silence.aac")
		if err := os.WriteFile(in, b, 0o600); err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd := exec.Command("ffmpeg", "-v", "error", "-i", in, "-f", "s16le", "-c:a", "pcm_s16le", "pipe:1")
		cmd.Stderr = &stderr
		pcm, err := cmd.Output()
		if err != nil {
			t.Fatalf("%d channels: ffmpeg: %v: %s", channels, err, stderr.Bytes())
		}
		if stderr.Len() > 0 {
			t.Errorf("%d channels: ffmpeg reported: %s", channels, stderr.Bytes())
		}
		// ffmpeg's decoder drops the first frame's priming samples.
		if n := len(pcm) / 2 / channels; n < (frames-1)*SamplesPerFrame || n > frames*SamplesPerFrame {
			t.Errorf("%d channels: %d samples, want %d frames' worth", channels, n, frames)
		}
		for i := 0; i+1 < len(pcm); i += 2 {
			if v := int16(binary.LittleEndian.Uint16(pcm[i:])); v != 0 {
				t.Fatalf("%d channels: sample %d is %d, want silence", channels, i/2, v)
			}
		}
	}
}

func TestFrameIsTheConfiguredChannels(t *testing.T) {
	if Config().ChannelCount != Channels || !bytes.Equal(Frame(), rawSilentFrame(Channels)) {
		t.Fatal("Frame and Config disagree")
	}
	if len(Frame()) != 7 {
		t.Errorf("stereo frame is %d bytes, want 7 (55 bits)", len(Frame()))
	}
}

func TestClockTimesFramesByTheVideo(t *testing.T) {
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	var c Clock
	// 30 fps video from 5 s: frames at 0, 1024, 2048… samples after it.
	var got []int64
	for i := range 31 {
		got = c.Until(got, 5*time.Second+time.Duration(i)*time.Second/30)
	}
	// One second of video, 0 to 1 s inclusive: frames starting at or
	// before sample 48000: 0 … 47*1024 = 48128 is after, so 47 frames.
	if len(got) != 47 {
		t.Fatalf("%d frames for a second of video, want 47", len(got))
	}
	for i, n := range got {
		if n != int64(i)*SamplesPerFrame {
			t.Fatalf("frame %d at sample %d, want %d", i, n, i*SamplesPerFrame)
		}
	}
	if p := c.PTS(got[1]); p != 5*time.Second+ms(1024.0/48) {
		t.Errorf("PTS of frame 1 = %v", p)
	}
	// Backwards: nothing.
	if more := c.Until(nil, 5*time.Second); len(more) != 0 {
		t.Errorf("a timestamp back in time gave %d frames", len(more))
	}
	// A pause of a minute: the track skips ahead, it does not send a
	// minute of frames at once.
	more := c.Until(nil, 65*time.Second)
	if len(more) != 1 {
		t.Fatalf("after a minute's pause %d frames, want 1", len(more))
	}
	if p := c.PTS(more[0]); p > 65*time.Second || 65*time.Second-p > FrameDuration {
		t.Errorf("after the pause the frame is at %v, want within a frame before 65 s", p)
	}
}

func FuzzClockNeverGoesBack(f *testing.F) {
	f.Add(int64(0), int64(33), int64(1000))
	f.Fuzz(func(t *testing.T, a, b, c int64) {
		var clk Clock
		last := int64(-1)
		for _, pts := range []int64{a, b, c, a + b} {
			for _, n := range clk.Until(nil, time.Duration(pts)*time.Millisecond) {
				if n <= last || n%SamplesPerFrame != 0 {
					t.Fatalf("frame at sample %d after %d", n, last)
				}
				last = n
			}
		}
	})
}

func TestFramesDueReturnsAFrameForEachSampleIndex(t *testing.T) {
	var f Frames
	samples, aus := f.Due(0)
	if len(samples) != 1 || samples[0] != 0 || len(aus) != 1 || !bytes.Equal(aus[0], Frame()) {
		t.Fatalf("at 0: samples %v, %d frames: want sample 0 and one silent frame", samples, len(aus))
	}
	samples, aus = f.Due(100 * time.Millisecond) // 4800 samples: frames from 1024 to 4096
	if len(samples) != 4 || samples[0] != SamplesPerFrame || samples[3] != 4*SamplesPerFrame || len(aus) != len(samples) {
		t.Fatalf("at 100 ms: samples %v, %d frames: want 1024 to 4096 and a frame each", samples, len(aus))
	}
}

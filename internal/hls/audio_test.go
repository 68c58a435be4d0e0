package hls

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	mp4codecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/framecast/framecast/internal/rtptime"
	"github.com/framecast/framecast/internal/silence"
)

// TestSilentAudioRendition: with SilentAudio, a path's multivariant
// playlist lists an AAC-LC audio rendition (mp4a.40.2) beside the video;
// its init file is 48 kHz stereo AAC-LC, and its first segment is silent
// frames of 1024 samples each, in step with the video's first segment.
// A path without it stays video only.
func TestSilentAudioRendition(t *testing.T) {
	with := newFakeStream(t, "/with", 160, 120)
	without := newFakeStream(t, "/without", 160, 120)
	src := func(path string, sink Sink) (func(), error) {
		if path == "/with" {
			return with.source(path, sink)
		}
		return without.source(path, sink)
	}
	s := New(src, Config{SilentAudio: func(path string) bool { return path == "/with" }, Logger: testLogger()})
	base := serve(t, s)

	code, multi := get(t, base+"/with/index.m3u8")
	if code != http.StatusOK || !regexp.MustCompile(`CODECS="avc1\.[^"]*,mp4a\.40\.2"`).MatchString(multi) {
		t.Fatalf("GET /with/index.m3u8: %d, want CODECS avc1 and mp4a.40.2:\n%s", code, multi)
	}
	m := regexp.MustCompile(`#EXT-X-MEDIA:TYPE=AUDIO,.*URI="([^"]+)"`).FindStringSubmatch(multi)
	if m == nil {
		t.Fatalf("/with/index.m3u8 has no audio rendition:\n%s", multi)
	}
	video := firstSegment(t, base+"/with/", lastLine(multi))
	audio := firstSegment(t, base+"/with/", m[1])
	if video.name[strings.LastIndex(video.name, "_"):] != audio.name[strings.LastIndex(audio.name, "_"):] {
		t.Fatalf("first segments %s and %s, want the same number", video.name, audio.name)
	}
	if len(audio.init.Tracks) != 1 || audio.init.Tracks[0].TimeScale != silence.SampleRate {
		t.Fatalf("audio init file: %d tracks, want one at %d Hz", len(audio.init.Tracks), silence.SampleRate)
	}
	c, ok := audio.init.Tracks[0].Codec.(*mp4codecs.MPEG4Audio)
	if !ok || c.Config.Type != mpeg4audio.ObjectTypeAACLC || c.Config.SampleRate != silence.SampleRate || c.Config.ChannelCount != silence.Channels {
		t.Fatalf("audio init file: codec %#v, want AAC-LC 48 kHz stereo", audio.init.Tracks[0].Codec)
	}
	frames := 0
	for _, p := range audio.parts {
		for _, tr := range p.Tracks {
			for _, smp := range tr.Samples {
				if smp.Duration != silence.SamplesPerFrame || !bytes.Equal(smp.Payload, silence.Frame()) {
					t.Fatalf("audio sample %d: %d samples, %x; want the silent frame of %d", frames, smp.Duration, smp.Payload, silence.SamplesPerFrame)
				}
				frames++
			}
		}
	}
	vstart, vdur := video.span()
	astart, adur := audio.span()
	t.Logf("segment %s: video %v from %v, audio %v from %v (%d frames)", video.name, vdur, vstart, adur, astart, frames)
	// The audio starts with the video's first frame. The frames due by a
	// video frame are written after it, so at the video's segment cut the
	// audio before the IDR, and the last frame before it, which gohlslib
	// holds until the next, go to the next segment: the audio may end up
	// to a video frame and an audio frame early.
	if d := astart - vstart; d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("the first audio segment starts at %v, the video's at %v: want the same", astart, vstart)
	}
	if early := vdur - adur; early < 0 || early > time.Second/30+silence.FrameDuration {
		t.Errorf("the first audio segment lasts %v, the video's %v: want up to %v less", adur, vdur, time.Second/30+silence.FrameDuration)
	}
	s.mu.Lock()
	mx := s.muxers["/with"]
	s.mu.Unlock()
	if n := mx.encodeErrors.Load(); n != 0 {
		t.Errorf("%d muxer errors", n)
	}

	code, multi = get(t, base+"/without/index.m3u8")
	if code != http.StatusOK || strings.Contains(multi, "mp4a") || strings.Contains(multi, "#EXT-X-MEDIA:") {
		t.Fatalf("GET /without/index.m3u8: %d, want video only:\n%s", code, multi)
	}
}

// segment is a track's first segment and its init file.
type segment struct {
	name  string
	init  fmp4.Init
	parts fmp4.Parts
}

// span is the start and duration of the segment's samples.
func (s segment) span() (start, dur time.Duration) {
	scale := int(s.init.Tracks[0].TimeScale)
	var ticks int64
	for _, p := range s.parts {
		for _, tr := range p.Tracks {
			for _, smp := range tr.Samples {
				ticks += int64(smp.Duration)
			}
		}
	}
	return rtptime.Duration(int64(s.parts[0].Tracks[0].BaseTime), scale), rtptime.Duration(ticks, scale)
}

// firstSegment fetches the media playlist dir+name, then its init file and
// its first segment (gaps excepted), and parses them.
func firstSegment(t *testing.T, dir, name string) segment {
	t.Helper()
	code, pl := get(t, dir+name)
	mp := regexp.MustCompile(`#EXT-X-MAP:URI="([^"]+)"`).FindStringSubmatch(pl)
	if code != http.StatusOK || mp == nil {
		t.Fatalf("GET %s: %d, want a playlist with an init file:\n%s", name, code, pl)
	}
	var seg segment
	code, b := get(t, dir+mp[1])
	if err := seg.init.Unmarshal(bytes.NewReader([]byte(b))); code != http.StatusOK || err != nil {
		t.Fatalf("GET %s: %d, %v", mp[1], code, err)
	}
	for _, l := range strings.Split(pl, "\n") {
		if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") || l == gapFile {
			continue
		}
		code, b := get(t, dir+l)
		if err := seg.parts.Unmarshal([]byte(b)); code != http.StatusOK || err != nil {
			t.Fatalf("GET %s: %d, %v", l, code, err)
		}
		seg.name = l
		return seg
	}
	t.Fatalf("%s names no segment:\n%s", name, pl)
	return seg
}

// TestSilentTrackTimesFramesByTheVideo: the frames due by each video time
// are consecutive and on the video's timeline from its first time; their
// timestamps increase across a pause of the video (the track skips
// ahead), and their presentation times match them.
func TestSilentTrackTimesFramesByTheVideo(t *testing.T) {
	const start = 90 * time.Second
	frame := time.Second / 30
	var a silentTrack
	next := rtptime.Ticks(start, silence.SampleRate) // the next frame's timestamp
	for _, pts := range []time.Duration{start, start + frame, start + 2*frame, start + 500*time.Millisecond,
		start + 10*time.Second, start + 10*time.Second + frame} {
		ts, at, aus := a.due(pts)
		switch {
		case len(aus) == 0:
			t.Fatalf("at %v: no frame due", pts)
		case pts < start+time.Second && ts != next:
			t.Errorf("at %v: first frame at %d, want %d, the one after the last", pts, ts, next)
		case ts < next:
			t.Errorf("at %v: first frame at %d, before the one after the last, %d", pts, ts, next)
		}
		if want := rtptime.Ticks(at, silence.SampleRate); ts-want > 1 || want-ts > 1 {
			t.Errorf("at %v: frame at %d, presentation time %v (%d)", pts, ts, at, want)
		}
		if last := at + time.Duration(len(aus)-1)*silence.FrameDuration; at > pts || pts-last > silence.FrameDuration {
			t.Errorf("at %v: %d frames from %v, want the frames due by it", pts, len(aus), at)
		}
		next = ts + int64(len(aus))*silence.SamplesPerFrame
	}
}

package h264desc

import (
	"strings"
	"testing"
	"time"
)

// TestSessionAnnouncesH264WithItsParameters checks the SDP a viewer or a
// remote server receives.
func TestSessionAnnouncesH264WithItsParameters(t *testing.T) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1f, 0xd9}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	desc, media, forma := Session(sps, pps)
	if len(desc.Medias) != 1 || desc.Medias[0] != media || len(media.Formats) != 1 || media.Formats[0] != forma {
		t.Fatalf("session %+v: want one media with one format", desc)
	}
	if forma.ClockRate() != ClockRate {
		t.Errorf("clock rate %d, want %d", forma.ClockRate(), ClockRate)
	}
	b, err := desc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sdp := string(b)
	for _, want := range []string{
		"m=video 0 RTP/AVP 96",
		"a=rtpmap:96 H264/90000",
		"packetization-mode=1",
		"sprop-parameter-sets=Z0LAH9k=,aM48gA==",
	} {
		if !strings.Contains(sdp, want) {
			t.Errorf("SDP lacks %q:\n%s", want, sdp)
		}
	}
}

func TestSilentAudioPacketsTheFramesDueInOnePacketOnItsOwnTimeline(t *testing.T) {
	desc, _, _ := Session([]byte{0x67, 0x42}, []byte{0x68, 0xce})
	a, err := NewSilentAudio(desc)
	if err != nil {
		t.Fatal(err)
	}
	if len(desc.Medias) != 2 || desc.Medias[1] != a.Media {
		t.Fatalf("the session's medias: %d, want the video and the silent audio", len(desc.Medias))
	}
	capture := time.Unix(1000, 0)
	first, ntp, err := a.Packets(time.Second, capture) // the track starts here: one frame
	if err != nil || len(first) != 1 || !ntp.Equal(capture) {
		t.Fatalf("first: %d packets, ntp %v, %v; want one at the capture time", len(first), ntp, err)
	}
	// 100 ms later: the frames from sample 1024 to 4096, one packet, its
	// time 1024 samples after the first's, its RTCP time that of sample 1024.
	next, ntp, err := a.Packets(time.Second+100*time.Millisecond, capture.Add(100*time.Millisecond))
	if err != nil || len(next) != 1 {
		t.Fatalf("next: %d packets, %v", len(next), err)
	}
	if d := next[0].Timestamp - first[0].Timestamp; d != 1024 {
		t.Errorf("RTP timestamps %d apart, want 1024 (one frame)", d)
	}
	if want := capture.Add(time.Second * 1024 / 48000); !ntp.Equal(want) {
		t.Errorf("RTCP time %v, want %v (sample 1024)", ntp, want)
	}
	if none, _, _ := a.Packets(time.Second+100*time.Millisecond, capture); len(none) != 0 {
		t.Errorf("%d packets for a time already covered, want none", len(none))
	}
}

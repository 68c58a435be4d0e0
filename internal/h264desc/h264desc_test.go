package h264desc

import (
	"strings"
	"testing"
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

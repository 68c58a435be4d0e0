package framecast_test

import (
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/framecast/framecast"
)

// The policies' names are the same in flags, YAML and JSON.
func TestPoliciesRoundTripAsText(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    interface {
			MarshalText() ([]byte, error)
		}
		parse func(string) (string, error)
	}{
		{"drop-oldest", framecast.DropOldest, func(s string) (string, error) { v, err := framecast.ParseWhenFull(s); return v.String(), err }},
		{"block", framecast.Block, func(s string) (string, error) { v, err := framecast.ParseWhenFull(s); return v.String(), err }},
		{"repeat", framecast.IdleRepeat, func(s string) (string, error) { v, err := framecast.ParseIdlePolicy(s); return v.String(), err }},
		{"none", framecast.IdleNone, func(s string) (string, error) { v, err := framecast.ParseIdlePolicy(s); return v.String(), err }},
	} {
		b, err := tc.v.MarshalText()
		if err != nil || string(b) != tc.name {
			t.Errorf("MarshalText = %q, %v; want %q", b, err, tc.name)
		}
		if got, err := tc.parse(tc.name); err != nil || got != tc.name {
			t.Errorf("parse %q = %q, %v", tc.name, got, err)
		}
	}
	var cfg struct {
		WhenFull framecast.WhenFull
		Idle     framecast.IdlePolicy
	}
	if err := json.Unmarshal([]byte(`{"WhenFull":"block","Idle":"none"}`), &cfg); err != nil ||
		cfg.WhenFull != framecast.Block || cfg.Idle != framecast.IdleNone {
		t.Fatalf("JSON: %+v, %v", cfg, err)
	}
	err := json.Unmarshal([]byte(`{"WhenFull":"drop-newest"}`), &cfg)
	if err == nil || err.Error() != `unknown when-full policy "drop-newest" (want drop-oldest or block)` {
		t.Fatalf("JSON of an unknown policy: %v", err)
	}
	if _, err := framecast.ParseIdlePolicy("sleep"); err == nil {
		t.Fatal(`ParseIdlePolicy("sleep"): no error`)
	}
}

// Encoder settings x264 would refuse are refused by NewServer, before it
// binds anything: with the RTSP port taken, the error is the settings'.
func TestBadEncoderSettingsAreRefusedBeforeAnythingIsBound(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct {
		enc  framecast.EncoderConfig
		want string
	}{
		{framecast.EncoderConfig{Preset: "warp"}, `preset "warp"`},
		{framecast.EncoderConfig{Tune: "film,animation"}, `tune "film,animation"`},
		{framecast.EncoderConfig{Profile: "extended"}, `profile "extended"`},
		{framecast.EncoderConfig{BitrateKbps: -1}, "bitrate -1"},
		{framecast.EncoderConfig{CRF: 60}, "CRF 60"},
		{framecast.EncoderConfig{GOP: -2}, "GOP -2"},
	} {
		srv, err := framecast.NewServer(framecast.Config{RTSPAddress: taken.Addr().String(), DisableUDP: true, Encoder: tc.enc})
		if err == nil {
			srv.Close()
			t.Errorf("NewServer with %+v: no error", tc.enc)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "encoder: ") {
			t.Errorf("NewServer with %+v: %q, want an encoder error naming %s", tc.enc, err, tc.want)
		}
	}
}

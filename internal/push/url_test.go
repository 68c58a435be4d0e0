package push

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in, url, transport, err string
	}{
		{in: "rtsp://127.0.0.1:8554/cam", url: "rtsp://127.0.0.1:8554/cam"},
		{in: "rtsps://media.example/live/cam", url: "rtsps://media.example/live/cam"},
		{in: "rtsp://u:p@host:8554/cam", url: "rtsp://u:p@host:8554/cam"},
		{in: "rtsp://host/cam?transport=udp", url: "rtsp://host/cam", transport: "udp"},
		{in: "rtsp://host/cam?transport=TCP&token=abc", url: "rtsp://host/cam?token=abc", transport: "TCP"},
		{in: "rtsp://host/cam?token=abc", url: "rtsp://host/cam?token=abc"},
		{in: "rtsp://host/cam?transport=quic", err: `unknown push transport "quic"`},
		{in: "http://host/cam", err: "unsupported scheme"},
		{in: "rtsp://host", err: "no path"},
		{in: "rtsp://host/", err: "no path"},
		{in: "rtsp:///cam", err: "no host"},
		{in: "host:8554/cam", err: "want rtsp://"},
	} {
		u, tr, err := ParseURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseURL(%q) error %v, want one saying %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.in, err)
			continue
		}
		if u.String() != tc.url || tr != tc.transport {
			t.Errorf("ParseURL(%q) = %q, %q; want %q, %q", tc.in, u, tr, tc.url, tc.transport)
		}
	}
}

func TestRedactHidesThePasswordOnly(t *testing.T) {
	for in, want := range map[string]string{
		"rtsp://host:8554/cam":                "rtsp://host:8554/cam",
		"rtsp://user:secret@host:8554/cam":    "rtsp://user:xxxxx@host:8554/cam",
		"rtsp://user@host/cam":                "rtsp://user@host/cam",
		"rtsp://user:p%w@rd@host/cam":         "rtsp://xxxxx@host/cam",
		"rtsp://user:se cret@ho st/cam\x7f":   "rtsp://xxxxx@ho st/cam\x7f",
		"rtsp://user:secret@host/cam?a=b c#d": "rtsp://user:xxxxx@host/cam?a=b c#d",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseTransport(t *testing.T) {
	for in, want := range map[string]Transport{"": TCP, "tcp": TCP, "TCP": TCP, "udp": UDP} {
		got, err := ParseTransport(in)
		if err != nil || got != want {
			t.Errorf("ParseTransport(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseTransport("multicast"); err == nil {
		t.Error("ParseTransport(multicast) accepted")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	sub := func(Sink) (func(), error) { return func() {}, nil }
	for _, cfg := range []Config{
		{URL: "rtsp://host/cam"},
		{URL: "udp://host/cam", Subscribe: sub},
		{URL: "rtsp://host/cam", Transport: "sctp", Subscribe: sub},
	} {
		if p, err := New(cfg); err == nil {
			p.Close()
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

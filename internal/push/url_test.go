package push

import (
	"strings"
	"testing"
)

func TestParseRTSPURL(t *testing.T) {
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
		{in: "rtsp://host", err: "no path"},
		{in: "rtsp://host/", err: "no path"},
		{in: "rtsp:///cam", err: "no host"},
		{in: "host:8554/cam", err: "want rtsp://"},
	} {
		u, tr, err := parseRTSPURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseRTSPURL(%q) error %v, want one saying %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseRTSPURL(%q): %v", tc.in, err)
			continue
		}
		if u.String() != tc.url || tr != tc.transport {
			t.Errorf("parseRTSPURL(%q) = %q, %q; want %q, %q", tc.in, u, tr, tc.url, tc.transport)
		}
	}
}

func TestRedactHidesPasswordsKeysAndSRTSecrets(t *testing.T) {
	for in, want := range map[string]string{
		"rtsp://host:8554/cam":                "rtsp://host:8554/cam",
		"rtsp://user:secret@host:8554/cam":    "rtsp://user:xxxxx@host:8554/cam",
		"rtsp://user@host/cam":                "rtsp://user@host/cam",
		"rtsp://user:p%w@rd@host/cam":         "rtsp://xxxxx@host/cam",
		"rtsp://user:se cret@ho st/cam\x7f":   "rtsp://xxxxx@ho st/cam\x7f",
		"rtsp://user:secret@host/cam?a=b c#d": "rtsp://user:xxxxx@host/cam?a=b c#d",
		// RTMP: the stream key is a credential (YouTube, Twitch).
		"rtmp://host/live/abcd-efgh-ijkl":             "rtmp://host/live/xxxxx",
		"rtmps://u:secret@host:443/app/key?token=t0k": "rtmps://u:xxxxx@host:443/app/xxxxx",
		"rtmp://host:1935/live/a/b/c":                 "rtmp://host:1935/live/xxxxx",
		"rtmp://host/live":                            "rtmp://host/live",
		"rtmp://host":                                 "rtmp://host",
		"rtmp://u:p@ho st/live/key":                   "rtmp://xxxxx@ho st/xxxxx",
		"RTMP://host/live/key":                        "rtmp://host/live/xxxxx",
		// SRT: streamid and passphrase, whatever their spelling.
		"srt://host:9000":                                   "srt://host:9000",
		"srt://host:9000?streamid=cam&latency=200":          "srt://host:9000?streamid=xxxxx&latency=200",
		"srt://host:9000?passphrase=0123456789&pbkeylen=16": "srt://host:9000?passphrase=xxxxx&pbkeylen=16",
		"srt://host:9000?streamid=#!::r=live/cam,m=publish": "srt://host:9000?streamid=xxxxx",
		"srt://host:9000?StreamID=a;passphrase=secret123":   "srt://host:9000?streamid=xxxxx",
		"srt://host:9000?stream%69d=secret":                 "srt://host:9000?streamid=xxxxx",
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
		{URL: "rtmp://host/live/cam", Transport: "udp", Subscribe: sub},
		{URL: "srt://host:9000", Transport: "tcp", Subscribe: sub},
	} {
		if p, err := New(cfg); err == nil {
			p.Close()
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// TestCheckURL is the table of what each protocol accepts and what the
// errors say: which part is wrong and the form that is expected, never a
// secret.
func TestCheckURL(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{in: "rtsp://127.0.0.1:8554/cam"},
		{in: "rtsps://u:p@media.example/live/cam?transport=tcp"},
		{in: "rtmp://127.0.0.1/live/cam"},
		{in: "rtmp://127.0.0.1:1935/live/cam"},
		{in: "rtmps://live.example:443/app/key?token=1"},
		{in: "rtmp://u:p@[::1]:1935/live/a/b"},
		{in: "srt://127.0.0.1:9000"},
		{in: "srt://127.0.0.1:9000?streamid=cam&latency=200"},
		{in: "srt://[::1]:9000?mode=caller&transtype=live&passphrase=0123456789"},
		{in: "srt://host:9000?streamid=#!::r=live/cam,m=publish"},

		{in: "http://host/cam", err: `unsupported scheme "http" (want rtsp://, rtsps://, rtmp://, rtmps:// or srt://)`},
		{in: "host:8554/cam", err: "no scheme (want rtsp://"},
		{in: "rtsp://host", err: "no path (want rtsp://"},
		{in: "rtmp://host", err: "no application (want rtmp://[user:pass@]host[:port]/app/key"},
		{in: "rtmp://host/live", err: "no stream key (want rtmp://"},
		{in: "rtmp://host/live/", err: "no stream key"},
		{in: "rtmp:///live/cam", err: "no host"},
		{in: "rtmp://host:0/live/cam", err: `bad port "0"`},
		{in: "rtmp://host:/live/cam", err: "empty port"},
		{in: "rtmp://host:99999/live/cam", err: `bad port "99999"`},
		{in: "rtmp://host/live/cam#secret", err: "a fragment"},
		{in: "rtmp://ho st/live/cam", err: "want rtmp://"},
		{in: "srt://host", err: "no port (SRT has no default port)"},
		{in: "srt://:9000", err: "no host"},
		{in: "srt://host:x", err: "want srt://host:port"},
		{in: "srt://host:9000/cam", err: "no path (use ?streamid="},
		{in: "srt://u:hunter2@host:9000", err: "no user:pass@"},
		{in: "srt://host:9000?mode=listener", err: "mode=listener: framecast pushes as the caller"},
		{in: "srt://host:9000?transtype=file", err: "transtype=file"},
		{in: "srt://host:9000?passphrase=short", err: "passphrase"},
		{in: "srt://host:9000?streamid=" + strings.Repeat("s", 600), err: "want srt://host:port"},
		{in: "srt://host:9000?a=%zz", err: "parameters"},
	} {
		err := CheckURL(tc.in)
		if tc.err == "" {
			if err != nil {
				t.Errorf("CheckURL(%q): %v", tc.in, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("CheckURL(%q) = %v, want an error saying %q", tc.in, err, tc.err)
			continue
		}
		for _, secret := range []string{"hunter2", "secret", "0123456789", "ssssssssss"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("CheckURL(%q): the error shows a secret: %v", tc.in, err)
			}
		}
	}
}

// TestParseRTMPURLSplitsApplicationAndKey checks the URL given to
// gortmplib: the application as its path, the stream key (with the
// query) as its fragment, which is how it sends them in connect and
// publish.
func TestParseRTMPURLSplitsApplicationAndKey(t *testing.T) {
	for _, tc := range []struct{ in, scheme, user, host, app, key string }{
		{"rtmp://127.0.0.1:1935/live/cam", "rtmp", "", "127.0.0.1:1935", "/live", "cam"},
		{"RTMPS://a.example/live2/abcd-1234", "rtmps", "", "a.example", "/live2", "abcd-1234"},
		{"rtmp://u:p@h/app/a/b?token=x", "rtmp", "u:p", "h", "/app", "a/b?token=x"},
	} {
		u, err := parseRTMPURL(tc.in)
		if err != nil {
			t.Errorf("parseRTMPURL(%q): %v", tc.in, err)
			continue
		}
		if u.Scheme != tc.scheme || u.User.String() != tc.user || u.Host != tc.host || u.Path != tc.app ||
			u.Fragment != tc.key || u.RawQuery != "" {
			t.Errorf("parseRTMPURL(%q) = scheme %q user %q host %q app %q key %q query %q; want %q %q %q %q %q, no query",
				tc.in, u.Scheme, u.User.String(), u.Host, u.Path, u.Fragment, u.RawQuery, tc.scheme, tc.user, tc.host, tc.app, tc.key)
		}
	}
}

// TestParseSRTURLReadsTheParameters checks the configuration given to
// gosrt.
func TestParseSRTURLReadsTheParameters(t *testing.T) {
	addr, cfg, err := parseSRTURL("srt://127.0.0.1:9000?streamid=#!::r=live/cam,m=publish&latency=250&passphrase=0123456789abc&pbkeylen=32")
	if err != nil {
		t.Fatal(err)
	}
	if addr != "127.0.0.1:9000" || cfg.StreamId != "#!::r=live/cam,m=publish" || cfg.Passphrase != "0123456789abc" ||
		cfg.PBKeylen != 32 || cfg.Latency.Milliseconds() != 250 || cfg.PayloadSize != 7*188 {
		t.Errorf("addr %q, config %+v", addr, cfg)
	}
	if _, cfg, _ := parseSRTURL("srt://h:1"); cfg.StreamId != "" || cfg.Passphrase != "" || cfg.TransmissionType != "live" {
		t.Errorf("defaults: %+v", cfg)
	}
}

// FuzzCheckURL: no URL makes the parsers or Redact panic, an accepted URL
// is accepted again once redacted (its form is kept), and neither the
// redacted URL nor an error shows a password, a stream key, a streamid or
// a passphrase.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"rtsp://u:p@host:8554/cam?transport=udp", "rtsps://h/x", "rtmp://h/live/key", "rtmps://u:secretpw@h:443/a/k?t=1",
		"srt://h:9000?streamid=camera1&passphrase=0123456789", "srt://h:9000?streamid=#!::r=a,m=publish",
		"rtmp://h", "srt://h", "srt://h:9000?mode=listener", "http://h/x", "", "://", "rtmp://[::1]:1935/a/b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		red := Redact(raw)
		err := CheckURL(raw)
		var secrets []string
		if err == nil {
			secrets = secretsOf(t, raw)
			if err := CheckURL(red); err != nil && scheme(raw) != "srt" {
				// An SRT passphrase redacted to xxxxx is too short: only
				// SRT URLs may change validity.
				t.Errorf("CheckURL(%q) accepts it, but not its redacted form %q: %v", raw, red, err)
			}
		}
		for _, s := range secrets {
			if len(s) < 6 || strings.Contains(s, "x") {
				continue // would also match the rest of the URL, or the mask
			}
			rest := strings.Replace(raw, s, "", 1)
			if strings.Contains(rest, s) {
				continue // it appears elsewhere too (in the host, say)
			}
			if strings.Contains(red, s) {
				t.Errorf("Redact(%q) = %q shows the secret %q", raw, red, s)
			}
		}
	})
}

// secretsOf returns what Redact must hide in an accepted URL.
func secretsOf(t *testing.T, raw string) []string {
	switch scheme(raw) {
	case "rtsp", "rtsps":
		u, _, err := parseRTSPURL(raw)
		if err != nil {
			t.Fatal(err)
		}
		if u.User != nil {
			if p, ok := u.User.Password(); ok {
				return []string{p}
			}
		}
	case "rtmp", "rtmps":
		u, err := parseRTMPURL(raw)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{u.Fragment}
		if p, ok := u.User.Password(); ok {
			out = append(out, p)
		}
		return out
	case "srt":
		_, cfg, err := parseSRTURL(raw)
		if err != nil {
			t.Fatal(err)
		}
		return []string{cfg.StreamId, cfg.Passphrase}
	}
	return nil
}

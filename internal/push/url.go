package push

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	srt "github.com/datarhei/gosrt"
)

// Transport is how RTP packets travel to a remote RTSP server.
type Transport int

const (
	// TCP interleaves RTP in the RTSP connection: one port, through NAT
	// and firewalls, no loss. The default.
	TCP Transport = iota
	// UDP sends RTP to the ports the server gives in its SETUP answer.
	UDP
)

func (t Transport) String() string {
	if t == UDP {
		return "udp"
	}
	return "tcp"
}

// ParseTransport parses "tcp" or "udp" ("" is tcp).
func ParseTransport(s string) (Transport, error) {
	switch strings.ToLower(s) {
	case "", "tcp":
		return TCP, nil
	case "udp":
		return UDP, nil
	}
	return 0, fmt.Errorf("unknown push transport %q (want tcp or udp)", s)
}

// TransportParam is the URL query parameter that selects the transport
// of an RTSP push (rtsp://host:8554/cam?transport=udp). It is removed from
// the URL sent to the server.
const TransportParam = "transport"

// The URL forms each protocol takes, for errors.
var (
	errRTSPURL = errors.New("want rtsp://[user:pass@]host[:port]/path or rtsps://…")
	errRTMPURL = errors.New("want rtmp://[user:pass@]host[:port]/app/key or rtmps://…")
	errSRTURL  = errors.New("want srt://host:port[?streamid=…&passphrase=…&latency=ms]")
	errScheme  = errors.New("want rtsp://, rtsps://, rtmp://, rtmps:// or srt://")
)

// redacted replaces secrets in logged URLs.
const redacted = "xxxxx"

// CheckURL checks a push URL: rtsp:// or rtsps://, rtmp:// or rtmps://,
// or srt://. The error says what is wrong and which form is expected; it
// never holds the URL's secrets.
func CheckURL(raw string) error {
	_, err := parseTarget(raw)
	return err
}

// target is a parsed push URL: the protocol that reaches it, ready to
// connect.
type target struct {
	proto protocol
}

// scheme returns raw's scheme in lower case, or "".
func scheme(raw string) string {
	i := strings.Index(raw, "://")
	if i <= 0 {
		return ""
	}
	return strings.ToLower(raw[:i])
}

// parseTarget parses raw by its scheme.
func parseTarget(raw string) (target, error) {
	switch scheme(raw) {
	case "rtsp", "rtsps":
		u, tr, err := parseRTSPURL(raw)
		if err != nil {
			return target{}, err
		}
		t, _ := ParseTransport(tr) // checked by parseRTSPURL
		return target{proto: &rtspProtocol{u: u, tr: t}}, nil
	case "rtmp", "rtmps":
		u, err := parseRTMPURL(raw)
		if err != nil {
			return target{}, err
		}
		return target{proto: &rtmpProtocol{u: u}}, nil
	case "srt":
		addr, cfg, err := parseSRTURL(raw)
		if err != nil {
			return target{}, err
		}
		return target{proto: &srtProtocol{addr: addr, cfg: cfg}}, nil
	case "":
		return target{}, fmt.Errorf("push URL %s: no scheme (%w)", Redact(raw), errScheme)
	}
	return target{}, fmt.Errorf("push URL %s: unsupported scheme %q (%w)", Redact(raw), scheme(raw), errScheme)
}

// parseRTSPURL parses an RTSP push URL. It returns the URL to ANNOUNCE to
// (with the transport parameter removed, credentials kept) and the
// transport the URL asks for, if any ("" when it has no transport
// parameter).
func parseRTSPURL(raw string) (u *base.URL, transport string, err error) {
	u, err = base.ParseURL(raw)
	if err != nil {
		return nil, "", fmt.Errorf("push URL %s: %w (%w)", Redact(raw), err, errRTSPURL)
	}
	if u.Hostname() == "" {
		return nil, "", fmt.Errorf("push URL %s: no host (%w)", Redact(raw), errRTSPURL)
	}
	if u.Path == "" || u.Path == "/" {
		return nil, "", fmt.Errorf("push URL %s: no path (%w)", Redact(raw), errRTSPURL)
	}
	if u.RawQuery != "" {
		q := (*url.URL)(u).Query()
		if q.Has(TransportParam) {
			transport = q.Get(TransportParam)
			if _, err := ParseTransport(transport); err != nil {
				return nil, "", fmt.Errorf("push URL %s: %w", Redact(raw), err)
			}
			q.Del(TransportParam)
			u.RawQuery = q.Encode()
		}
	}
	return u, transport, nil
}

// parseRTMPURL parses rtmp://[user:pass@]host[:port]/app/key[?query]
// (or rtmps://) into the form gortmplib's client takes: the application
// as the path, the stream key (with the query, which servers read as part
// of the stream name) as the fragment. The key may hold slashes; the
// application is the first path segment, as ffmpeg and OBS split it.
func parseRTMPURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("push URL %s: %w (%w)", Redact(raw), unwrapURLError(err), errRTMPURL)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Opaque != "" || u.Hostname() == "" {
		return nil, fmt.Errorf("push URL %s: no host (%w)", Redact(raw), errRTMPURL)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("push URL %s: bad port %q (%w)", Redact(raw), p, errRTMPURL)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return nil, fmt.Errorf("push URL %s: empty port (%w)", Redact(raw), errRTMPURL)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("push URL %s: a fragment (#…) is not part of an RTMP URL (%w)", Redact(raw), errRTMPURL)
	}
	app, key, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if app == "" {
		return nil, fmt.Errorf("push URL %s: no application (%w)", Redact(raw), errRTMPURL)
	}
	if key == "" {
		return nil, fmt.Errorf("push URL %s: no stream key (%w)", Redact(raw), errRTMPURL)
	}
	if u.RawQuery != "" {
		key += "?" + u.RawQuery
	}
	return &url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host, Path: "/" + app, Fragment: key}, nil
}

// parseSRTURL parses srt://host:port?params with gosrt's own parser of
// the parameters srt-live-transmit and ffmpeg take (streamid, passphrase,
// latency, pbkeylen, conntimeo, …). framecast calls the remote: mode, if
// given, must be caller, and transtype live.
func parseSRTURL(raw string) (addr string, cfg srt.Config, err error) {
	fail := func(format string, a ...any) (string, srt.Config, error) {
		return "", srt.Config{}, fmt.Errorf("push URL %s: %s (%w)", Redact(raw), fmt.Sprintf(format, a...), errSRTURL)
	}
	// Everything after the first ? is parameters: a streamid such as
	// #!::r=live/cam,m=publish is often written without escaping its #.
	head, query, _ := strings.Cut(raw, "?")
	u, err := url.Parse(head)
	if err != nil {
		return fail("%v", unwrapURLError(err))
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return fail("no host")
	}
	port := u.Port()
	if port == "" {
		return fail("no port (SRT has no default port)")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fail("bad port %q", port)
	}
	if u.User != nil {
		return fail("SRT takes no user:pass@ (use ?passphrase=…)")
	}
	if u.Path != "" && u.Path != "/" {
		return fail("SRT takes no path (use ?streamid=…)")
	}
	if u.Fragment != "" {
		return fail("a fragment (#…) before the parameters")
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return fail("parameters: %v", err)
	}
	if m := q.Get("mode"); m != "" && m != "caller" {
		return fail("mode=%s: framecast pushes as the caller, the remote listens", m)
	}
	if tt := q.Get("transtype"); tt != "" && tt != "live" {
		return fail("transtype=%s: framecast pushes live MPEG-TS", tt)
	}
	cfg = srt.DefaultConfig()
	if err := cfg.UnmarshalQuery(query); err != nil {
		return fail("parameters: %v", err)
	}
	// Seven MPEG-TS packets per SRT packet, as every SRT receiver expects
	// of live MPEG-TS.
	cfg.PayloadSize = srtPayloadSize
	if err := cfg.Validate(); err != nil {
		return fail("%v", err)
	}
	return net.JoinHostPort(u.Hostname(), port), cfg, nil
}

// unwrapURLError drops url.Error's quoting of the whole URL, which would
// put its secrets in the error.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Redact returns raw with its secrets replaced by "xxxxx", for logs and
// errors: the password of rtsp:// and rtmp:// URLs, the stream key of
// rtmp:// URLs (everything after the application, query included), and
// the streamid and passphrase of srt:// URLs.
func Redact(raw string) string {
	switch scheme(raw) {
	case "rtmp", "rtmps":
		return redactRTMP(raw)
	case "srt":
		return redactSRT(raw)
	}
	if u, err := base.ParseURL(raw); err == nil {
		return (*url.URL)(u).Redacted()
	}
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return redactUserinfo(raw)
}

// redactUserinfo hides everything that may be userinfo in an unparsable
// URL.
func redactUserinfo(raw string) string {
	if i := strings.Index(raw, "://"); i >= 0 {
		if at := strings.LastIndex(raw, "@"); at > i {
			return raw[:i+3] + redacted + "@" + raw[at+1:]
		}
	}
	return raw
}

func redactRTMP(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		// Unparsable: keep the scheme and what looks like the host.
		s := redactUserinfo(raw)
		i := strings.Index(s, "://") + 3
		if j := strings.IndexAny(s[i:], "/?#"); j >= 0 {
			return s[:i+j] + "/" + redacted
		}
		return s
	}
	app, rest, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	var b strings.Builder
	b.WriteString(u.Scheme + "://")
	if u.User != nil {
		b.WriteString(u.User.Username())
		if _, ok := u.User.Password(); ok {
			b.WriteString(":" + redacted)
		}
		b.WriteString("@")
	}
	b.WriteString(u.Host)
	if app != "" || strings.HasPrefix(u.Path, "/") {
		b.WriteString("/" + app)
	}
	if rest != "" || u.RawQuery != "" || u.Fragment != "" {
		b.WriteString("/" + redacted)
	}
	return b.String()
}

// srtSecrets are the SRT URL parameters Redact hides.
var srtSecrets = [...]string{"streamid", "passphrase"}

func redactSRT(raw string) string {
	head, query, ok := strings.Cut(raw, "?")
	head = redactUserinfo(head)
	if !ok {
		return head
	}
	parts := strings.Split(query, "&")
	for i, kv := range parts {
		k, _, _ := strings.Cut(kv, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		k = strings.ToLower(k)
		for _, s := range srtSecrets {
			if strings.Contains(k, s) {
				parts[i] = s + "=" + redacted
			}
		}
	}
	return head + "?" + strings.Join(parts, "&")
}

package push

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
)

// Transport is how RTP packets travel to the remote server.
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
// (rtsp://host:8554/cam?transport=udp). It is removed from the URL sent to
// the server.
const TransportParam = "transport"

var errURL = errors.New("want rtsp://[user:pass@]host[:port]/path or rtsps://…")

// ParseURL parses a push URL. It returns the URL to ANNOUNCE to (with the
// transport parameter removed, credentials kept) and the transport the URL
// asks for, if any ("" when it has no transport parameter).
func ParseURL(raw string) (u *base.URL, transport string, err error) {
	u, err = base.ParseURL(raw)
	if err != nil {
		return nil, "", fmt.Errorf("push URL %s: %w (%w)", Redact(raw), err, errURL)
	}
	if u.Hostname() == "" {
		return nil, "", fmt.Errorf("push URL %s: no host (%w)", Redact(raw), errURL)
	}
	if u.Path == "" || u.Path == "/" {
		return nil, "", fmt.Errorf("push URL %s: no path (%w)", Redact(raw), errURL)
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

// Redact returns raw with its password replaced by "xxxxx", for logs and
// errors.
func Redact(raw string) string {
	if u, err := base.ParseURL(raw); err == nil {
		return (*url.URL)(u).Redacted()
	}
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	// Unparsable: hide everything that may be userinfo.
	if i := strings.Index(raw, "://"); i >= 0 {
		if at := strings.LastIndex(raw, "@"); at > i {
			return raw[:i+3] + "xxxxx@" + raw[at+1:]
		}
	}
	return raw
}

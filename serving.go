package framecast

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/framecast/framecast/internal/ingest"
)

// Transport names, as Config.Transports and `framecast serve --transports`
// take them.
const (
	TransportUDP       = "udp"       // RTP over UDP, unicast
	TransportTCP       = "tcp"       // RTP interleaved in the RTSP connection
	TransportMulticast = "multicast" // RTP over UDP multicast
)

// Defaults of the multicast transport.
const (
	DefaultMulticastIPRange  = "224.1.0.0/16"
	DefaultMulticastRTPPort  = 8002
	DefaultMulticastRTCPPort = 8003
)

// ErrTooManyProducers is returned by Publish when the server already has
// Config.MaxProducers producers.
var ErrTooManyProducers = errors.New("the server has its maximum number of producers")

// transports are the RTP transports a Server offers.
type transports struct{ udp, tcp, multicast bool }

func (t transports) String() string {
	var names []string
	for _, n := range []struct {
		on   bool
		name string
	}{{t.udp, TransportUDP}, {t.tcp, TransportTCP}, {t.multicast, TransportMulticast}} {
		if n.on {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ",")
}

// ParseTransports parses a comma-separated list of transports such as
// "udp,tcp,multicast", as `framecast serve --transports` takes it.
func ParseTransports(s string) ([]string, error) {
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		switch name {
		case TransportUDP, TransportTCP, TransportMulticast:
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
		default:
			return nil, fmt.Errorf("unknown transport %q (want udp, tcp or multicast, separated by commas)", name)
		}
	}
	return out, nil
}

// resolveTransports applies the defaults of Transports, DisableUDP and the
// multicast settings to cfg and says which transports are on.
func resolveTransports(cfg *Config) (transports, error) {
	var t transports
	names := cfg.Transports
	if len(names) == 0 {
		names = []string{TransportUDP, TransportTCP}
		if cfg.MulticastIPRange != "" {
			names = append(names, TransportMulticast)
		}
	}
	for _, n := range names {
		switch n {
		case TransportUDP:
			t.udp = true
		case TransportTCP:
			t.tcp = true
		case TransportMulticast:
			t.multicast = true
		default:
			return t, fmt.Errorf("unknown transport %q (want %s, %s or %s)", n, TransportUDP, TransportTCP, TransportMulticast)
		}
	}
	if cfg.DisableUDP {
		t.udp = false
	}
	if t == (transports{}) {
		return t, errors.New("no RTP transport enabled: want at least one of udp, tcp and multicast")
	}
	if t.multicast {
		if cfg.MulticastIPRange == "" {
			cfg.MulticastIPRange = DefaultMulticastIPRange
		}
		ip, _, err := net.ParseCIDR(cfg.MulticastIPRange)
		if err != nil || ip.To4() == nil || !ip.IsMulticast() {
			return t, fmt.Errorf("multicast range %q: want an IPv4 multicast range such as %s", cfg.MulticastIPRange, DefaultMulticastIPRange)
		}
		if cfg.MulticastRTPPort == 0 && cfg.MulticastRTCPPort == 0 {
			cfg.MulticastRTPPort, cfg.MulticastRTCPPort = DefaultMulticastRTPPort, DefaultMulticastRTCPPort
		}
		if p := cfg.MulticastRTPPort; p <= 0 || p%2 != 0 || p > 65534 || cfg.MulticastRTCPPort != p+1 {
			return t, fmt.Errorf("multicast ports %d and %d: want an even port and the next one", p, cfg.MulticastRTCPPort)
		}
	} else {
		cfg.MulticastIPRange = ""
		cfg.MulticastRTPPort, cfg.MulticastRTCPPort = 0, 0
	}
	if !t.udp {
		cfg.UDPRTPAddress, cfg.UDPRTCPAddress = "", ""
	} else {
		if cfg.UDPRTPAddress == "" {
			cfg.UDPRTPAddress = ":8000"
		}
		if cfg.UDPRTCPAddress == "" {
			cfg.UDPRTCPAddress = ":8001"
		}
	}
	return t, nil
}

// loadTLS loads the certificate and key of RTSPS, or returns nil when
// neither is configured.
func loadTLS(cfg *Config) (*tls.Config, error) {
	if cfg.TLSCert == "" && cfg.TLSKey == "" {
		return nil, nil
	}
	if cfg.TLSCert == "" || cfg.TLSKey == "" {
		return nil, errors.New("RTSPS needs both a certificate (TLSCert) and its key (TLSKey)")
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("RTSPS certificate %s and key %s: %w", cfg.TLSCert, cfg.TLSKey, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// tooManyProducers is the ingest ERROR for a producer beyond MaxProducers.
func (s *Server) tooManyProducers() *ingest.Error {
	return &ingest.Error{Code: ingest.CodeTooManyProducers, Fatal: true,
		Message: fmt.Sprintf("the server has its maximum of %d producers; try again when one leaves", s.cfg.MaxProducers)}
}

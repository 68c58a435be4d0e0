package main

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/pathname"
)

// fileConfig is the YAML configuration of "framecast serve --config FILE".
// Every key is optional; flags given on the command line override it.
// framecast.example.yml documents each key.
type fileConfig struct {
	RTSP           *string                         `yaml:"rtsp"`
	UDPRTP         *string                         `yaml:"udp_rtp"`
	UDPRTCP        *string                         `yaml:"udp_rtcp"`
	NoUDP          *bool                           `yaml:"no_udp"`
	Ingest         []string                        `yaml:"ingest"`
	Push           []string                        `yaml:"push"` // PATH=URL, as --push
	HTTP           *string                         `yaml:"http"`
	Encoder        encoderFile                     `yaml:"encoder"`
	IDROnJoin      *bool                           `yaml:"idr_on_join"`
	WhenFull       *yamlText[framecast.WhenFull]   `yaml:"when_full"`
	Idle           *yamlText[framecast.IdlePolicy] `yaml:"idle"`
	AlwaysEncode   *bool                           `yaml:"always_encode"`
	StatusInterval *yamlDuration                   `yaml:"status_interval"`
	Linger         *yamlDuration                   `yaml:"linger"`
	Audio          *yamlText[framecast.Audio]      `yaml:"audio"`

	IngestHelloTimeout    *yamlDuration `yaml:"ingest_hello_timeout"`
	MaxIngestPending      *int          `yaml:"max_ingest_pending"`
	MaxIngestPendingPerIP *int          `yaml:"max_ingest_pending_per_ip"`
	MaxIngestMemoryMiB    *int          `yaml:"max_ingest_memory_mib"`
	LogLevel              *string       `yaml:"log_level"`
	Streams               []streamFile  `yaml:"streams"`

	Transports        []string   `yaml:"transports"`
	MulticastRange    *string    `yaml:"multicast_range"`
	MulticastRTPPort  *int       `yaml:"multicast_rtp_port"`
	MulticastRTCPPort *int       `yaml:"multicast_rtcp_port"`
	TLS               tlsFile    `yaml:"tls"`
	MaxViewers        *int       `yaml:"max_viewers"`
	MaxViewersPerPath *int       `yaml:"max_viewers_per_path"`
	MaxProducers      *int       `yaml:"max_producers"`
	Auth              []authFile `yaml:"auth"`
	// MetricsAuth are the Basic credentials /metrics asks for; none: it
	// answers anyone, without the paths they may not read.
	MetricsAuth []credentialsFile `yaml:"metrics_auth"`
}

type tlsFile struct {
	Cert *string `yaml:"cert"`
	Key  *string `yaml:"key"`
}

// authFile is the credentials of one path ("*" for every other path).
type authFile struct {
	Path    string            `yaml:"path"`
	Read    []credentialsFile `yaml:"read"`
	Publish []credentialsFile `yaml:"publish"`
}

// credentialsFile is a user and password; pass may be "sha256:HEX" so the
// file holds no plain secret. A publish entry without user is a token.
type credentialsFile struct {
	User string `yaml:"user"`
	Pass string `yaml:"pass"`
}

type encoderFile struct {
	Bitrate *int     `yaml:"bitrate"`
	CRF     *float64 `yaml:"crf"`
	GOP     *int     `yaml:"gop"`
	Preset  *string  `yaml:"preset"`
	Tune    *string  `yaml:"tune"`
	Profile *string  `yaml:"profile"`
	Threads *int     `yaml:"threads"`
}

// streamFile is one served path.
type streamFile struct {
	Path    string                           `yaml:"path"`
	Source  string                           `yaml:"source"` // testsrc, stdin or ingest
	Size    string                           `yaml:"size"`
	FPS     float64                          `yaml:"fps"`
	PixFmt  *yamlText[framecast.PixelFormat] `yaml:"pix_fmt"`
	Encoder *encoderFile                     `yaml:"encoder"`
	Audio   *yamlText[framecast.Audio]       `yaml:"audio"` // none or silent; default: the top-level audio
	line    int
}

type yamlDuration struct{ time.Duration }

func (d *yamlDuration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 10s)", n.Line, n.Value)
	}
	d.Duration = v
	return nil
}

// yamlText is a setting whose type parses itself (flags take the same
// type through flag.TextVar); its errors name the line.
type yamlText[T any] struct{ v T }

func (y *yamlText[T]) UnmarshalYAML(n *yaml.Node) error {
	u, ok := any(&y.v).(encoding.TextUnmarshaler)
	if !ok {
		return fmt.Errorf("line %d: %T does not parse text", n.Line, y.v)
	}
	if err := u.UnmarshalText([]byte(n.Value)); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

func (s *streamFile) UnmarshalYAML(n *yaml.Node) error {
	type plain streamFile
	if err := n.Decode((*plain)(s)); err != nil {
		return err
	}
	s.line = n.Line
	return nil
}

var unknownField = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)

// loadConfig reads and checks a configuration file. Unknown keys are errors
// that name the key and its line.
func loadConfig(path string) (*fileConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var c fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
		msg = unknownField.ReplaceAllString(msg, `line $1: unknown key "$2"`)
		msg = strings.ReplaceAll(msg, "\n  ", "; ")
		return nil, fmt.Errorf("config %s: %s", path, msg)
	}
	for i, s := range c.Streams {
		where := fmt.Sprintf("config %s: line %d: stream %d", path, s.line, i+1)
		if err := pathname.Check(s.Path); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		switch s.Source {
		case "testsrc", "stdin":
		case "ingest":
			if s.Encoder != nil || s.Size != "" || s.PixFmt != nil {
				return nil, fmt.Errorf("%s (%s): an ingest stream takes its size, format and encoder options from its producer", where, s.Path)
			}
		default:
			return nil, fmt.Errorf("%s (%s): source %q: want testsrc, stdin or ingest", where, s.Path, s.Source)
		}
		if s.Size != "" {
			if _, _, err := parseSize(s.Size); err != nil {
				return nil, fmt.Errorf("%s (%s): %v", where, s.Path, strings.Replace(err.Error(), "--size", "size", 1))
			}
		}
	}
	return &c, nil
}

// configFlag finds --config FILE (or --config=FILE) in args before the flags
// are parsed, so the file's values can become the flags' defaults.
func configFlag(args []string) string {
	for i, a := range args {
		a = strings.TrimLeft(a, "-")
		if v, ok := strings.CutPrefix(a, "config="); ok {
			return v
		}
		if a == "config" && i+1 < len(args) && strings.HasPrefix(args[i], "-") {
			return args[i+1]
		}
		if args[i] == "--" {
			break
		}
	}
	return ""
}

// apply sets the flags' values from the file; flags parsed afterwards
// override them.
func (c *fileConfig) apply(f *serveFlags) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&f.rtsp, c.RTSP)
	set(&f.udpRTP, c.UDPRTP)
	set(&f.udpRTCP, c.UDPRTCP)
	if c.NoUDP != nil {
		f.noUDP = *c.NoUDP
	}
	if c.Ingest != nil {
		f.ingest.vals = nil
		for _, u := range c.Ingest {
			if u != "" && u != "none" {
				f.ingest.vals = append(f.ingest.vals, u)
			}
		}
	}
	set(&f.http, c.HTTP)
	if c.Push != nil {
		f.push.vals = c.Push
	}
	c.Encoder.applyTo(&f.bitrate, &f.crf, &f.gop, &f.preset, &f.tune, &f.profile, &f.threads)
	if c.IDROnJoin != nil {
		f.idrOnJoin = *c.IDROnJoin
	}
	if c.WhenFull != nil {
		f.whenFull = c.WhenFull.v
	}
	if c.Audio != nil {
		f.audio = c.Audio.v
	}
	if c.Idle != nil {
		f.idle = c.Idle.v
	}
	if c.AlwaysEncode != nil {
		f.alwaysEncode = *c.AlwaysEncode
	}
	if c.StatusInterval != nil {
		f.status = c.StatusInterval.Duration
	}
	if c.Linger != nil {
		f.linger = c.Linger.Duration
	}
	if c.IngestHelloTimeout != nil {
		f.helloTimeout = c.IngestHelloTimeout.Duration
	}
	for dst, v := range map[*int]*int{&f.maxUnauth: c.MaxIngestPending, &f.maxUnauthIP: c.MaxIngestPendingPerIP, &f.maxIngestMiB: c.MaxIngestMemoryMiB} {
		if v != nil {
			*dst = *v
		}
	}
	set(&f.logLevel, c.LogLevel)
	if c.Transports != nil {
		f.transports = strings.Join(c.Transports, ",")
	}
	set(&f.multicastRange, c.MulticastRange)
	setInt := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	setInt(&f.multicastRTP, c.MulticastRTPPort)
	setInt(&f.multicastRTCP, c.MulticastRTCPPort)
	set(&f.tlsCert, c.TLS.Cert)
	set(&f.tlsKey, c.TLS.Key)
	setInt(&f.maxViewers, c.MaxViewers)
	setInt(&f.maxPerPath, c.MaxViewersPerPath)
	setInt(&f.maxProducer, c.MaxProducers)
	for _, a := range c.Auth {
		pa := framecast.PathAuth{Path: a.Path}
		for _, r := range a.Read {
			pa.Read = append(pa.Read, framecast.Credentials(r))
		}
		for _, p := range a.Publish {
			pa.Publish = append(pa.Publish, framecast.Credentials(p))
		}
		f.auth = append(f.auth, pa)
	}
	for _, m := range c.MetricsAuth {
		f.metricsAuth = append(f.metricsAuth, framecast.Credentials(m))
	}
}

func (e *encoderFile) applyTo(bitrate *int, crf *float64, gop *int, preset, tune, profile *string, threads *int) {
	if e == nil {
		return
	}
	if e.Bitrate != nil {
		*bitrate = *e.Bitrate
	}
	if e.CRF != nil {
		*crf = *e.CRF
	}
	if e.GOP != nil {
		*gop = *e.GOP
	}
	if e.Preset != nil {
		*preset = *e.Preset
	}
	if e.Tune != nil {
		*tune = *e.Tune
	}
	if e.Profile != nil {
		*profile = *e.Profile
	}
	if e.Threads != nil {
		*threads = *e.Threads
	}
}

package framecast

import "fmt"

// Audio is the audio track a path's stream carries beside its video.
type Audio int

const (
	// AudioNone sends video only.
	AudioNone Audio = iota
	// AudioSilent adds a silent AAC-LC track (48 kHz stereo) timed by the
	// video, to RTSP, HLS and the pushes: YouTube refuses a live stream
	// without audio, and some NVR recording presets expect one. It costs
	// no encoder: every frame is the same 7 bytes.
	AudioSilent
)

// String is the track's name: "none" or "silent".
func (a Audio) String() string {
	if a == AudioSilent {
		return "silent"
	}
	return "none"
}

// MarshalText returns the track's name.
func (a Audio) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText parses "none" or "silent".
func (a *Audio) UnmarshalText(b []byte) error {
	switch string(b) {
	case "none", "":
		*a = AudioNone
	case "silent":
		*a = AudioSilent
	default:
		return fmt.Errorf("unknown audio track %q (want none or silent)", b)
	}
	return nil
}

// PathAudio is the audio track path's stream carries: Config.PathAudio's
// entry for it, else Config.Audio. It is fixed for the server's life, so
// it is known before the path is published.
func (s *Server) PathAudio(path string) Audio {
	if a, ok := s.cfg.PathAudio[path]; ok {
		return a
	}
	return s.cfg.Audio
}

package publisher

import "github.com/framecast/framecast/pixfmt"

// Format describes the frames a producer sends. It is framecast.Format's
// twin for a program that only publishes: the same fields, without
// importing the server.
type Format struct {
	PixelFormat pixfmt.PixelFormat
	// Width and Height in pixels: even, 2 to 8192.
	Width, Height int
	// Stride is the byte length of one row of the first plane; 0 means
	// tightly packed rows. See package pixfmt for the layout rules.
	Stride int
	// FPS is the nominal frame rate; 0 means 30. Frames may still arrive at
	// any rate: their timestamps, not FPS, set when they play.
	FPS float64
	// Encoder, when not nil, is sent as the stream's encoder options; its
	// zero fields take the server's defaults.
	Encoder *EncoderConfig
}

// FrameSize is the byte size of one frame of f with every plane whole:
// pixfmt's FrameSize, for f.Stride.
func (f Format) FrameSize() int {
	return f.PixelFormat.FrameSize(f.Width, f.Height, f.Stride)
}

// EncoderConfig asks the server to encode a stream with these libx264
// settings instead of its defaults; a zero field is left to the server. The
// fields are framecast.EncoderConfig's.
type EncoderConfig struct {
	// BitrateKbps is the target bitrate in kbit/s (constant bitrate).
	BitrateKbps int
	// CRF is x264's constant rate factor, used when BitrateKbps is 0.
	CRF float64
	// GOP is the distance between IDR frames in frames.
	GOP int
	// Preset, Tune and Profile are x264's names.
	Preset, Tune, Profile string
	// Threads is x264's thread count; 0 lets x264 choose.
	Threads int
}

package framecast

import (
	"fmt"
	"math"

	"github.com/framecast/framecast/pixfmt"
)

// PixelFormat is the layout of a raw frame, named as ffmpeg's -pix_fmt names
// it. It is package pixfmt's, which also holds the layout rules.
type PixelFormat = pixfmt.PixelFormat

// The pixel formats a stream accepts. Every one is converted to I420 by libyuv
// (BT.601, limited range) before encoding.
const (
	BGR24   = pixfmt.BGR24   // B, G, R bytes per pixel: OpenCV's default
	RGB24   = pixfmt.RGB24   // R, G, B bytes per pixel
	BGRA    = pixfmt.BGRA    // B, G, R, A bytes per pixel
	RGBA    = pixfmt.RGBA    // R, G, B, A bytes per pixel: image.RGBA's layout
	Gray    = pixfmt.Gray    // one luma byte per pixel
	YUV420P = pixfmt.YUV420P // I420: a Y plane, then U, then V at half size
	NV12    = pixfmt.NV12    // a Y plane, then interleaved U, V at half size
	YUYV422 = pixfmt.YUYV422 // packed Y0 U Y1 V
)

// ParsePixelFormat returns the pixel format named by ffmpeg's -pix_fmt name,
// e.g. "bgr24": pixfmt.Parse.
func ParsePixelFormat(name string) (PixelFormat, error) {
	return pixfmt.Parse(name)
}

// Format describes the frames a producer writes to a stream.
type Format struct {
	PixelFormat PixelFormat
	// Width and Height in pixels. H.264 in 4:2:0 needs both even.
	Width, Height int
	// Stride is the byte length of one row of the first plane; 0 means
	// tightly packed rows. Planar formats' chroma rows follow package
	// pixfmt's layout rules.
	Stride int
	// FPS is the nominal frame rate, used for rate control and the GOP
	// length; 0 means 30. Frames may still arrive at any rate: their
	// timestamps, not FPS, set when they play.
	FPS float64
	// Encoder overrides the server's default encoder settings for this
	// stream when not nil.
	Encoder *EncoderConfig
}

// FrameSize is the byte size of one frame of f with every plane whole: the
// tight size when Stride is 0 (pixfmt's FrameSize).
func (f Format) FrameSize() int {
	return f.PixelFormat.FrameSize(f.Width, f.Height, f.Stride)
}

func (f Format) withDefaults() Format {
	if f.FPS == 0 {
		f.FPS = 30
	}
	return f
}

func (f Format) validate() error {
	if !f.PixelFormat.Valid() {
		return fmt.Errorf("%w %d", pixfmt.ErrUnknown, int(f.PixelFormat))
	}
	if f.Width <= 0 || f.Height <= 0 || f.Width%2 != 0 || f.Height%2 != 0 {
		return fmt.Errorf("size %dx%d: width and height must be positive and even", f.Width, f.Height)
	}
	if f.FPS <= 0 || f.FPS > 1000 || math.IsNaN(f.FPS) {
		return fmt.Errorf("frame rate %g: want more than 0 and at most 1000", f.FPS)
	}
	if err := pixfmt.CheckStride(f.PixelFormat, f.Width, f.Stride); err != nil {
		return err
	}
	return nil
}

// fpsRational turns a frame rate into a fraction x264 takes (29.97 → 30000/1001).
func fpsRational(fps float64) (num, den int) {
	for _, d := range []int{1, 1001, 1000} {
		n := fps * float64(d)
		if math.Abs(n-math.Round(n)) < 1e-3*float64(d)/1000 {
			return int(math.Round(n)), d
		}
	}
	return int(math.Round(fps * 1000)), 1000
}

// EncoderConfig sets how a stream is encoded with libx264. The zero value is
// the live default: preset ultrafast, tune zerolatency, profile high, no
// B-frames, SPS/PPS before every IDR, a 2 s GOP, and a bitrate chosen from the
// size and frame rate.
type EncoderConfig struct {
	// BitrateKbps is the target bitrate in kbit/s (constant bitrate with a
	// VBV buffer of half a second). 0 with CRF 0 picks a bitrate from the
	// picture size and rate (about 0.07 bits per pixel: 720p30 ≈ 1.9 Mbit/s).
	BitrateKbps int
	// CRF is x264's constant rate factor (quality-based, variable bitrate),
	// used when BitrateKbps is 0 and CRF is above 0.
	CRF float64
	// GOP is the distance between IDR frames in frames; 0 means 2 s.
	GOP int
	// Preset, Tune and Profile are x264's names; empty means ultrafast,
	// zerolatency and high.
	Preset, Tune, Profile string
	// Threads is x264's thread count; 0 lets x264 choose.
	Threads int
}

// merge fills e's zero fields from def.
func (e EncoderConfig) merge(def EncoderConfig) EncoderConfig {
	if e.BitrateKbps == 0 && e.CRF == 0 {
		e.BitrateKbps, e.CRF = def.BitrateKbps, def.CRF
	}
	if e.GOP == 0 {
		e.GOP = def.GOP
	}
	if e.Preset == "" {
		e.Preset = def.Preset
	}
	if e.Tune == "" {
		e.Tune = def.Tune
	}
	if e.Profile == "" {
		e.Profile = def.Profile
	}
	if e.Threads == 0 {
		e.Threads = def.Threads
	}
	return e
}

// autoBitrate is about 0.07 bits per pixel per frame, in kbit/s.
func autoBitrate(w, h int, fps float64) int {
	return max(100, int(float64(w*h)*fps*0.07/1000))
}

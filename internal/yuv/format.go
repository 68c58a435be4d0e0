package yuv

import "github.com/framecast/framecast/pixfmt"

// Format is a pixel format; its names and layout rules are package
// pixfmt's.
type Format = pixfmt.PixelFormat

// The pixel formats Convert accepts.
const (
	BGR24   = pixfmt.BGR24
	RGB24   = pixfmt.RGB24
	BGRA    = pixfmt.BGRA
	RGBA    = pixfmt.RGBA
	Gray    = pixfmt.Gray
	YUV420P = pixfmt.YUV420P
	NV12    = pixfmt.NV12
	YUYV422 = pixfmt.YUYV422
)

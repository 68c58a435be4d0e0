// Package testsrc draws framecast's test pattern: fixed colour bars whose
// colours are known (so tests can check decoded pixels), a moving box, a frame
// counter and a clock as digits, and the frame number as a row of black and
// white blocks that survive compression. It is a source in framecast's
// pipeline (source → convert → encode → fan-out) and draws bgr24, the layout
// OpenCV producers send.
package testsrc

import (
	"time"
)

// Bar is one colour bar: its colour as bytes B, G, R.
type Bar struct {
	Name    string
	B, G, R byte
}

// Bars are the colour bars across the top half of the pattern, left to right,
// each 1/len(Bars) of the width.
var Bars = [...]Bar{
	{"white", 255, 255, 255},
	{"yellow", 0, 255, 255},
	{"cyan", 255, 255, 0},
	{"green", 0, 255, 0},
	{"magenta", 255, 0, 255},
	{"red", 0, 0, 255},
	{"blue", 255, 0, 0},
	{"black", 0, 0, 0},
}

// Pattern draws frames of one size. It keeps the static part drawn once and
// reuses it; it is not safe for concurrent use.
type Pattern struct {
	W, H  int
	still []byte // background and bars, drawn once
	scale int    // pixel size of one font dot
}

// New makes a pattern of w x h pixels.
func New(w, h int) *Pattern {
	p := &Pattern{W: w, H: h, still: make([]byte, w*h*3), scale: max(1, h/120)}
	for y := range h {
		row := p.still[y*w*3 : (y+1)*w*3]
		for x := range w {
			var b, g, r byte = 48, 48, 48
			if y < h/2 {
				bar := Bars[x*len(Bars)/w]
				b, g, r = bar.B, bar.G, bar.R
			}
			row[x*3], row[x*3+1], row[x*3+2] = b, g, r
		}
	}
	return p
}

// FrameSize is the byte size of one bgr24 frame.
func (p *Pattern) FrameSize() int { return p.W * p.H * 3 }

// BarCenter is the pixel at the middle of bar i (x, y).
func (p *Pattern) BarCenter(i int) (x, y int) {
	return (2*i + 1) * p.W / (2 * len(Bars)), p.H / 4
}

// Draw draws frame n, shown at time t, into dst (p.FrameSize() bytes, bgr24).
func (p *Pattern) Draw(dst []byte, n uint32, t time.Time) {
	copy(dst, p.still)
	// A box that crosses the lower half, one width per 2 s at 30 fps.
	bw := max(4, p.W/10)
	span := p.W - bw
	pos := int(n*uint32(max(1, p.W/60))) % (2 * max(1, span))
	if pos > span {
		pos = 2*span - pos
	}
	p.fill(dst, pos, p.H/2+p.H/16, bw, p.H/8, 0, 160, 255)

	s := p.scale
	var text [20]byte
	txt := appendDigits(text[:0], n, 8)
	txt = append(txt, ' ')
	c := t.Local()
	txt = appendDigits(txt, uint32(c.Hour()), 2)
	txt = append(txt, ':')
	txt = appendDigits(txt, uint32(c.Minute()), 2)
	txt = append(txt, ':')
	txt = appendDigits(txt, uint32(c.Second()), 2)
	txt = append(txt, '.')
	txt = appendDigits(txt, uint32(c.Nanosecond()/1e6), 3)
	p.text(dst, 2*s, p.H*3/4, txt)

	StampNumber(dst, p.W, p.H, p.W*3, 3, n)
}

func (p *Pattern) fill(dst []byte, x0, y0, w, h int, b, g, r byte) {
	for y := max(0, y0); y < min(p.H, y0+h); y++ {
		row := dst[y*p.W*3:]
		for x := max(0, x0); x < min(p.W, x0+w); x++ {
			row[x*3], row[x*3+1], row[x*3+2] = b, g, r
		}
	}
}

func (p *Pattern) text(dst []byte, x, y int, s []byte) {
	d := p.scale
	for _, ch := range s {
		glyph := font[glyphIndex(ch)]
		for gy, bits := range glyph {
			for gx := range 5 {
				if bits&(0x10>>gx) != 0 {
					p.fill(dst, x+gx*d, y+gy*d, d, d, 255, 255, 255)
				}
			}
		}
		x += 6 * d
	}
}

func appendDigits(b []byte, v uint32, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		d := v
		for range i {
			d /= 10
		}
		b = append(b, byte('0'+d%10))
	}
	return b
}

func glyphIndex(ch byte) int {
	switch {
	case ch >= '0' && ch <= '9':
		return int(ch - '0')
	case ch == ':':
		return 10
	case ch == '.':
		return 11
	}
	return 12
}

// font is a 5x7 dot font: digits, ':', '.', and blank.
var font = [13][7]byte{
	{0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e},
	{0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e},
	{0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f},
	{0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e},
	{0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02},
	{0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e},
	{0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e},
	{0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},
	{0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e},
	{0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c},
	{0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00},
	{0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c},
	{},
}

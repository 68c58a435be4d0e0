package yuv

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/framecast/framecast/pixfmt"
)

// Test patterns. Each sample depends on its position, so a sample landing in
// the wrong place (plane swap, transposition, stride mix-up) shows.
func patY(x, y int) byte   { return byte(16 + (x*7+y*13)%220) }
func patU(cx, cy int) byte { return byte(20 + (cx*11+cy*3)%200) }
func patV(cx, cy int) byte { return byte(30 + (cx*5+cy*17)%190) }
func patRGB(x, y int) [4]byte {
	return [4]byte{byte(x*37 + y*11), byte(x*5 + y*71), byte(x*101 + y*3), byte(x * y)}
}

const garbage = 0xEE

// makeFrame builds a w x h frame of f in the layout Convert documents for
// the given stride (0: tight), filling every byte that is not a sample with
// garbage. RGB formats hold patRGB; the YUV formats and gray hold patY,
// patU and patV. color, if non-nil, overrides patRGB for the RGB formats.
func makeFrame(f Format, w, h, stride int, color func(x, y int) [4]byte) []byte {
	tight := stride == 0
	if tight {
		stride = f.MinStride(w)
	}
	buf := bytes.Repeat([]byte{garbage}, f.MinFrameSize(w, h, stride))
	// The chroma planes follow the first plane, as pixfmt lays them out.
	stride1 := f.ChromaStride(stride)
	off1 := stride * h
	off2 := off1 + stride1*((h+1)/2)
	if color == nil {
		color = patRGB
	}
	cw, ch := chroma(w, h)
	for y := 0; y < h; y++ {
		row := buf[y*stride:]
		for x := 0; x < w; x++ {
			c := color(x, y)
			r, g, b, a := c[0], c[1], c[2], c[3]
			switch f {
			case BGR24:
				copy(row[3*x:], []byte{b, g, r})
			case RGB24:
				copy(row[3*x:], []byte{r, g, b})
			case BGRA:
				copy(row[4*x:], []byte{b, g, r, a})
			case RGBA:
				copy(row[4*x:], []byte{r, g, b, a})
			case Gray, YUV420P, NV12:
				row[x] = patY(x, y)
			case YUYV422:
				row[2*x] = patY(x, y)
				if x%2 == 0 {
					row[2*x+1] = patU(x/2, y/2)
					row[2*x+3] = patV(x/2, y/2)
				}
			}
		}
		if f == YUYV422 && w%2 == 1 {
			row[2*w] = patY(w-1, y) // duplicate the last pixel into the pad slot
		}
	}
	switch f {
	case YUV420P:
		for cy := 0; cy < ch; cy++ {
			for cx := 0; cx < cw; cx++ {
				buf[off1+cy*stride1+cx] = patU(cx, cy)
				buf[off2+cy*stride1+cx] = patV(cx, cy)
			}
		}
	case NV12:
		for cy := 0; cy < ch; cy++ {
			for cx := 0; cx < cw; cx++ {
				buf[off1+cy*stride1+2*cx] = patU(cx, cy)
				buf[off1+cy*stride1+2*cx+1] = patV(cx, cy)
			}
		}
	}
	if tight && len(buf) != f.FrameSize(w, h, 0) {
		panic(fmt.Sprintf("makeFrame: %d bytes, FrameSize %d", len(buf), f.FrameSize(w, h, 0)))
	}
	return buf
}

// rows returns the samples of a plane without the stride padding.
func rows(p []byte, stride, w, h int) []byte {
	out := make([]byte, 0, w*h)
	for y := 0; y < h; y++ {
		out = append(out, p[y*stride:y*stride+w]...)
	}
	return out
}

func samples(p *I420) (y, u, v []byte) {
	cw, ch := chroma(p.Width, p.Height)
	return rows(p.Y, p.StrideY, p.Width, p.Height), rows(p.U, p.StrideU, cw, ch), rows(p.V, p.StrideV, cw, ch)
}

// TestConvertTakesWhatPixfmtSays checks the converter against the layout
// rules of package pixfmt, which producers and the ingest protocol follow:
// it takes the smallest and the largest frame, refuses one byte less (and,
// without a stride, one more) with pixfmt's error, and reads nothing after a
// strided frame.
func TestConvertTakesWhatPixfmtSays(t *testing.T) {
	for _, f := range pixfmt.All() {
		for _, sz := range [][2]int{{6, 4}, {7, 5}} {
			w, h := sz[0], sz[1]
			dst := NewI420(w, h)
			for _, stride := range []int{0, f.MinStride(w), f.MinStride(w) + 1, f.MinStride(w) + 7} {
				least, most := f.MinFrameSize(w, h, stride), f.FrameSize(w, h, stride)
				buf := make([]byte, most+1)
				for _, n := range []int{least, most} {
					if err := Convert(dst, buf[:n], f, stride); err != nil {
						t.Errorf("%v %dx%d stride %d: Convert refuses %d bytes: %v", f, w, h, stride, n, err)
					}
				}
				refuse := []int{least - 1}
				if stride == 0 {
					refuse = append(refuse, most+1)
				} else if err := Convert(dst, buf, f, stride); err != nil {
					t.Errorf("%v %dx%d stride %d: Convert refuses a longer buffer: %v", f, w, h, stride, err)
				}
				for _, n := range refuse {
					err := Convert(dst, buf[:n], f, stride)
					want := pixfmt.CheckSize(n, f, w, h, stride)
					if err == nil || want == nil || err.Error() != want.Error() {
						t.Errorf("%v %dx%d stride %d: Convert(%d bytes) = %v, want %v", f, w, h, stride, n, err, want)
					}
				}
			}
		}
	}
}

func TestNewI420(t *testing.T) {
	for _, sz := range [][2]int{{1, 1}, {7, 5}, {640, 480}, {0, 0}} {
		p := NewI420(sz[0], sz[1])
		cw, ch := chroma(sz[0], sz[1])
		if p.Width != sz[0] || p.Height != sz[1] || p.StrideY != sz[0] || p.StrideU != cw || p.StrideV != cw ||
			len(p.Y) != sz[0]*sz[1] || len(p.U) != cw*ch || len(p.V) != cw*ch {
			t.Errorf("NewI420(%d, %d) = %+v", sz[0], sz[1], p)
		}
		if cap(p.Y) != len(p.Y) || cap(p.U) != len(p.U) {
			t.Errorf("NewI420(%d, %d): planes can grow into each other", sz[0], sz[1])
		}
	}
}

// TestConvertSolidRGB checks the colour matrix and channel order: each
// primary must come out with its own BT.601 limited-range values, which
// differ for red and blue, so a BGR/RGB swap fails.
func TestConvertSolidRGB(t *testing.T) {
	colors := []struct {
		name    string
		r, g, b byte
		y, u, v int
	}{
		{"red", 255, 0, 0, 82, 90, 240},
		{"green", 0, 255, 0, 145, 54, 34},
		{"blue", 0, 0, 255, 41, 240, 110},
		{"white", 255, 255, 255, 235, 128, 128},
		{"black", 0, 0, 0, 16, 128, 128},
		{"gray", 128, 128, 128, 126, 128, 128},
	}
	near := func(got byte, want int) bool { d := int(got) - want; return d >= -2 && d <= 2 }
	for _, f := range []Format{BGR24, RGB24, BGRA, RGBA} {
		for _, c := range colors {
			for _, sz := range [][2]int{{2, 2}, {7, 5}, {64, 48}} {
				w, h := sz[0], sz[1]
				t.Run(fmt.Sprintf("%v/%s/%dx%d", f, c.name, w, h), func(t *testing.T) {
					src := makeFrame(f, w, h, 0, func(x, y int) [4]byte { return [4]byte{c.r, c.g, c.b, byte(x + y)} })
					dst := NewI420(w, h)
					if err := Convert(dst, src, f, 0); err != nil {
						t.Fatal(err)
					}
					for i, p := range []struct {
						name string
						s    []byte
						want int
					}{{"Y", dst.Y, c.y}, {"U", dst.U, c.u}, {"V", dst.V, c.v}} {
						_ = i
						for j, s := range p.s {
							if !near(s, p.want) {
								t.Fatalf("%s[%d] = %d, want %d±2", p.name, j, s, p.want)
							}
						}
					}
				})
			}
		}
	}
}

// TestConvertYUV checks that the YUV formats and gray put each sample in its
// place: Y exactly, U and V exactly (the patterns are constant over each
// 2x2 block, so yuyv422's vertical chroma averaging is exact too).
func TestConvertYUV(t *testing.T) {
	for _, f := range []Format{Gray, YUV420P, NV12, YUYV422} {
		for _, sz := range [][2]int{{2, 2}, {7, 5}, {1, 1}, {1, 4}, {6, 1}, {64, 48}, {33, 17}} {
			w, h := sz[0], sz[1]
			t.Run(fmt.Sprintf("%v/%dx%d", f, w, h), func(t *testing.T) {
				dst := NewI420(w, h)
				if err := Convert(dst, makeFrame(f, w, h, 0, nil), f, 0); err != nil {
					t.Fatal(err)
				}
				cw, ch := chroma(w, h)
				for y := 0; y < h; y++ {
					for x := 0; x < w; x++ {
						if got, want := dst.Y[y*dst.StrideY+x], patY(x, y); got != want {
							t.Fatalf("Y(%d,%d) = %d, want %d", x, y, got, want)
						}
					}
				}
				for cy := 0; cy < ch; cy++ {
					for cx := 0; cx < cw; cx++ {
						wantU, wantV := patU(cx, cy), patV(cx, cy)
						if f == Gray {
							wantU, wantV = 128, 128
						}
						if got := dst.U[cy*dst.StrideU+cx]; got != wantU {
							t.Fatalf("U(%d,%d) = %d, want %d", cx, cy, got, wantU)
						}
						if got := dst.V[cy*dst.StrideV+cx]; got != wantV {
							t.Fatalf("V(%d,%d) = %d, want %d", cx, cy, got, wantV)
						}
					}
				}
			})
		}
	}
}

// TestConvertStride checks that a frame with padded rows (padding full of
// garbage) converts the same as the tight frame, for every format, for even
// and odd sizes and paddings, and that output to a destination with padded
// strides holds the same samples.
func TestConvertStride(t *testing.T) {
	for _, f := range pixfmt.All() {
		for _, sz := range [][2]int{{7, 5}, {64, 48}, {1, 1}, {33, 17}} {
			w, h := sz[0], sz[1]
			want := NewI420(w, h)
			tight := makeFrame(f, w, h, 0, nil)
			if err := Convert(want, tight, f, 0); err != nil {
				t.Fatalf("%v %dx%d tight: %v", f, w, h, err)
			}
			wy, wu, wv := samples(want)
			for _, pad := range []int{0, 1, 13, 64} {
				t.Run(fmt.Sprintf("%v/%dx%d/pad%d", f, w, h, pad), func(t *testing.T) {
					stride := f.MinStride(w) + pad
					src := makeFrame(f, w, h, stride, nil)
					// Extra bytes after the frame are allowed with an explicit stride.
					src = append(src, garbage, garbage, garbage)
					// A destination with padded strides, padding full of garbage.
					cw, ch := chroma(w, h)
					dst := &I420{Width: w, Height: h, StrideY: w + 5, StrideU: cw + 3, StrideV: cw + 9}
					dst.Y = bytes.Repeat([]byte{garbage}, dst.StrideY*h)
					dst.U = bytes.Repeat([]byte{garbage}, dst.StrideU*ch)
					dst.V = bytes.Repeat([]byte{garbage}, dst.StrideV*ch)
					if err := Convert(dst, src, f, stride); err != nil {
						t.Fatal(err)
					}
					gy, gu, gv := samples(dst)
					if !bytes.Equal(gy, wy) || !bytes.Equal(gu, wu) || !bytes.Equal(gv, wv) {
						t.Fatalf("stride %d: planes differ from the tight conversion\nY %v\nwant %v\nU %v\nwant %v\nV %v\nwant %v",
							stride, gy, wy, gu, wu, gv, wv)
					}
					for y := 0; y < h; y++ {
						if !allEqual(dst.Y[y*dst.StrideY+w:(y+1)*dst.StrideY], garbage) {
							t.Fatalf("Y row %d: padding overwritten", y)
						}
					}
				})
			}
		}
	}
}

func allEqual(b []byte, c byte) bool {
	for _, x := range b {
		if x != c {
			return false
		}
	}
	return true
}

// TestConvertSizeRule checks the boundary of the documented size rules: the
// exact minimum works, one byte less fails.
func TestConvertSizeRule(t *testing.T) {
	for _, f := range pixfmt.All() {
		w, h := 7, 5
		stride := f.MinStride(w) + 3
		want := map[Format]int{
			BGR24:   24*4 + 21,
			RGB24:   24*4 + 21,
			BGRA:    31*4 + 28,
			RGBA:    31*4 + 28,
			Gray:    10*4 + 7,
			YUYV422: 19*4 + 16,
			YUV420P: 10*5 + 2*5*3,
			NV12:    10*5 + 10*3,
		}[f]
		src := make([]byte, want)
		dst := NewI420(w, h)
		if err := Convert(dst, src, f, stride); err != nil {
			t.Errorf("%v %dx%d stride %d, %d bytes: %v", f, w, h, stride, want, err)
		}
		if err := Convert(dst, src[:want-1], f, stride); err == nil {
			t.Errorf("%v %dx%d stride %d, %d bytes: no error", f, w, h, stride, want-1)
		}
	}
}

func TestConvertErrors(t *testing.T) {
	vga := NewI420(640, 480)
	short := NewI420(640, 480)
	short.V = short.V[:len(short.V)-1]
	tests := []struct {
		name   string
		dst    *I420
		n      int
		f      Format
		stride int
		want   []string
	}{
		{"short", vga, 1000, BGR24, 0, []string{"frame is 1000 bytes, want 921600 for bgr24 640x480"}},
		{"long", vga, 921601, BGR24, 0, []string{"921601", "want exactly 921600", "bgr24 640x480"}},
		{"empty", vga, 0, RGBA, 0, []string{"frame is 0 bytes, want 1228800 for rgba 640x480"}},
		{"short yuv420p", vga, 460799, YUV420P, 0, []string{"460799", "460800", "yuv420p"}},
		{"short with stride", vga, 921600, BGR24, 2000, []string{"frame is 921600 bytes, want at least", strconv.Itoa(2000*479 + 1920), "bgr24 640x480", "stride 2000"}},
		{"short nv12 with stride", vga, 640 * 480, NV12, 640, []string{"307200", "460800", "nv12", "stride 640"}},
		{"stride too small", vga, 921600, BGR24, 1919, []string{"stride 1919", "1920", "bgr24"}},
		{"negative stride", vga, 921600, BGR24, -1, []string{"stride -1"}},
		{"unknown format", vga, 921600, Format(42), 0, []string{"yuv: unknown pixel format PixelFormat(42)"}},
		{"zero format", vga, 921600, Format(0), 0, []string{"PixelFormat(0)"}},
		{"nil dst", nil, 100, Gray, 0, []string{"nil"}},
		{"empty dst", NewI420(0, 0), 0, Gray, 0, []string{"0x0"}},
		{"negative dst", &I420{Width: -2, Height: 2}, 0, Gray, 0, []string{"-2x2"}},
		{"dst plane short", short, 640 * 480, Gray, 0, []string{"V", "76799", "76800"}},
		{"dst stride short", &I420{Width: 4, Height: 4, Y: make([]byte, 16), U: make([]byte, 4), V: make([]byte, 4), StrideY: 3, StrideU: 2, StrideV: 2}, 16, Gray, 0, []string{"StrideY 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Convert(tt.dst, make([]byte, tt.n), tt.f, tt.stride)
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

func TestCheckSizeRefusesWhatLibyuvCannotAddress(t *testing.T) {
	const w, h = 32768, 32768
	err := CheckSize(w*h*3, BGR24, w, h, 0)
	if want := "frame of 3221225472 bytes for bgr24 32768x32768 is too large"; err == nil || err.Error() != want {
		t.Errorf("CheckSize = %v, want %q", err, want)
	}
	if err := CheckSize(100, Gray, 10, 1, math.MaxInt32+1); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("CheckSize with a stride of 2 GiB = %v, want too large", err)
	}
}

func TestConvertNoAllocs(t *testing.T) {
	w, h := 64, 48
	dst := NewI420(w, h)
	for _, f := range pixfmt.All() {
		tight := makeFrame(f, w, h, 0, nil)
		padded := makeFrame(f, w, h, f.MinStride(w)+8, nil)
		if n := testing.AllocsPerRun(100, func() {
			if err := Convert(dst, tight, f, 0); err != nil {
				t.Fatal(err)
			}
			if err := Convert(dst, padded, f, f.MinStride(w)+8); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%v: %v allocations per Convert pair, want 0", f, n)
		}
	}
}

func BenchmarkConvert(b *testing.B) {
	for _, f := range pixfmt.All() {
		for _, sz := range [][2]int{{1920, 1080}, {1280, 720}} {
			w, h := sz[0], sz[1]
			b.Run(fmt.Sprintf("%v/%dx%d", f, w, h), func(b *testing.B) {
				src := makeFrame(f, w, h, 0, nil)
				dst := NewI420(w, h)
				b.SetBytes(int64(len(src)))
				b.ReportAllocs()
				for b.Loop() {
					if err := Convert(dst, src, f, 0); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func ExampleConvert() {
	// A 4x2 frame from OpenCV: bgr24, the left half white, the right half
	// black. (Saturated colours come out within ±1 of the textbook values,
	// depending on libyuv's version: red is Y 82 U 90 V 239 or 240.)
	const w, h = 4, 2
	white, black := []byte{255, 255, 255}, []byte{0, 0, 0} // B, G, R
	var frame []byte
	for range h {
		frame = append(frame, white...)
		frame = append(frame, white...)
		frame = append(frame, black...)
		frame = append(frame, black...)
	}

	pic := NewI420(w, h) // allocate once per stream, reuse for every frame
	if err := Convert(pic, frame, BGR24, 0); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("Y", pic.Y)
	fmt.Println("U", pic.U)
	fmt.Println("V", pic.V)

	err := Convert(pic, frame[:20], BGR24, 0)
	fmt.Println(err)
	// Output:
	// Y [235 235 16 16 235 235 16 16]
	// U [128 128]
	// V [128 128]
	// frame is 20 bytes, want 24 for bgr24 4x2
}

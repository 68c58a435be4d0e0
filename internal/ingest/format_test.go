package ingest

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/framecast/framecast/pixfmt"
)

// TestPixelFormatCodesAreTheSpecs pins the wire code of every pixel format
// to docs/ingest-protocol.md (and clients/python's table): the codes are
// the protocol's, whatever order package pixfmt declares its formats in.
func TestPixelFormatCodesAreTheSpecs(t *testing.T) {
	spec := map[pixfmt.PixelFormat]uint8{pixfmt.BGR24: 1, pixfmt.RGB24: 2, pixfmt.BGRA: 3, pixfmt.RGBA: 4,
		pixfmt.Gray: 5, pixfmt.YUV420P: 6, pixfmt.NV12: 7, pixfmt.YUYV422: 8}
	for _, pf := range pixfmt.All() {
		code, ok := PixelFormatCode(pf)
		if want, inSpec := spec[pf]; !ok || !inSpec || code != want {
			t.Errorf("%v has wire code %d (%v), want %d (in the spec: %v)", pf, code, ok, want, inSpec)
		}
		if got, ok := PixelFormatOf(code); !ok || got != pf {
			t.Errorf("wire code %d is %v (%v), want %v", code, got, ok, pf)
		}
		b := mustMarshal(t, &Format{PixelFormat: pf, Width: 2, Height: 2, FPSNum: 1, FPSDen: 1})
		if b[0] != spec[pf] {
			t.Errorf("FORMAT of %v starts with %d, want %d", pf, b[0], spec[pf])
		}
	}
	if len(spec) != len(pixfmt.All()) {
		t.Errorf("the spec has %d pixel formats, pixfmt %d", len(spec), len(pixfmt.All()))
	}
	for _, code := range []uint8{0, 9, 255} {
		if pf, ok := PixelFormatOf(code); ok {
			t.Errorf("wire code %d is %v, want no pixel format", code, pf)
		}
	}
	if code, ok := PixelFormatCode(0); ok {
		t.Errorf("PixelFormat(0) has wire code %d", code)
	}
}

func TestFormatMarshalsSpecExample(t *testing.T) {
	f := Format{PixelFormat: pixfmt.BGR24, Width: 640, Height: 480, FPSNum: 30, FPSDen: 1}
	if b := mustMarshal(t, &f); !bytes.Equal(b, specFormat[HeaderSize:]) {
		t.Errorf("FORMAT payload = % x, want % x", b, specFormat[HeaderSize:])
	}
	var got Format
	if err := got.Unmarshal(specFormat[HeaderSize:]); err != nil || got != f {
		t.Errorf("Unmarshal = %+v, %v; want %+v", got, err, f)
	}
}

func TestFormatRoundTrip(t *testing.T) {
	for _, f := range []Format{
		{PixelFormat: pixfmt.NV12, Width: 1920, Height: 1080, Stride: 2048, FPSNum: 30000, FPSDen: 1001,
			Options: Options{BitrateKbps: 4000, GOP: 60, Preset: "veryfast", Tune: "zerolatency,fastdecode", Profile: "main", Threads: 2}},
		{PixelFormat: pixfmt.Gray, Width: 2, Height: 2, FPSNum: 1, FPSDen: 1000, Options: Options{CRF: 23.5}},
		{PixelFormat: pixfmt.YUYV422, Width: 8192, Height: 8192, FPSNum: 1000, FPSDen: 1},
	} {
		var got Format
		if err := got.Unmarshal(mustMarshal(t, &f)); err != nil || got != f {
			t.Errorf("round trip of %+v: %+v, %v", f, got, err)
		}
	}
}

// format builds a FORMAT payload field by field.
func format(pf uint8, w, h, stride, num, den uint32, opts string) []byte {
	b := []byte{pf, 0}
	for _, v := range []uint32{w, h, stride, num, den} {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(opts)))
	return append(append(b, opts...), 0, 0)
}

func TestFormatUnmarshalErrors(t *testing.T) {
	good := format(1, 640, 480, 0, 30, 1, "")
	withReserved := func(i int) []byte { b := bytes.Clone(good); b[i] = 1; return b }
	for _, tc := range []struct {
		name string
		b    []byte
		code Code
		want string
	}{
		{"short", good[:25], CodeMalformed, "FORMAT payload is 25 bytes, want at least 26"},
		{"trailing bytes", append(bytes.Clone(good), 0), CodeMalformed, "FORMAT payload is 27 bytes, want 26 for options of 0 bytes"},
		{"options overrun", format(1, 640, 480, 0, 30, 1, "gop=1")[:28], CodeMalformed, "FORMAT payload is 28 bytes, want 31 for options of 5 bytes"},
		{"reserved after pixel format", withReserved(1), CodeMalformed, "FORMAT has reserved bytes 01 and 0000, want zeros"},
		{"reserved at the end", withReserved(25), CodeMalformed, "reserved bytes 00 and 0001"},
		{"pixel format 0", format(0, 640, 480, 0, 30, 1, ""), CodeBadFormat, "unknown pixel format 0: want 1 bgr24, 2 rgb24"},
		{"pixel format 9", format(9, 640, 480, 0, 30, 1, ""), CodeBadFormat, "unknown pixel format 9"},
		{"odd width", format(1, 641, 480, 0, 30, 1, ""), CodeBadFormat, "size 641x480: width and height must be even, from 2 to 8192"},
		{"odd height", format(1, 640, 479, 0, 30, 1, ""), CodeBadFormat, "size 640x479"},
		{"zero size", format(1, 0, 0, 0, 30, 1, ""), CodeBadFormat, "size 0x0"},
		{"too wide", format(1, 8194, 2, 0, 30, 1, ""), CodeBadFormat, "size 8194x2"},
		{"zero fps_num", format(1, 640, 480, 0, 0, 1, ""), CodeBadFormat, "frame rate 0/1: want from 1/1000 to 1000 frames per second"},
		{"zero fps_den", format(1, 640, 480, 0, 30, 0, ""), CodeBadFormat, "frame rate 30/0"},
		{"above 1000 fps", format(1, 640, 480, 0, 1001, 1, ""), CodeBadFormat, "frame rate 1001/1"},
		{"below 1/1000 fps", format(1, 640, 480, 0, 1, 1001, ""), CodeBadFormat, "frame rate 1/1001"},
		{"stride too short", format(1, 640, 480, 1919, 30, 1, ""), CodeBadFormat, "stride 1919 is less than a bgr24 row of 640 pixels (1920 bytes)"},
		{"frame too large", format(3, 8192, 8192, 0, 30, 1, ""), CodeBadFormat, "frames of bgra 8192x8192 are 268435456 bytes, more than the 268435448 bytes of pixels a FRAME carries"},
		{"stride too large", format(5, 8192, 8192, 1<<20, 30, 1, ""), CodeBadFormat, "frames of gray 8192x8192 with stride 1048576 are 8589934592 bytes"},
		{"unknown option", format(1, 640, 480, 0, 30, 1, "fast=1"), CodeBadFormat, `unknown option "fast": want bitrate, crf, gop, preset, tune, profile, threads`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f Format
			checkError(t, f.Unmarshal(tc.b), tc.code, tc.want)
			if f != (Format{}) {
				t.Errorf("Unmarshal changed the format on error: %+v", f)
			}
		})
	}
}

// TestFrameSizeIsTheSpecs checks FrameSize against the spec's table, and
// that CheckFrameSize takes the smallest and the largest frame and refuses
// one byte less and one more. (internal/yuv checks that the converter takes
// the same frames.)
func TestFrameSizeIsTheSpecs(t *testing.T) {
	const w, h = 6, 4 // cw 3, ch 2
	for _, tc := range []struct {
		pf           pixfmt.PixelFormat
		stride       uint32
		least, most  int64
		describeWant string
	}{
		{pixfmt.BGR24, 0, w * h * 3, w * h * 3, "bgr24 6x4"},
		{pixfmt.RGB24, 0, 72, 72, "rgb24 6x4"},
		{pixfmt.BGRA, 0, w * h * 4, w * h * 4, "bgra 6x4"},
		{pixfmt.RGBA, 0, 96, 96, "rgba 6x4"},
		{pixfmt.Gray, 0, w * h, w * h, "gray 6x4"},
		{pixfmt.YUV420P, 0, w*h + 2*3*2, w*h + 2*3*2, "yuv420p 6x4"},
		{pixfmt.NV12, 0, 36, 36, "nv12 6x4"},
		{pixfmt.YUYV422, 0, 3 * 4 * h, 3 * 4 * h, "yuyv422 6x4"},
		{pixfmt.BGR24, 20, 20*3 + 18, 20 * 4, "bgr24 6x4 with stride 20"},
		{pixfmt.BGRA, 32, 32*3 + 24, 32 * 4, "bgra 6x4 with stride 32"},
		{pixfmt.Gray, 7, 7*3 + 6, 7 * 4, "gray 6x4 with stride 7"},
		{pixfmt.YUYV422, 13, 13*3 + 12, 13 * 4, "yuyv422 6x4 with stride 13"},
		{pixfmt.YUV420P, 7, 7*4 + 2*4*2, 7*4 + 2*4*2, "yuv420p 6x4 with stride 7"},
		{pixfmt.NV12, 7, 7*4 + 8*2, 7*4 + 8*2, "nv12 6x4 with stride 7"},
		{pixfmt.NV12, 8, 8*4 + 8*2, 8*4 + 8*2, "nv12 6x4 with stride 8"},
	} {
		f := Format{PixelFormat: tc.pf, Width: w, Height: h, Stride: tc.stride, FPSNum: 30, FPSDen: 1}
		if err := f.Validate(); err != nil {
			t.Fatal(err)
		}
		least, most := f.FrameSize()
		if least != tc.least || most != tc.most {
			t.Errorf("%s: FrameSize = %d, %d; want %d, %d", tc.describeWant, least, most, tc.least, tc.most)
			continue
		}
		for _, n := range []int64{least, most} {
			if err := f.CheckFrameSize(n); err != nil {
				t.Errorf("%s: CheckFrameSize(%d) = %v", tc.describeWant, n, err)
			}
		}
		if err := f.CheckFrameSize(most + 1); err == nil {
			t.Errorf("%s: CheckFrameSize(%d) takes more than FrameSize's %d", tc.describeWant, most+1, most)
		}
		if err := f.CheckFrameSize(least - 1); err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.describeWant)) {
			t.Errorf("%s: CheckFrameSize(%d) = %v, want an error naming %q", tc.describeWant, least-1, err, tc.describeWant)
		}
	}
}

func TestCheckFrameSizeNamesBothSizes(t *testing.T) {
	vga := Format{PixelFormat: pixfmt.BGR24, Width: 640, Height: 480, FPSNum: 30, FPSDen: 1}
	strided := Format{PixelFormat: pixfmt.BGR24, Width: 640, Height: 480, Stride: 2048, FPSNum: 30, FPSDen: 1}
	planar := Format{PixelFormat: pixfmt.NV12, Width: 640, Height: 480, Stride: 1024, FPSNum: 30, FPSDen: 1}
	for _, tc := range []struct {
		f    Format
		n    int64
		want string
	}{
		{vga, 1000, "frame is 1000 bytes, want 921600 for bgr24 640x480"},
		{vga, 921601, "frame is 921601 bytes, want exactly 921600 for bgr24 640x480"},
		{strided, 1000, "frame is 1000 bytes, want at least 982912 for bgr24 640x480 with stride 2048"},
		{strided, 983041, "frame is 983041 bytes, want at most 983040 for bgr24 640x480 with stride 2048"},
		{planar, 0, "frame is 0 bytes, want 737280 for nv12 640x480 with stride 1024"},
		{planar, 737281, "frame is 737281 bytes, want exactly 737280 for nv12 640x480 with stride 1024"},
	} {
		checkError(t, tc.f.CheckFrameSize(tc.n), CodeFrameSize, tc.want)
	}
	// pixfmt's words, which the server's converter uses too.
	want := pixfmt.CheckSize(1000, pixfmt.BGR24, 640, 480, 0)
	checkError(t, vga.CheckFrameSize(1000), CodeFrameSize, want.Error())
}

func FuzzFormat(f *testing.F) {
	f.Add(specFormat[HeaderSize:])
	f.Add(format(7, 1920, 1080, 2048, 30000, 1001, "bitrate=4000 gop=60 preset=veryfast"))
	f.Add(format(3, 8192, 8192, 0, 30, 1, ""))
	f.Add(format(1, 640, 480, 0, 30, 1, "crf=23.5 tune=film,fastdecode"))
	f.Add(format(1, 640, 480, 0, 30, 1, "gop=60")[:27])
	f.Fuzz(func(t *testing.T, b []byte) {
		var g Format
		if g.Unmarshal(b) != nil {
			return
		}
		if err := g.Validate(); err != nil {
			t.Fatalf("Unmarshal accepted %+v, which Validate refuses: %v", g, err)
		}
		if _, most := g.FrameSize(); most > MaxPixels {
			t.Fatalf("accepted %+v with frames of %d bytes", g, most)
		}
		var again Format
		if err := again.Unmarshal(mustMarshal(t, &g)); err != nil || again != g {
			t.Fatalf("round trip of %+v: %+v, %v", g, again, err)
		}
	})
}

package ingest

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/framecast/framecast/pixfmt"
)

// gray4x2 is a FORMAT whose frames are 8 bytes, for short tests.
var gray4x2 = Format{PixelFormat: pixfmt.Gray, Width: 4, Height: 2, FPSNum: 30, FPSDen: 1}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestReaderReadsSpecExample(t *testing.T) {
	r := NewReader(bytes.NewReader(concat(specHello, specFormat, frameMessage(7, FlagTimestamp, 640*480*3, 9), specBye)))
	m, err := r.Next()
	if err != nil || m.Header.Type != TypeHello || !bytes.Equal(m.Payload, specHello[HeaderSize:]) {
		t.Fatalf("first message: %+v, %v; want HELLO", m.Header, err)
	}
	m, err = r.Next()
	var f Format
	if err != nil || m.Header.Type != TypeFormat || f.Unmarshal(m.Payload) != nil {
		t.Fatalf("second message: %+v, %v; want FORMAT", m.Header, err)
	}
	if err := r.SetFormat(f); err != nil {
		t.Fatal(err)
	}
	m, err = r.Next()
	if err != nil || m.Header.Type != TypeFrame || !m.HasTimestamp() || m.Timestamp != 7 || len(m.Payload) != 921600 || m.Payload[0] != 9 {
		t.Fatalf("third message: %+v ts %v, %d bytes, %v; want a 921600-byte FRAME at 7 ns", m.Header, m.Timestamp, len(m.Payload), err)
	}
	if m, err = r.Next(); err != nil || m.Header.Type != TypeBye {
		t.Fatalf("fourth message: %+v, %v; want BYE", m.Header, err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after BYE: %v, want io.EOF", err)
	}
}

// TestReaderSkipsRefusedFramesAndKeepsSync sends a frame before any format,
// frames too short and too long, then good messages: each refused frame is
// a non-fatal error and the next message reads whole.
func TestReaderSkipsRefusedFramesAndKeepsSync(t *testing.T) {
	const big = 10 << 20
	in := concat(
		frameMessage(0, 0, 8, 1), // no format yet
		specFormat,
		frameMessage(0, 0, 3, 2),   // short
		frameMessage(0, 0, big, 3), // long
		frameMessage(5, FlagTimestamp, 8, 4),
		specBye,
	)
	r := NewReader(bytes.NewReader(in))
	_, err := r.Next()
	checkError(t, err, CodeNoFormat, "FRAME before any accepted FORMAT")
	if m, err := r.Next(); err != nil || m.Header.Type != TypeFormat {
		t.Fatalf("after a refused frame: %+v, %v; want FORMAT", m.Header, err)
	}
	r.SetFormat(gray4x2)
	_, err = r.Next()
	checkError(t, err, CodeFrameSize, "frame is 3 bytes, want 8 for gray 4x2")
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = r.Next()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	checkError(t, err, CodeFrameSize, "frame is 10485760 bytes, want exactly 8 for gray 4x2")
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
		t.Errorf("skipping a 10 MiB frame allocated %d bytes: it must be discarded in chunks", grew)
	}
	m, err := r.Next()
	if err != nil || m.Header.Type != TypeFrame || m.Timestamp != 5 || !bytes.Equal(m.Payload, bytes.Repeat([]byte{4}, 8)) {
		t.Fatalf("good frame after refused ones: %+v %v, %v", m.Header, m.Payload, err)
	}
	if m, err := r.Next(); err != nil || m.Header.Type != TypeBye {
		t.Fatalf("BYE: %+v, %v", m.Header, err)
	}
	if cap(r.pix) > 1<<20 || cap(r.ctl) > 1<<10 {
		t.Errorf("buffers grew to %d and %d bytes, want the frame format's and the largest control message's", cap(r.pix), cap(r.ctl))
	}
}

// TestReaderRefusesHugeLengthsBeforeReadingThem: a header announcing more
// than the limits is refused from its 8 bytes, allocating nothing for it.
func TestReaderRefusesHugeLengthsBeforeReadingThem(t *testing.T) {
	for _, tc := range []struct {
		name string
		hdr  []byte
		code Code
		want string
	}{
		{"HELLO of 64 KiB + 1", []byte{1, 0, 0, 0, 0x01, 0x00, 0x01, 0x00}, CodeMessageTooLarge, "HELLO payload is 65537 bytes"},
		{"FRAME of 4 GiB", []byte{3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, CodeMessageTooLarge, "FRAME payload is 4294967295 bytes"},
		{"garbage", []byte("GET / HTTP/1.1\r\n\r\n"), CodeMalformed, "unknown message type 0x47"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			r := NewReader(io.MultiReader(bytes.NewReader(tc.hdr), neverEnding{}))
			_, err := r.Next()
			runtime.ReadMemStats(&after)
			checkError(t, err, tc.code, tc.want)
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
				t.Errorf("allocated %d bytes for a refused header", grew)
			}
		})
	}
}

// TestReaderGrowsThePixelBufferAsBytesArrive: a producer that declares the
// largest frames but sends a few bytes of one costs little memory.
func TestReaderGrowsThePixelBufferAsBytesArrive(t *testing.T) {
	huge := Format{PixelFormat: pixfmt.BGRA, Width: 8192, Height: 8190, FPSNum: 30, FPSDen: 1}
	in := concat(specHeader(TypeFrame, 8+8192*8190*4), make([]byte, 8+1000))
	r := NewReader(bytes.NewReader(in))
	if err := r.SetFormat(huge); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := r.Next()
	runtime.ReadMemStats(&after)
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated frame: %v, want io.ErrUnexpectedEOF", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 2<<20 {
		t.Errorf("1000 bytes of a 256 MiB frame allocated %d bytes", grew)
	}
}

func specHeader(t Type, n uint32) []byte {
	h := Header{Type: t, Length: n}
	b, _ := h.Marshal()
	return b
}

func TestReaderReportsTruncation(t *testing.T) {
	whole := concat(specHello, specFormat, frameMessage(0, 0, 8, 1))
	for _, tc := range []struct {
		name string
		n    int
		want error
	}{
		{"nothing", 0, io.EOF},
		{"within the first header", 3, io.ErrUnexpectedEOF},
		{"within a payload", len(specHello) - 1, io.ErrUnexpectedEOF},
		{"at a message boundary", len(specHello) + len(specFormat), io.EOF},
		{"within a timestamp", len(specHello) + len(specFormat) + 12, io.ErrUnexpectedEOF},
		{"within pixels", len(whole) - 1, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(whole[:tc.n]))
			r.SetFormat(gray4x2)
			var err error
			for err == nil {
				_, err = r.Next()
			}
			if err != tc.want {
				t.Errorf("Next = %v, want %v", err, tc.want)
			}
		})
	}
	// A refused frame cut short: the skip fails, and so does every later call.
	r := NewReader(bytes.NewReader(frameMessage(0, 0, 100, 1)[:50]))
	r.SetFormat(gray4x2)
	if _, err := r.Next(); err != io.ErrUnexpectedEOF {
		t.Errorf("refused frame cut short: %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := r.Next(); err != io.ErrUnexpectedEOF {
		t.Errorf("after a failed skip: %v, want io.ErrUnexpectedEOF again", err)
	}
}

func TestReaderSetFormatKeepsThePreviousFormatOnError(t *testing.T) {
	r := NewReader(bytes.NewReader(frameMessage(0, 0, 8, 1)))
	r.SetFormat(gray4x2)
	bad := gray4x2
	bad.Width = 3
	checkError(t, r.SetFormat(bad), CodeBadFormat, "size 3x2")
	if _, err := r.Next(); err != nil {
		t.Errorf("frame of the previous format: %v", err)
	}
}

// repeat reads msg over and over.
type repeat struct {
	msg []byte
	off int
}

func (r *repeat) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], r.msg[r.off:])
		n += k
		r.off = (r.off + k) % len(r.msg)
	}
	return n, nil
}

type neverEnding struct{}

func (neverEnding) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestReaderFramePathDoesNotAllocate is the zero-allocation promise: once the
// pixel buffer is in, reading a frame allocates nothing.
func TestReaderFramePathDoesNotAllocate(t *testing.T) {
	vga := Format{PixelFormat: pixfmt.BGR24, Width: 640, Height: 480, FPSNum: 30, FPSDen: 1}
	for _, ts := range []uint8{0, FlagTimestamp} {
		r := NewReader(&repeat{msg: frameMessage(42, ts, 640*480*3, 7)})
		r.SetFormat(vga)
		r.Next()
		allocs := testing.AllocsPerRun(200, func() {
			m, err := r.Next()
			if err != nil || len(m.Payload) != 640*480*3 {
				t.Fatalf("Next: %d bytes, %v", len(m.Payload), err)
			}
		})
		if allocs != 0 {
			t.Errorf("reading a FRAME (flags %d) allocates %v times, want 0", ts, allocs)
		}
	}
}

func BenchmarkReaderFrame1080p(b *testing.B) {
	f := Format{PixelFormat: pixfmt.BGR24, Width: 1920, Height: 1080, FPSNum: 30, FPSDen: 1}
	r := NewReader(&repeat{msg: frameMessage(0, 0, 1920*1080*3, 7)})
	r.SetFormat(f)
	b.SetBytes(1920 * 1080 * 3)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzReader reads messages as a server would: a FORMAT it accepts sets the
// frame size. It must never panic, lose track of its limits, or allocate
// much more than the input holds.
func FuzzReader(f *testing.F) {
	f.Add(concat(specHello, specFormat[:HeaderSize+10]))
	f.Add(concat(specHello, message(TypeFormat, 0, format(5, 4, 2, 0, 30, 1, "")), frameMessage(1, 1, 8, 1), frameMessage(0, 0, 3, 1), frameMessage(0, 0, 8, 2), specBye))
	f.Add(concat(specHello, message(TypeFormat, 0, format(3, 8192, 8190, 0, 30, 1, "")), specHeader(TypeFrame, 8+8192*8190*4), make([]byte, 100)))
	f.Add(concat(specHeader(TypeFrame, 0xffffffff), make([]byte, 20)))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		r := NewReader(bytes.NewReader(in))
		for range 1000 {
			m, err := r.Next()
			var e *Error
			if errors.As(err, &e) && !e.Fatal {
				continue
			}
			if err != nil {
				break
			}
			if m.Header.Type == TypeFrame && int64(len(m.Payload)) > r.most {
				t.Fatalf("frame of %d bytes for a format of at most %d", len(m.Payload), r.most)
			}
			if m.Header.Type == TypeFormat {
				var g Format
				if g.Unmarshal(m.Payload) == nil {
					if err := r.SetFormat(g); err != nil {
						t.Fatalf("SetFormat refuses a format Unmarshal took: %v", err)
					}
				}
			}
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20+2*uint64(len(in)) {
			t.Fatalf("%d input bytes made the Reader allocate %d bytes", len(in), grew)
		}
	})
}

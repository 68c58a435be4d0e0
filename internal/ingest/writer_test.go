package ingest

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/framecast/framecast/pixfmt"
)

// TestWriterWritesSpecExample writes the spec's example and compares bytes.
func TestWriterWritesSpecExample(t *testing.T) {
	var producer, server bytes.Buffer
	w := NewWriter(&producer)
	pix := bytes.Repeat([]byte{9}, 8)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.WriteHello(&Hello{Path: "/cam"}))
	must(w.WriteFormat(&Format{PixelFormat: pixfmt.BGR24, Width: 640, Height: 480, FPSNum: 30, FPSDen: 1}))
	must(w.WriteFrame(pix, 7, true))
	must(w.WriteBye())
	want := concat(specHello, specFormat, frameMessage(7, FlagTimestamp, 8, 9), specBye)
	if !bytes.Equal(producer.Bytes(), want) {
		t.Errorf("producer wrote\n% x\nwant\n% x", producer.Bytes(), want)
	}
	sw := NewWriter(&server)
	must(sw.WriteReady(&Ready{Version: Version, MaxFramePayload: MaxFramePayload}))
	must(sw.WriteError(&Error{Code: CodeFrameSize, Message: "m"}))
	want = concat(specReady, message(TypeError, 0, []byte{9, 0, 0, 0, 'm'}))
	if !bytes.Equal(server.Bytes(), want) {
		t.Errorf("server wrote\n% x\nwant\n% x", server.Bytes(), want)
	}
}

// TestWriterSendsHelloFlagsInTheHeader writes the spec's HELLO with the
// takeover and info flags, and the long READY that answers it.
func TestWriterSendsHelloFlagsInTheHeader(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	if err := w.WriteHello(&Hello{Path: "/cam", Flags: FlagTakeover | FlagInfo}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteReady(&Ready{Version: Version, MaxFramePayload: MaxFramePayload, RTSPURL: "rtsp://127.0.0.1:8554/cam"}); err != nil {
		t.Fatal(err)
	}
	if want := concat(specHelloFlags, specReadyURL); !bytes.Equal(out.Bytes(), want) {
		t.Errorf("wrote\n% x\nwant\n% x", out.Bytes(), want)
	}
}

func TestWriterRefusesWhatItCannotWrite(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	if err := w.WriteFormat(&Format{PixelFormat: 300}); err == nil {
		t.Error("FORMAT with pixel format 300: no error")
	}
	if err := w.WriteHello(&Hello{Path: string(make([]byte, 70000))}); err == nil {
		t.Error("HELLO with a 70000-byte path: no error")
	}
	if out.Len() != 0 {
		t.Errorf("wrote %d bytes for refused messages", out.Len())
	}
}

// TestWriterSendsAFrameInOneWritevWithoutAllocating writes frames to a TCP
// connection: header and pixels go out together, nothing is allocated, and
// the reader on the other side reads them back.
func TestWriterSendsAFrameInOneWritevWithoutAllocating(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		r := NewReader(c)
		r.SetFormat(gray4x2)
		var last []byte
		for {
			m, err := r.Next()
			if err != nil {
				got <- last
				return
			}
			last = bytes.Clone(m.Payload)
		}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(c)
	pix := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	allocs := testing.AllocsPerRun(100, func() {
		if err := w.WriteFrame(pix, time.Second, true); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("WriteFrame allocates %v times per frame, want 0", allocs)
	}
	if w.vec[1] != nil {
		t.Error("the Writer keeps a reference to the pixels after WriteFrame")
	}
	c.Close()
	select {
	case last := <-got:
		if !bytes.Equal(last, pix) {
			t.Errorf("the reader got %v, want %v", last, pix)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the reader did not finish")
	}
}

package ingest

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The spec's shared-memory example: HELLO with info and shared memory, the
// READY that takes it, a RING of 4 slots of 921600 bytes, SLOT 0 at
// 33333333 ns and its FREE.
var (
	specHelloShm = []byte{0x01, 0x06, 0x00, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x46, 0x43, 0x53, 0x54, 0x01, 0x00, 0x04, 0x00, 0x2f, 0x63, 0x61, 0x6d, 0x00, 0x00}
	specReadyShm = append([]byte{0x81, 0x01, 0x00, 0x00, 0x21, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x10, 0x19, 0x00},
		"rtsp://127.0.0.1:8554/cam"...)
	specRing = []byte{0x05, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x00}
	specSlot = []byte{0x06, 0x01, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x00, 0x55, 0xa0, 0xfc, 0x01, 0x00, 0x00, 0x00, 0x00}
	specFree = []byte{0x83, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}
)

// written returns what write sends through a Writer.
func written(t *testing.T, write func(*Writer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := write(NewWriter(&b)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSharedMemoryMessagesMarshalSpecExample(t *testing.T) {
	slot := Slot{Index: 0, Length: 921600, Timestamp: 33333333 * time.Nanosecond, HasTimestamp: true}
	ready := Ready{Version: 1, MaxFramePayload: MaxFramePayload, RTSPURL: "rtsp://127.0.0.1:8554/cam"}
	for _, tc := range []struct {
		name  string
		write func(*Writer) error
		want  []byte
	}{
		{"HELLO", func(w *Writer) error {
			return w.WriteHello(&Hello{Path: "/cam", Flags: FlagInfo | FlagSharedMemory})
		}, specHelloShm},
		{"READY", func(w *Writer) error { return w.WriteReadyFlags(&ready, FlagReadyShared) }, specReadyShm},
		{"RING", func(w *Writer) error { return w.WriteRing(&Ring{Slots: 4, SlotSize: 921600}) }, specRing},
		{"SLOT", func(w *Writer) error { return w.WriteSlot(&slot) }, specSlot},
		{"FREE", func(w *Writer) error { return w.WriteFree(&Free{Index: 0}) }, specFree},
	} {
		if got := written(t, tc.write); !bytes.Equal(got, tc.want) {
			t.Errorf("%s = % x, want % x", tc.name, got, tc.want)
		}
	}
	if got := AppendSlot(nil, &slot); !bytes.Equal(got, specSlot) {
		t.Errorf("AppendSlot = % x, want % x", got, specSlot)
	}
	if got := AppendFree(nil, 0); !bytes.Equal(got, specFree) {
		t.Errorf("AppendFree = % x, want % x", got, specFree)
	}
}

// TestReaderReadsSharedMemoryExample reads the producer's side of the
// example as the server does.
func TestReaderReadsSharedMemoryExample(t *testing.T) {
	r := NewReader(bytes.NewReader(bytes.Join([][]byte{specHelloShm, specFormat, specRing, specSlot}, nil)))
	m, err := r.Next()
	if err != nil || m.Header.Type != TypeHello || m.Header.Flags != FlagInfo|FlagSharedMemory {
		t.Fatalf("HELLO: %+v, %v", m.Header, err)
	}
	if m, err = r.Next(); err != nil || m.Header.Type != TypeFormat {
		t.Fatalf("FORMAT: %+v, %v", m.Header, err)
	}
	var f Format
	if err := f.Unmarshal(m.Payload); err != nil {
		t.Fatal(err)
	}
	if m, err = r.Next(); err != nil || m.Header.Type != TypeRing {
		t.Fatalf("RING: %+v, %v", m.Header, err)
	}
	var rg Ring
	if err := rg.Unmarshal(m.Payload); err != nil || rg != (Ring{Slots: 4, SlotSize: 921600}) || rg.CheckFormat(&f) != nil {
		t.Fatalf("RING %+v, %v, fits %v", rg, err, rg.CheckFormat(&f))
	}
	if h, ok := r.PeekHeader(); !ok || h.Type != TypeSlot || h.Length != 16 {
		t.Errorf("PeekHeader = %+v, %v; want the SLOT's", h, ok)
	}
	if m, err = r.Next(); err != nil || m.Header.Type != TypeSlot || m.Header.Flags != FlagTimestamp {
		t.Fatalf("SLOT: %+v, %v", m.Header, err)
	}
	var s Slot
	if err := s.Unmarshal(m.Payload); err != nil || s != (Slot{Length: 921600, Timestamp: 33333333}) || rg.CheckSlot(&s) != nil {
		t.Fatalf("SLOT %+v, %v", s, err)
	}
	if _, ok := r.PeekHeader(); ok {
		t.Error("PeekHeader at the end of the stream says a message is there")
	}
}

func TestRingRefusesShapesOutOfRange(t *testing.T) {
	f := Format{PixelFormat: 1, Width: 640, Height: 480, FPSNum: 30, FPSDen: 1}
	for _, tc := range []struct {
		r    Ring
		want string
	}{
		{Ring{Slots: 1, SlotSize: 921600}, "ring of 1 slots: want 2 to 64"},
		{Ring{Slots: 65, SlotSize: 921600}, "ring of 65 slots: want 2 to 64"},
		{Ring{Slots: 4, SlotSize: 0}, "ring slots of 0 bytes: want 1 to 268435448"},
		{Ring{Slots: 4, SlotSize: MaxPixels + 1}, "ring slots of 268435449 bytes"},
		{Ring{Slots: 5, SlotSize: MaxPixels}, "want at most 1073741824 (1 GiB)"},
	} {
		b, _ := tc.r.Marshal()
		var got Ring
		checkError(t, got.Unmarshal(b), CodeBadRing, tc.want)
	}
	checkError(t, (&Ring{Slots: 4, SlotSize: 921599}).CheckFormat(&f), CodeBadRing,
		"ring slots of 921599 bytes are too small for bgr24 640x480: want at least 921600 bytes")
	var rg Ring
	checkError(t, rg.Unmarshal(make([]byte, 7)), CodeMalformed, "RING payload is 7 bytes, want 8")
}

func TestSlotMustFitTheRing(t *testing.T) {
	rg := Ring{Slots: 4, SlotSize: 1000}
	checkError(t, rg.CheckSlot(&Slot{Index: 4, Length: 10}), CodeMalformed, "SLOT 4: the ring has slots 0 to 3")
	checkError(t, rg.CheckSlot(&Slot{Index: 3, Length: 1001}), CodeMalformed, "SLOT 3: length 1001 is more than the ring's slots of 1000 bytes")
	if err := rg.CheckSlot(&Slot{Index: 3, Length: 1000}); err != nil {
		t.Errorf("CheckSlot of the last slot, full: %v", err)
	}
	var s Slot
	checkError(t, s.Unmarshal(make([]byte, 15)), CodeMalformed, "SLOT payload is 15 bytes, want 16")
	var f Free
	checkError(t, f.Unmarshal(make([]byte, 5)), CodeMalformed, "FREE payload is 5 bytes, want 4")
}

func TestHeaderTakesSharedMemoryFlagsAndTypes(t *testing.T) {
	for _, b := range [][]byte{specHelloShm, specReadyShm, specRing, specSlot, specFree} {
		var h Header
		if err := h.Unmarshal(b); err != nil {
			t.Errorf("header % x: %v", b[:HeaderSize], err)
		}
	}
	var h Header
	checkError(t, h.Unmarshal([]byte{0x81, 0x02, 0, 0, 6, 0, 0, 0}), CodeMalformed, "READY has unknown flags 0x02")
	checkError(t, h.Unmarshal([]byte{0x83, 0x01, 0, 0, 4, 0, 0, 0}), CodeMalformed, "FREE has unknown flags 0x01")
}

func FuzzRing(f *testing.F) {
	f.Add(specRing[HeaderSize:])
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Ring
		if r.Unmarshal(b) == nil {
			if r.Validate() != nil || !bytes.Equal(mustMarshal(t, &r), b) {
				t.Fatalf("round trip of % x", b)
			}
		}
	})
}

func FuzzSlot(f *testing.F) {
	f.Add(specSlot[HeaderSize:])
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Slot
		if s.Unmarshal(b) == nil && !bytes.Equal(mustMarshal(t, &s), b) {
			t.Fatalf("round trip of % x", b)
		}
		rg := Ring{Slots: 4, SlotSize: 1 << 20}
		if rg.CheckSlot(&s) == nil && (s.Index >= 4 || s.Length > 1<<20) {
			t.Fatalf("CheckSlot took %+v", s)
		}
	})
}

func FuzzFree(f *testing.F) {
	f.Add(specFree[HeaderSize:])
	f.Fuzz(func(t *testing.T, b []byte) {
		var fr Free
		if fr.Unmarshal(b) == nil && !bytes.Equal(mustMarshal(t, &fr), b) {
			t.Fatalf("round trip of % x", b)
		}
	})
}

// TestSharedMemoryExampleIsTheSpecs checks that docs/ingest-protocol.md
// shows the bytes above, as the Python client's tests do for theirs.
func TestSharedMemoryExampleIsTheSpecs(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "ingest-protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	example := string(doc[bytes.Index(doc, []byte("## Example")):])
	lines := map[string]bool{} // the hex bytes each example line starts with
	for _, line := range strings.Split(example, "\n") {
		if !strings.HasPrefix(line, "→ ") && !strings.HasPrefix(line, "← ") {
			continue
		}
		var hexBytes []byte
		for _, word := range strings.Fields(line)[1:] {
			b, err := hex.DecodeString(word)
			if err != nil {
				break
			}
			hexBytes = append(hexBytes, b...)
		}
		lines[string(hexBytes)] = true
	}
	url := len("rtsp://127.0.0.1:8554/cam")
	for name, want := range map[string][]byte{
		"HELLO": specHelloShm, "READY": specReadyShm[:len(specReadyShm)-url], "RING": specRing,
		"SLOT": specSlot, "FREE": specFree,
	} {
		if !lines[string(want)] {
			t.Errorf("the spec's example has no line with the %s % x", name, want)
		}
	}
}

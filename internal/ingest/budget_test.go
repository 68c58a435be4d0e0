package ingest

import (
	"bytes"
	"io"
	"testing"

	"github.com/framecast/framecast/pixfmt"
)

// gray2048x1024 has 2 MiB frames: a Reader grows to 1 MiB, then 2 MiB.
var gray2048x1024 = Format{PixelFormat: pixfmt.Gray, Width: 2048, Height: 1024, FPSNum: 30, FPSDen: 1}

const frame2M = 2048 * 1024

// TestReaderRefusesAFrameBeyondTheBudgetAndGivesItBack: two Readers share a
// 4 MiB budget; the first holds a 2 MiB frame, the second cannot grow past
// 1 MiB and gets a fatal server-busy, counted; Release and a smaller format
// give every byte back.
func TestReaderRefusesAFrameBeyondTheBudgetAndGivesItBack(t *testing.T) {
	b := NewBudget(4 << 20)
	one := NewReader(bytes.NewReader(concat(frameMessage(0, 0, frame2M, 1), frameMessage(0, 0, frame2M, 2))))
	two := NewReader(bytes.NewReader(frameMessage(0, 0, frame2M, 3)))
	for _, r := range []*Reader{one, two} {
		r.SetBudget(b)
		if err := r.SetFormat(gray2048x1024); err != nil {
			t.Fatal(err)
		}
	}
	if m, err := one.Next(); err != nil || len(m.Payload) != frame2M || m.Payload[0] != 1 {
		t.Fatalf("first frame: %d bytes, %v", len(m.Payload), err)
	}
	if b.Used() != frame2M || one.Held() != frame2M {
		t.Fatalf("after one 2 MiB frame: budget used %d, held %d; want %d", b.Used(), one.Held(), frame2M)
	}
	_, err := two.Next()
	checkError(t, err, CodeServerBusy, "frame of 2097152 bytes refused: the server's memory for frames being received (4 MiB) is in use")
	if _, again := two.Next(); again != err {
		t.Errorf("after server-busy: %v, want the same error", again)
	}
	if b.Refused() != 1 || b.Used() != frame2M+1<<20 {
		t.Errorf("refused %d, used %d; want 1, %d", b.Refused(), b.Used(), frame2M+1<<20)
	}
	two.Release()
	// The first Reader reuses its buffer: no more budget.
	if m, err := one.Next(); err != nil || m.Payload[0] != 2 || b.Used() != frame2M {
		t.Fatalf("second frame: %v, used %d", err, b.Used())
	}
	if err := one.SetFormat(gray4x2); err != nil {
		t.Fatal(err)
	}
	if b.Used() != 0 || one.Held() != 0 {
		t.Errorf("after a smaller format: used %d, held %d; want 0", b.Used(), one.Held())
	}
}

// TestReaderWithoutBudgetHoldsAtMostOneFrame: with no limit the bytes held
// are still counted, and a format change to smaller frames drops a buffer
// larger than one of them.
func TestReaderWithoutBudgetHoldsAtMostOneFrame(t *testing.T) {
	b := NewBudget(0)
	r := NewReader(bytes.NewReader(frameMessage(0, 0, frame2M, 1)))
	r.SetBudget(b)
	r.SetFormat(gray2048x1024)
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	smaller := Format{PixelFormat: pixfmt.Gray, Width: 2048, Height: 1000, FPSNum: 30, FPSDen: 1}
	if r.SetFormat(smaller); b.Used() != 0 || b.Limit() != 0 {
		t.Errorf("after a smaller format: used %d, limit %d; want 0, 0", b.Used(), b.Limit())
	}
}

// TestReaderWaitInputConsumesNothing: WaitInput returns once a byte is in,
// and the message still reads whole; at the end it returns io.EOF.
func TestReaderWaitInputConsumesNothing(t *testing.T) {
	r := NewReader(bytes.NewReader(specBye))
	if err := r.WaitInput(); err != nil || r.Buffered() != len(specBye) {
		t.Fatalf("WaitInput: %v, %d bytes buffered", err, r.Buffered())
	}
	if m, err := r.Next(); err != nil || m.Header.Type != TypeBye {
		t.Fatalf("after WaitInput: %+v, %v; want BYE", m.Header, err)
	}
	if err := r.WaitInput(); err != io.EOF {
		t.Fatalf("WaitInput at the end: %v, want io.EOF", err)
	}
}

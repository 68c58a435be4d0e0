package auqueue

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	sps   = []byte{0x67, 1}
	pps   = []byte{0x68, 2}
	idr   = []byte{0x65, 3}
	slice = []byte{0x41, 4}
)

// TestQueue runs sequences of steps on a queue: "I" pushes an IDR (with
// SPS and PPS), "P" a P-frame, "r" receives and releases one unit, "w"
// calls WaitIDR. Each push's pts is its position in the steps, in seconds.
// got lists the units received (by "r", then what is left), as pts, with
// "!" after an IDR and "+" after one with Gap.
func TestQueue(t *testing.T) {
	total := new(atomic.Uint64)
	for _, tc := range []struct {
		name    string
		cfg     Config
		steps   string
		got     string
		dropped uint64
		wanted  bool
	}{
		{"skips to the first IDR", Config{Len: 4}, "P P I P", "2!+ 3", 0, false},
		{"queues up to Len", Config{Len: 2}, "I P", "0!+ 1", 0, false},
		{"drops when full, then skips to the next IDR", Config{Len: 2}, "I P P P r r P I P", "0!+ 1 7!+ 8", 1, true},
		{"drops an IDR that does not fit", Config{Len: 1}, "I I P r I", "0!+ 4!+", 1, true},
		{"counts each unit that did not fit", Config{Len: 1}, "I P I I P", "0!+", 3, true},
		{"room again: the next IDR goes in", Config{Len: 1}, "I P r P I", "0!+ 4!+", 1, true},
		{"WaitIDR skips without a drop", Config{Len: 4}, "I P w P P I P", "0!+ 1 5!+ 6", 0, false},
		{"consumer skips: all from the first", Config{Len: 4, ConsumerSkips: true}, "P P I P", "0 1 2! 3", 0, false},
		{"consumer skips: gap after a drop", Config{Len: 2, ConsumerSkips: true}, "I P P r P P", "0! 1 4+", 2, true},
		{"consumer skips: WaitIDR marks the next", Config{Len: 4, ConsumerSkips: true}, "I P w P P", "0! 1 3+ 4", 0, false},
		{"counts into Total", Config{Len: 1, Total: total}, "I P I", "0!+", 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			total.Store(0)
			q := New(tc.cfg)
			var got []string
			recv := func(u *Unit) {
				s := fmt.Sprint(int(u.PTS / time.Second))
				if u.IDR {
					s += "!"
				}
				if u.Gap {
					s += "+"
				}
				got = append(got, s)
				q.Release(u)
			}
			for i, step := range strings.Fields(tc.steps) {
				pts := time.Duration(i) * time.Second
				switch step {
				case "I":
					q.Push([][]byte{sps, pps, idr}, pts, time.Time{})
				case "P":
					q.Push([][]byte{slice}, pts, time.Time{})
				case "r":
					recv(<-q.Units())
				case "w":
					q.WaitIDR()
				}
			}
			for len(q.Units()) > 0 {
				recv(<-q.Units())
			}
			if s := strings.Join(got, " "); s != tc.got {
				t.Errorf("received %q, want %q", s, tc.got)
			}
			if q.Dropped() != tc.dropped {
				t.Errorf("dropped %d, want %d", q.Dropped(), tc.dropped)
			}
			if tc.cfg.Total != nil && total.Load() != tc.dropped {
				t.Errorf("total %d, want %d", total.Load(), tc.dropped)
			}
			if wanted := len(q.Wanted()) == 1; wanted != tc.wanted {
				t.Errorf("IDR wanted: %v, want %v", wanted, tc.wanted)
			}
		})
	}
}

// TestUnitCopiesTheAccessUnit: a queued unit owns its bytes, and reuses
// its buffer.
func TestUnitCopiesTheAccessUnit(t *testing.T) {
	var u Unit
	au := [][]byte{{1, 2, 3}, {}, {4}, {5, 6}}
	u.fill(au, false)
	au[0][0], au[3][1] = 9, 9
	if fmt.Sprint(u.NALUs) != "[[1 2 3] [4] [5 6]]" {
		t.Fatalf("unit holds %v, want a copy of the access unit as it was, without the empty NAL unit", u.NALUs)
	}
	if string(u.Bytes()) != "\x01\x02\x03\x04\x05\x06" {
		t.Fatalf("unit's bytes %x, want the NAL units back to back", u.Bytes())
	}
	buf := &u.buf[:1][0]
	u.fill([][]byte{{7}, {8}}, false)
	if fmt.Sprint(u.NALUs) != "[[7] [8]]" || &u.buf[:1][0] != buf {
		t.Fatalf("refilled unit holds %v (same buffer: %v)", u.NALUs, &u.buf[:1][0] == buf)
	}
	// A NAL unit cannot grow into the next one.
	_ = append(u.NALUs[0], 0xff)
	if u.NALUs[1][0] != 8 {
		t.Fatal("appending to one NAL unit overwrote the next")
	}
}

func TestUnitInAnnexB(t *testing.T) {
	var u Unit
	u.fill([][]byte{sps, pps, {}, idr}, true)
	if s := string(u.Bytes()); s != "\x00\x00\x00\x01\x67\x01\x00\x00\x00\x01\x68\x02\x00\x00\x00\x01\x65\x03" {
		t.Fatalf("unit's bytes %x, want SPS, PPS, IDR in Annex-B", s)
	}
	if fmt.Sprint(u.NALUs) != fmt.Sprint([][]byte{sps, pps, idr}) {
		t.Fatalf("unit's NAL units %x, want SPS, PPS, IDR without start codes", u.NALUs)
	}
}

// TestReleasedUnitsAreReused: in steady state a push allocates nothing.
func TestReleasedUnitsAreReused(t *testing.T) {
	q := New(Config{Len: 4, AnnexB: true})
	big := [][]byte{sps, pps, append([]byte{0x65}, make([]byte, 5000)...)}
	q.Push(big, 0, time.Time{})
	u := <-q.Units()
	q.Release(u)
	q.Push([][]byte{slice}, time.Second, time.Time{})
	if v := <-q.Units(); v != u {
		t.Fatal("a released unit was not reused")
	} else {
		q.Release(v)
	}
	allocs := testing.AllocsPerRun(100, func() {
		q.Push(big, 0, time.Time{})
		q.Release(<-q.Units())
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per access unit, want 0", allocs)
	}
}

func TestDrain(t *testing.T) {
	q := New(Config{Len: 4})
	for i := range 3 {
		q.Push([][]byte{idr}, time.Duration(i), time.Time{})
	}
	q.Drain()
	if len(q.Units()) != 0 || len(q.free) != 3 {
		t.Fatalf("after Drain %d units queued and %d free, want 0 and 3", len(q.Units()), len(q.free))
	}
}

// TestConcurrentPushAndReceive pushes from one goroutine while another
// receives, slowly at times so that the queue fills, and checks that every
// unit received holds what was pushed with it, in order, starting again
// at an IDR after each drop (run with -race).
func TestConcurrentPushAndReceive(t *testing.T) {
	for _, consumerSkips := range []bool{false, true} {
		t.Run(fmt.Sprintf("ConsumerSkips=%v", consumerSkips), func(t *testing.T) {
			const n, gop = 5000, 10
			q := New(Config{Len: 4, AnnexB: true, ConsumerSkips: consumerSkips})
			var wg sync.WaitGroup
			done := make(chan struct{})
			received := 0
			wg.Go(func() {
				last := -1
				for {
					var u *Unit
					select {
					case u = <-q.Units():
					case <-done:
						// Everything is pushed: take what is left.
						select {
						case u = <-q.Units():
						default:
							return
						}
					}
					i := int(u.PTS)
					payload := u.NALUs[len(u.NALUs)-1][1:]
					if got := int(binary.BigEndian.Uint32(payload)); got != i || len(payload) != 4+i%300 {
						t.Errorf("unit %d holds the bytes of unit %d (%d of them)", i, got, len(payload))
					}
					if i <= last {
						t.Errorf("unit %d received after %d", i, last)
					}
					if u.IDR != (i%gop == 0) {
						t.Errorf("unit %d: IDR %v", i, u.IDR)
					}
					if !consumerSkips && i != last+1 && !u.IDR {
						t.Errorf("unit %d received after %d, not an IDR", i, last)
					}
					if i != last+1 && last >= 0 && !u.Gap {
						t.Errorf("unit %d received after %d without Gap", i, last)
					}
					last = i
					received++
					if i%97 == 0 {
						time.Sleep(time.Millisecond)
					}
					q.Release(u)
				}
			})
			wg.Go(func() {
				for {
					select {
					case <-q.Wanted():
						if q.Dropped() == 0 {
							t.Error("IDR wanted with nothing dropped")
						}
					case <-done:
						return
					}
				}
			})
			au := make([]byte, 5+300)
			for i := range n {
				au[0] = 0x41
				if i%gop == 0 {
					au[0] = 0x65
				}
				binary.BigEndian.PutUint32(au[1:], uint32(i))
				q.Push([][]byte{au[:5+i%300]}, time.Duration(i), time.Time{})
				if i%50 == 0 {
					time.Sleep(100 * time.Microsecond)
				}
			}
			close(done)
			wg.Wait()
			if q.Dropped() == 0 {
				t.Log("nothing dropped: the receiver kept up")
			}
			if uint64(received)+q.Dropped() > n {
				t.Errorf("%d received and %d dropped of %d", received, q.Dropped(), n)
			}
			t.Logf("%d received, %d dropped", received, q.Dropped())
		})
	}
}

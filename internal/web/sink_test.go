package web

import (
	"testing"
	"time"
)

// TestFullPreviewQueueDropsUntilTheNextIDR: a preview that falls behind
// loses the access unit that did not fit and the P-frames after it (they
// cannot be decoded without it), asks for an IDR, and starts again at one.
func TestFullPreviewQueueDropsUntilTheNextIDR(t *testing.T) {
	p := &peer{
		queue: make(chan accessUnit, 2), free: make(chan []byte, 4), askIDR: make(chan struct{}, 1),
		counters: &pathCounters{},
	}
	p.waitIDR.Store(true)
	sps, pps, idr, slice := []byte{0x67, 1}, []byte{0x68, 2}, []byte{0x65, 3}, []byte{0x41, 4}
	p.sink([][]byte{slice}, 0, time.Time{}) // before any IDR: skipped
	if len(p.queue) != 0 {
		t.Fatal("a P-frame before the first IDR was queued")
	}
	p.sink([][]byte{sps, pps, idr}, time.Second, time.Time{})
	p.sink([][]byte{slice}, 2*time.Second, time.Time{})
	p.sink([][]byte{slice}, 3*time.Second, time.Time{}) // queue full: dropped
	p.sink([][]byte{slice}, 4*time.Second, time.Time{}) // undecodable: skipped
	if p.dropped.Load() != 1 || p.counters.dropped.Load() != 1 || len(p.askIDR) != 1 {
		t.Fatalf("dropped %d (path %d), IDR asked %d times; want 1, 1, 1", p.dropped.Load(), p.counters.dropped.Load(), len(p.askIDR))
	}
	first := <-p.queue
	if string(first.data) != "\x00\x00\x00\x01\x67\x01\x00\x00\x00\x01\x68\x02\x00\x00\x00\x01\x65\x03" || !first.idr || first.pts != time.Second {
		t.Fatalf("first queued access unit %x (idr %v, pts %v), want SPS, PPS, IDR in Annex-B at 1 s", first.data, first.idr, first.pts)
	}
	<-p.queue
	p.sink([][]byte{slice}, 5*time.Second, time.Time{})
	p.sink([][]byte{sps, pps, idr}, 6*time.Second, time.Time{})
	p.sink([][]byte{slice}, 7*time.Second, time.Time{})
	if len(p.queue) != 2 {
		t.Fatalf("queued %d access units after the drop, want the IDR and the P-frame after it", len(p.queue))
	}
	if au := <-p.queue; !au.idr || au.pts != 6*time.Second {
		t.Fatalf("after a drop the preview starts again at pts %v (idr %v), want the IDR at 6 s", au.pts, au.idr)
	}
}

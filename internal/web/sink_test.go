package web

import (
	"testing"
	"time"
)

// TestFullPreviewQueueDropsUntilTheNextIDR: a preview that falls behind
// loses the access unit that did not fit and the P-frames after it (they
// cannot be decoded without it), counts it for the path, asks for an IDR,
// and starts again at one, in Annex-B for the payloader.
func TestFullPreviewQueueDropsUntilTheNextIDR(t *testing.T) {
	c := &pathCounters{}
	q := newPreviewQueue(c)
	sps, pps, idr, slice := []byte{0x67, 1}, []byte{0x68, 2}, []byte{0x65, 3}, []byte{0x41, 4}
	q.Push([][]byte{slice}, 0, time.Time{}) // before any IDR: skipped
	if len(q.Units()) != 0 {
		t.Fatal("a P-frame before the first IDR was queued")
	}
	q.Push([][]byte{sps, pps, idr}, time.Second, time.Time{})
	for range previewQueueLen - 1 {
		q.Push([][]byte{slice}, 2*time.Second, time.Time{})
	}
	q.Push([][]byte{slice}, 3*time.Second, time.Time{}) // queue full: dropped
	q.Push([][]byte{slice}, 4*time.Second, time.Time{}) // undecodable: skipped
	if q.Dropped() != 1 || c.dropped.Load() != 1 || len(q.Wanted()) != 1 {
		t.Fatalf("dropped %d (path %d), IDR wanted %d times; want 1, 1, 1", q.Dropped(), c.dropped.Load(), len(q.Wanted()))
	}
	first := <-q.Units()
	if string(first.Bytes()) != "\x00\x00\x00\x01\x67\x01\x00\x00\x00\x01\x68\x02\x00\x00\x00\x01\x65\x03" || !first.IDR || first.PTS != time.Second {
		t.Fatalf("first queued access unit %x (idr %v, pts %v), want SPS, PPS, IDR in Annex-B at 1 s", first.Bytes(), first.IDR, first.PTS)
	}
	q.Drain()
	q.Push([][]byte{slice}, 5*time.Second, time.Time{})
	q.Push([][]byte{sps, pps, idr}, 6*time.Second, time.Time{})
	q.Push([][]byte{slice}, 7*time.Second, time.Time{})
	if len(q.Units()) != 2 {
		t.Fatalf("queued %d access units after the drop, want the IDR and the P-frame after it", len(q.Units()))
	}
	if u := <-q.Units(); !u.IDR || u.PTS != 6*time.Second {
		t.Fatalf("after a drop the preview starts again at pts %v (idr %v), want the IDR at 6 s", u.PTS, u.IDR)
	}
}

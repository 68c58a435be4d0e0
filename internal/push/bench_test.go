package push

import (
	"testing"
	"time"
)

// BenchmarkSink measures what a push costs the encoder's goroutine per
// access unit (8 KB: 1.9 Mbit/s at 30 fps): a copy into a reused buffer
// and a channel send ("queued"), or the same copy dropped because the
// queue is full ("full").
func BenchmarkSink(b *testing.B) {
	au := makeAU(1, false, 20000, 8000)
	now := time.Now()
	for _, full := range []bool{false, true} {
		name := "queued"
		if full {
			name = "full"
		}
		b.Run(name, func(b *testing.B) {
			p := &Pusher{queue: newQueue(32)}
			s := &subscription{p: p}
			if full {
				for range 32 {
					s.sink(au, 0, now)
				}
			}
			b.SetBytes(8000)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				s.sink(au, time.Duration(i)*time.Second/30, now)
				if !full {
					p.put(<-p.queue.Units()) // what the Pusher's goroutine does
				}
			}
		})
	}
}

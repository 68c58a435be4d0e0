package rtptime

import (
	"math"
	"testing"
	"time"
)

const video = 90000

func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		rate int
		want int64
	}{
		{0, video, 0},
		{time.Second, video, 90000},
		{time.Second / 30, video, 3000}, // 33333333 ns is 2999.99997 ticks: rounds, not truncates
		{11111, video, 1},               // 0.99999 tick
		{5555, video, 0},                // 0.49995 tick
		{5556, video, 1},                // 0.50004 tick
		{-time.Second / 30, video, -3000},
		{-5556, video, -1},
		{28 * time.Hour, video, 28 * 3600 * 90000},
		{29*time.Hour + time.Second/30, video, 29*3600*90000 + 3000},
		{72*time.Hour + 1, video, 72 * 3600 * 90000},
		{math.MaxInt64, video, 830_103_483_316_930}, // 9223372036.854775807 s
		{500 * time.Microsecond, 1000, 1},           // a half rounds away from zero
		{-500 * time.Microsecond, 1000, -1},
		{time.Second, 48000, 48000},
		{10 * time.Millisecond, 48000, 480},
	} {
		if got := Ticks(tc.d, tc.rate); got != tc.want {
			t.Errorf("Ticks(%v, %d) = %d, want %d", tc.d, tc.rate, got, tc.want)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		ticks int64
		rate  int
		want  time.Duration
	}{
		{0, video, 0},
		{1, video, 11111},       // 11111.1 ns
		{5, video, 55556},       // 55555.6 ns
		{3000, video, 33333333}, // 33333333.3 ns
		{-1, video, -11111},
		{-5, video, -55556},
		{90000, video, time.Second},
		{28 * 3600 * 90000, video, 28 * time.Hour},
		{30*24*3600*90000 + 1, video, 30*24*time.Hour + 11111},
		{1, 2_000_000_000, 1}, // a half nanosecond rounds away from zero
	} {
		if got := Duration(tc.ticks, tc.rate); got != tc.want {
			t.Errorf("Duration(%d, %d) = %v, want %v", tc.ticks, tc.rate, got, tc.want)
		}
	}
}

// TestTimestampsSurviveTheRoundTrip: a sink that gets a pts made from RTP
// ticks (internal/rtsp) and turns it back into ticks (internal/push) gets
// the same timestamp, after days of streaming too.
func TestTimestampsSurviveTheRoundTrip(t *testing.T) {
	for _, rate := range []int{1, 8000, 44100, 48000, video, 1_000_000, 1_000_000_000} {
		for _, start := range []int64{0, Ticks(28*time.Hour, rate), Ticks(10*24*time.Hour, rate), -Ticks(time.Hour, rate)} {
			for i := range int64(10000) {
				ticks := start + i*7919
				if got := Ticks(Duration(ticks, rate), rate); got != ticks {
					t.Fatalf("rate %d: %d ticks → %v → %d ticks", rate, ticks, Duration(ticks, rate), got)
				}
			}
		}
	}
}

func TestDurationsComeBackWithinHalfATick(t *testing.T) {
	for _, d := range []time.Duration{0, 1, time.Second / 30, 28*time.Hour + 12345, 100*24*time.Hour + time.Second/7, -time.Second / 3} {
		back := Duration(Ticks(d, video), video)
		if diff := (back - d).Abs(); diff > time.Second/video/2+1 {
			t.Errorf("%v → %d ticks → %v: off by %v, more than half a tick", d, Ticks(d, video), back, diff)
		}
	}
}

func TestNonPositiveClockRatePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Ticks with clock rate 0 did not panic")
		}
	}()
	Ticks(time.Second, 0)
}

func FuzzRoundTrip(f *testing.F) {
	f.Add(int64(0), 90000)
	f.Add(int64(28*3600*90000+1), 90000)
	f.Add(int64(-3000), 90000)
	f.Add(int64(1), 1_000_000_000)
	f.Add(int64(math.MaxInt64/2), 48000)
	f.Fuzz(func(t *testing.T, ticks int64, rate int) {
		if rate <= 0 || rate > 1_000_000_000 {
			t.Skip()
		}
		// Keep the duration within ±200 years, where it fits.
		if limit := int64(200*365*24*3600) * int64(rate); ticks > limit || ticks < -limit {
			t.Skip()
		}
		d := Duration(ticks, rate)
		if got := Ticks(d, rate); got != ticks {
			t.Fatalf("rate %d: %d ticks → %v → %d ticks", rate, ticks, d, got)
		}
		exact := float64(ticks) / float64(rate) * 1e9
		if diff := math.Abs(float64(d) - exact); diff > 1+math.Abs(exact)*1e-15 {
			t.Fatalf("rate %d: %d ticks → %v, want about %.1f ns", rate, ticks, d, exact)
		}
	})
}

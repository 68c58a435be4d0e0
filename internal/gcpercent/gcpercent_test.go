package gcpercent

import (
	"runtime/debug"
	"testing"
)

func TestApply(t *testing.T) {
	for _, tc := range []struct {
		name string
		gogc string
		set  bool
		want int
	}{
		{"unset", "", true, Serve},
		{"environment wins", "150", false, 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOGC", tc.gogc)
			// The runtime read GOGC at start; set the environment's value as
			// the runtime would have, so that the test sees what Apply leaves.
			prev := debug.SetGCPercent(150)
			defer debug.SetGCPercent(prev)
			if got := Apply(); got != tc.set {
				t.Fatalf("Apply() = %v, want %v", got, tc.set)
			}
			if got := debug.SetGCPercent(prev); got != tc.want {
				t.Fatalf("GC percent after Apply = %d, want %d", got, tc.want)
			}
		})
	}
}

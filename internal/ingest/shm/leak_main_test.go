package shm

import (
	"testing"

	"github.com/framecast/framecast/internal/testkit"
)

// TestMain fails the package when its tests leave goroutines running.
func TestMain(m *testing.M) { testkit.LeakCheck(m) }

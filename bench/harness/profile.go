package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
)

// heapProfileOnSignal writes a heap profile to path, after a GC, each time
// the process gets SIGUSR1: to see what the viewers of a running role cost
// (kill -USR1 PID, then go tool pprof -sample_index=inuse_space PATH), and
// prints the runtime's memory statistics on stderr (MEM ...). An
// empty path does nothing. The returned function stops it.
func heapProfileOnSignal(path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-sig:
				if err := writeHeapProfile(path); err != nil {
					fmt.Fprintln(os.Stderr, "heap profile:", err)
				}
			}
		}
	})
	return func() {
		signal.Stop(sig)
		close(done)
		wg.Wait()
	}
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	// What the heap profile does not show: stacks, and heap the runtime
	// holds but has not returned to the system.
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Fprintf(os.Stderr, "MEM heap_inuse=%d heap_idle=%d heap_released=%d stack_inuse=%d sys=%d goroutines=%d\n",
		m.HeapInuse, m.HeapIdle, m.HeapReleased, m.StackInuse, m.Sys, runtime.NumGoroutine())
	return f.Close()
}

// cpuProfileTo profiles the CPU into path until the returned function is
// called; with path "" it does nothing.
func cpuProfileTo(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

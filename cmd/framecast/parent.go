package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// parentPoll is how often --exit-with-parent looks for a new parent process.
const parentPoll = 200 * time.Millisecond

// watchParent returns a context that is cancelled, with a log line, when the
// process that started framecast is gone (--exit-with-parent): its parent
// process changes (the parent exited, and framecast was handed to init or a
// subreaper), or, when watchStdin and standard input is a pipe, the pipe
// reaches its end (whoever held its write end, the parent, closed it or
// died, even by SIGKILL). What is read from the pipe is discarded. stop
// ends the watch and waits for its goroutines.
func watchParent(ctx context.Context, stdin io.Reader, watchStdin bool, log *slog.Logger) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	ppid := os.Getppid()
	wg.Go(func() {
		t := time.NewTicker(parentPoll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if p := os.Getppid(); p != ppid {
					log.Info("parent process gone: shutting down", "parent", ppid, "now", p)
					cancel()
					return
				}
			}
		}
	})
	var pipe *os.File
	if f, ok := stdin.(*os.File); ok && watchStdin {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeNamedPipe != 0 {
			pipe, _ = interruptible(f).(*os.File)
		}
	}
	if pipe != nil {
		wg.Go(func() {
			_, err := io.Copy(io.Discard, pipe)
			if ctx.Err() == nil {
				reason := "end of file"
				if err != nil {
					reason = err.Error()
				}
				log.Info("standard input closed: the parent process is gone; shutting down", "reason", reason)
				cancel()
			}
		})
	}
	return ctx, func() {
		cancel()
		if pipe != nil {
			pipe.Close() // wakes the read: interruptible made it pollable
		}
		wg.Wait()
	}
}

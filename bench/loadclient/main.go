// Command loadclient plays one RTSP stream with many viewers and only counts
// what they receive: RTP packets, frames (packets with the marker bit),
// sequence gaps (lost packets), each viewer's longest silence (the longest
// time without a packet) and its longest wait for a frame (the longest time
// between two packets with the marker bit, the last of a frame). It is the
// fan-out load of framecast's benchmarks (bench/harness); it decodes nothing,
// so that most of the two cores it shares with the server go to the server.
//
//	loadclient -url rtsp://127.0.0.1:8554/bench -n 400 -transport tcp
//
// Once every viewer plays it prints "READY {json}". It then reads commands,
// one a line, on standard input:
//
//	mark    start a measurement window: counters and silences restart
//	report  print "REPORT {json}": what the viewers got since the mark
//	quit    (or end of input) disconnect every viewer and exit
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

// epoch is the origin of the monotonic nanosecond clock the viewers share.
var epoch = time.Now()

func nanotime() int64 { return int64(time.Since(epoch)) }

// viewer is one RTSP session. Its counters are written by the session's
// reader goroutine and read by the reporter.
type viewer struct {
	c       *gortsplib.Client
	packets atomic.Uint64
	frames  atomic.Uint64
	lost    atomic.Uint64 // sequence gaps seen by this counter
	libLost atomic.Uint64 // losses gortsplib reported (UDP reordering buffer)
	last    atomic.Int64  // nanotime of the last packet
	silence atomic.Int64  // longest time without a packet since the mark
	frameAt atomic.Int64  // nanotime of the last packet with the marker bit
	wait    atomic.Int64  // longest time between two of those since the mark
	seq     uint16
	seqOK   bool
	ended   atomic.Bool
}

func (v *viewer) onPacket(pkt *rtp.Packet) {
	now := nanotime()
	if gap := now - v.last.Swap(now); gap > v.silence.Load() {
		v.silence.Store(gap)
	}
	if v.seqOK {
		if d := pkt.SequenceNumber - v.seq - 1; d != 0 && d < 0x8000 {
			v.lost.Add(uint64(d))
		}
	}
	v.seq, v.seqOK = pkt.SequenceNumber, true
	v.packets.Add(1)
	if pkt.Marker {
		v.frames.Add(1)
		if gap := now - v.frameAt.Swap(now); gap > v.wait.Load() {
			v.wait.Store(gap)
		}
	}
}

// snapshot is what the viewers had received at a mark.
type snapshot struct {
	at                             time.Time
	packets, frames, lost, libLost []uint64
}

func main() {
	url := flag.String("url", "", "rtsp:// URL to play")
	n := flag.Int("n", 1, "number of viewers")
	transport := flag.String("transport", "tcp", "tcp or udp")
	concurrency := flag.Int("concurrency", 32, "viewers connecting at once")
	timeout := flag.Duration("timeout", 60*time.Second, "time allowed for every viewer to start playing")
	flag.Parse()
	if err := run(*url, *n, *transport, *concurrency, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "loadclient:", err)
		os.Exit(1)
	}
}

func run(url string, n int, transport string, concurrency int, timeout time.Duration) error {
	u, err := base.ParseURL(url)
	if err != nil {
		return err
	}
	var proto gortsplib.Protocol
	switch transport {
	case "tcp":
		proto = gortsplib.ProtocolTCP
	case "udp":
		proto = gortsplib.ProtocolUDP
	default:
		return fmt.Errorf("transport %q: want tcp or udp", transport)
	}
	viewers := make([]*viewer, n)
	var failed atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	deadline := start.Add(timeout)
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i := range viewers {
		v := &viewer{}
		viewers[i] = v
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if time.Now().After(deadline) {
				failed.Add(1)
				return
			}
			if err := v.play(u, proto); err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				v.c = nil
			}
		})
	}
	wg.Wait()
	joinSecs := time.Since(start).Seconds()
	playing := viewers[:0:0]
	for _, v := range viewers {
		if v.c != nil {
			playing = append(playing, v)
			wg.Go(func() {
				v.c.Wait()
				v.ended.Store(true)
			})
		}
	}
	ready := map[string]any{"viewers": n, "playing": len(playing), "failed": failed.Load(), "join_seconds": joinSecs}
	if e := firstErr.Load(); e != nil {
		ready["first_error"] = e
	}
	emit("READY", ready)

	mark := func() *snapshot {
		s := &snapshot{at: time.Now()}
		now := nanotime()
		for _, v := range playing {
			v.last.Store(now)
			v.silence.Store(0)
			v.frameAt.Store(now)
			v.wait.Store(0)
			s.packets = append(s.packets, v.packets.Load())
			s.frames = append(s.frames, v.frames.Load())
			s.lost = append(s.lost, v.lost.Load())
			s.libLost = append(s.libLost, v.libLost.Load())
		}
		return s
	}
	m := mark()
	lines := make(chan string)
	go func() {
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			lines <- in.Text()
		}
		close(lines)
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
commands:
	for {
		var line string
		ok := true
		select {
		case line, ok = <-lines:
		case <-sig:
			ok = false
		}
		if !ok {
			break commands
		}
		switch line {
		case "mark":
			m = mark()
		case "report":
			emit("REPORT", report(playing, m))
		case "quit":
			break commands
		}
	}
	// Every viewer says TEARDOWN: a UDP session that is only dropped
	// lives on in the server until it times out, and its client ports
	// with it (gortsplib then refuses a new viewer that draws the same
	// ports).
	for _, v := range playing {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			v.c.Close()
		}()
	}
	wg.Wait()
	return nil
}

func (v *viewer) play(u *base.URL, proto gortsplib.Protocol) error {
	c := &gortsplib.Client{
		Scheme:            u.Scheme,
		Host:              u.Host,
		Protocol:          &proto,
		AnyPortEnable:     true,
		UDPReadBufferSize: 1 << 20,
		ListenPacket:      listenLoopback,
		OnPacketsLost:     func(lost uint64) { v.libLost.Add(lost) },
		OnDecodeError:     func(error) {},
	}
	if err := c.Start(); err != nil {
		return err
	}
	desc, _, err := c.Describe(u)
	if err != nil {
		c.Close()
		return err
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		c.Close()
		return err
	}
	v.last.Store(nanotime())
	v.frameAt.Store(v.last.Load())
	c.OnPacketRTPAny(func(_ *description.Media, _ format.Format, pkt *rtp.Packet) { v.onPacket(pkt) })
	if _, err := c.Play(nil); err != nil {
		c.Close()
		return err
	}
	v.c = c
	return nil
}

// listenLoopback binds the viewers' UDP ports on 127.0.0.1 only.
func listenLoopback(network, address string) (net.PacketConn, error) {
	host, port, err := net.SplitHostPort(address)
	if err == nil && host == "" {
		address = net.JoinHostPort("127.0.0.1", port)
	}
	return net.ListenPacket(network, address)
}

func report(playing []*viewer, m *snapshot) map[string]any {
	secs := time.Since(m.at).Seconds()
	now := nanotime()
	var packets, frames, lost, libLost uint64
	ended := 0
	silences := make([]float64, 0, len(playing))
	waits := make([]float64, 0, len(playing))
	minFrames := uint64(0)
	for i, v := range playing {
		f := v.frames.Load() - m.frames[i]
		packets += v.packets.Load() - m.packets[i]
		frames += f
		lost += v.lost.Load() - m.lost[i]
		libLost += v.libLost.Load() - m.libLost[i]
		if i == 0 || f < minFrames {
			minFrames = f
		}
		s := max(v.silence.Load(), now-v.last.Load())
		silences = append(silences, float64(s)/1e6)
		w := max(v.wait.Load(), now-v.frameAt.Load())
		waits = append(waits, float64(w)/1e6)
		if v.ended.Load() {
			ended++
		}
	}
	slices.Sort(silences)
	slices.Sort(waits)
	r := map[string]any{
		"seconds": secs, "viewers": len(playing), "ended": ended,
		"packets": packets, "frames": frames, "lost": lost, "lost_reported": libLost,
		"min_frames_per_viewer": minFrames,
	}
	if len(playing) > 0 {
		r["fps_per_viewer"] = float64(frames) / float64(len(playing)) / secs
		r["silence_p50_ms"] = pct(silences, 0.50)
		r["silence_p95_ms"] = pct(silences, 0.95)
		r["silence_max_ms"] = silences[len(silences)-1]
		r["frame_wait_p50_ms"] = pct(waits, 0.50)
		r["frame_wait_p95_ms"] = pct(waits, 0.95)
		r["frame_wait_max_ms"] = waits[len(waits)-1]
	}
	return r
}

// pct is the p-quantile of sorted values (nearest rank).
func pct(sorted []float64, p float64) float64 {
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func emit(kind string, v any) {
	b, _ := json.Marshal(v)
	fmt.Printf("%s %s\n", kind, b)
}

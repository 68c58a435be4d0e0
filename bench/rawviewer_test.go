package bench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// rawViewer is a minimal RTSP viewer over TCP (interleaved): it plays a
// path, then reads RTP into one reused buffer and counts the packets that
// end a frame. It allocates nothing per packet, so a benchmark's allocs/op
// are the server's.
type rawViewer struct {
	conn net.Conn
	br   *bufio.Reader
}

// dialViewer plays rtsp://addr/path over TCP.
func dialViewer(addr, path string) (*rawViewer, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	v := &rawViewer{conn: c, br: bufio.NewReaderSize(c, 64<<10)}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	url := "rtsp://" + addr + path
	_, body, err := v.request("DESCRIBE", url, 1, "Accept: application/sdp\r\n")
	if err != nil {
		c.Close()
		return nil, err
	}
	control := ""
	for line := range strings.SplitSeq(body, "\n") {
		if ctl, ok := strings.CutPrefix(strings.TrimSpace(line), "a=control:"); ok && ctl != "*" {
			control = ctl
		}
	}
	track := url + "/" + control
	if strings.HasPrefix(control, "rtsp://") {
		track = control
	}
	hdr, _, err := v.request("SETUP", track, 2, "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n")
	if err != nil {
		c.Close()
		return nil, err
	}
	session, _, _ := strings.Cut(hdr["session"], ";")
	if _, _, err := v.request("PLAY", url, 3, "Session: "+session+"\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return v, nil
}

// request sends an RTSP request and reads the response's headers (keys in
// lower case) and body.
func (v *rawViewer) request(method, url string, cseq int, extra string) (map[string]string, string, error) {
	if _, err := fmt.Fprintf(v.conn, "%s %s RTSP/1.0\r\nCSeq: %d\r\n%s\r\n", method, url, cseq, extra); err != nil {
		return nil, "", err
	}
	status, err := v.br.ReadString('\n')
	if err != nil {
		return nil, "", err
	}
	if !strings.Contains(status, " 200 ") {
		return nil, "", fmt.Errorf("%s: %s", method, strings.TrimSpace(status))
	}
	hdr := map[string]string{}
	for {
		line, err := v.br.ReadString('\n')
		if err != nil {
			return nil, "", err
		}
		line = strings.TrimSpace(line)
		if line == "" {
			break
		}
		k, val, _ := strings.Cut(line, ":")
		hdr[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(val)
	}
	n, _ := strconv.Atoi(hdr["content-length"])
	body := make([]byte, n)
	if _, err := io.ReadFull(v.br, body); err != nil {
		return nil, "", err
	}
	return hdr, string(body), nil
}

// count reads interleaved packets until the connection ends, calling
// onFrame at each RTP packet with the marker bit.
func (v *rawViewer) count(onFrame func()) {
	var hdr [4]byte
	buf := make([]byte, 64<<10)
	for {
		if _, err := io.ReadFull(v.br, hdr[:]); err != nil {
			return
		}
		if hdr[0] != '$' {
			return // an RTSP message in the middle: not expected while playing
		}
		n := int(hdr[2])<<8 | int(hdr[3])
		if _, err := io.ReadFull(v.br, buf[:n]); err != nil {
			return
		}
		if hdr[1] == 0 && n >= 2 && buf[1]&0x80 != 0 {
			onFrame()
		}
	}
}

// delivery waits until every viewer has received a number of frames.
type delivery struct {
	got    atomic.Int64
	target atomic.Int64
	done   chan struct{}
	timer  *time.Timer // reused, so that waiting allocates nothing
}

func newDelivery() *delivery {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &delivery{done: make(chan struct{}, 1), timer: t}
}

func (d *delivery) frame() {
	if d.got.Add(1) == d.target.Load() {
		select {
		case d.done <- struct{}{}:
		default:
		}
	}
}

// expect sets the total to wait for; call before the write that reaches it.
func (d *delivery) expect(total int64) { d.target.Store(total) }

// wait returns once the total set by expect is reached, or false after timeout.
func (d *delivery) wait(timeout time.Duration) bool {
	if d.got.Load() >= d.target.Load() {
		select {
		case <-d.done:
		default:
		}
		return true
	}
	d.timer.Reset(timeout)
	defer d.timer.Stop()
	select {
	case <-d.done:
		return true
	case <-d.timer.C:
		return d.got.Load() >= d.target.Load()
	}
}

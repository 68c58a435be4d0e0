package x264

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// --- synthetic input -------------------------------------------------------

const padStride = 16 // strides are wider than the picture, to exercise them

func newPicture(w, h int) *Picture {
	sy, sc := w+padStride, w/2+padStride
	return &Picture{
		Y: make([]byte, sy*h), U: make([]byte, sc*h/2), V: make([]byte, sc*h/2),
		StrideY: sy, StrideU: sc, StrideV: sc,
	}
}

const (
	squareSize = 64
	squareY    = 200
)

// squarePos is where the solid square is in frame i.
func squarePos(i int) (x, y int) { return 40 + 2*i, 40 + i }

// fillPicture draws frame i: a moving diagonal gradient, a solid square with
// Y=200 moving over it, and optional noise of amplitude ±noise.
func fillPicture(p *Picture, w, h, i int, rng *rand.Rand, noise int) {
	sx, sy := squarePos(i)
	for y := 0; y < h; y++ {
		row := p.Y[y*p.StrideY : y*p.StrideY+w]
		for x := range row {
			v := 16 + (x+y+3*i)%128
			if noise > 0 {
				v += rng.Intn(2*noise+1) - noise
			}
			if x >= sx && x < sx+squareSize && y >= sy && y < sy+squareSize {
				v = squareY
			}
			row[x] = byte(min(max(v, 16), 235))
		}
	}
	for y := 0; y < h/2; y++ {
		for x := 0; x < w/2; x++ {
			u, v := 128+(x-y+i)%32, 128-(x+2*i)%32
			if 2*x >= sx && 2*x < sx+squareSize && 2*y >= sy && 2*y < sy+squareSize {
				u, v = 90, 240
			}
			p.U[y*p.StrideU+x] = byte(u)
			p.V[y*p.StrideV+x] = byte(v)
		}
	}
}

// --- helpers ---------------------------------------------------------------

type frame struct {
	au  [][]byte // copied
	idr bool
}

func open(t testing.TB, p Params) *Encoder {
	t.Helper()
	e, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// encodeN encodes n synthetic frames and returns copies of the access units.
func encodeN(t testing.TB, e *Encoder, n, noise int, forceIDR func(i int) bool) []frame {
	t.Helper()
	p := e.Params()
	pic := newPicture(p.Width, p.Height)
	rng := rand.New(rand.NewSource(1))
	var out []frame
	for i := 0; i < n; i++ {
		fillPicture(pic, p.Width, p.Height, i, rng, noise)
		force := forceIDR != nil && forceIDR(i)
		au, idr, err := e.Encode(pic, int64(i)*90000*int64(p.FPSDen)/int64(p.FPSNum), force)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if au == nil {
			t.Fatalf("frame %d: no access unit (zerolatency should not delay)", i)
		}
		out = append(out, frame{au: copyAU(au), idr: idr})
	}
	return out
}

func copyAU(au [][]byte) [][]byte {
	c := make([][]byte, len(au))
	for i, n := range au {
		c[i] = append([]byte(nil), n...)
	}
	return c
}

func annexB(t *testing.T, frames []frame) []byte {
	t.Helper()
	var b []byte
	for _, f := range frames {
		au, err := h264.AnnexB(f.au).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, au...)
	}
	return b
}

// nalTypes reads each NAL unit's type from its header byte, which also
// checks that Encode cut the start codes off exactly.
func nalTypes(au [][]byte) []h264.NALUType {
	var ts []h264.NALUType
	for _, n := range au {
		ts = append(ts, h264.NALUType(n[0]&0x1f))
	}
	return ts
}

// sliceType parses slice_type (0..4, mod 5: 0 P, 1 B, 2 I) from a slice NAL.
func sliceType(nal []byte) (int, error) {
	// Unescape the first bytes of the RBSP (enough for two ue(v)).
	var rbsp []byte
	zeros := 0
	for _, b := range nal[1:min(len(nal), 32)] {
		if zeros >= 2 && b == 3 {
			zeros = 0
			continue
		}
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
		rbsp = append(rbsp, b)
	}
	pos := 0
	bit := func() (int, error) {
		if pos >= 8*len(rbsp) {
			return 0, errors.New("short slice header")
		}
		v := int(rbsp[pos/8]>>(7-pos%8)) & 1
		pos++
		return v, nil
	}
	ue := func() (int, error) {
		lz := 0
		for {
			b, err := bit()
			if err != nil {
				return 0, err
			}
			if b == 1 {
				break
			}
			lz++
		}
		v := 0
		for i := 0; i < lz; i++ {
			b, err := bit()
			if err != nil {
				return 0, err
			}
			v = v<<1 | b
		}
		return (1<<lz - 1) + v, nil
	}
	if _, err := ue(); err != nil { // first_mb_in_slice
		return 0, err
	}
	st, err := ue()
	return st % 5, err
}

// checkAU checks one access unit's structure: SPS, PPS only right before an
// IDR, only slices of type 1 or 5, no B slices. It returns whether it is an IDR.
func checkAU(t *testing.T, i int, f frame) bool {
	t.Helper()
	types := nalTypes(f.au)
	idr := false
	for j, n := range f.au {
		switch typ := types[j]; typ {
		case h264.NALUTypeSPS, h264.NALUTypePPS:
		case h264.NALUTypeNonIDR, h264.NALUTypeIDR:
			idr = idr || typ == h264.NALUTypeIDR
			st, err := sliceType(n)
			if err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			if st == 1 {
				t.Fatalf("frame %d: B slice", i)
			}
			if typ == h264.NALUTypeIDR && st != 2 {
				t.Fatalf("frame %d: IDR NAL with slice type %d", i, st)
			}
		default:
			t.Fatalf("frame %d: unexpected NAL type %v (types %v)", i, typ, types)
		}
	}
	if idr != f.idr {
		t.Fatalf("frame %d: Encode said idr=%v, NAL types %v", i, f.idr, types)
	}
	if idr && (len(types) < 3 || types[0] != h264.NALUTypeSPS || types[1] != h264.NALUTypePPS) {
		t.Fatalf("frame %d: IDR not preceded by SPS, PPS: %v", i, types)
	}
	if !idr && (slices.Contains(types, h264.NALUTypeSPS) || slices.Contains(types, h264.NALUTypePPS)) {
		t.Fatalf("frame %d: SPS/PPS in a non-IDR access unit: %v", i, types)
	}
	return idr
}

func abs(x int) int { return max(x, -x) }

func idrFrames(t *testing.T, frames []frame) []int {
	var idrs []int
	for i, f := range frames {
		if checkAU(t, i, f) {
			idrs = append(idrs, i)
		}
	}
	return idrs
}

// --- tests -----------------------------------------------------------------

func TestValidate(t *testing.T) {
	ok := Params{Width: 640, Height: 480, FPSNum: 30}
	tests := []struct {
		name string
		mod  func(p *Params)
		want string // "" = valid
	}{
		{"defaults", func(p *Params) {}, ""},
		{"all set", func(p *Params) {
			*p = Params{Width: 1920, Height: 1080, FPSNum: 30000, FPSDen: 1001, BitrateKbps: 4000, GOP: 60,
				Preset: "veryfast", Tune: "zerolatency,fastdecode", Profile: "main", Threads: 4}
		}, ""},
		{"tune none", func(p *Params) { p.Tune = "none" }, ""},
		{"odd width", func(p *Params) { p.Width = 641 }, "size 641x480: width and height must be even"},
		{"odd height", func(p *Params) { p.Height = 361 }, "size 640x361: width and height must be even"},
		{"zero size", func(p *Params) { p.Width = 0 }, "size 0x480: width and height must be positive"},
		{"negative size", func(p *Params) { p.Height = -2 }, "must be positive"},
		{"zero fps", func(p *Params) { p.FPSNum = 0 }, "frame rate 0/0: must be positive"},
		{"negative fps den", func(p *Params) { p.FPSDen = -1 }, "frame rate 30/-1: must be positive"},
		{"negative bitrate", func(p *Params) { p.BitrateKbps = -1 }, "bitrate -1 kbit/s: must not be negative"},
		{"crf too high", func(p *Params) { p.CRF = 52 }, "CRF 52: must be between 0 and 51"},
		{"negative gop", func(p *Params) { p.GOP = -1 }, "GOP -1: must not be negative"},
		{"negative threads", func(p *Params) { p.Threads = -1 }, "threads -1: must not be negative"},
		{"unknown preset", func(p *Params) { p.Preset = "turbo" },
			`preset "turbo": must be one of ultrafast, superfast, veryfast, faster, fast, medium, slow, slower, veryslow, placebo`},
		{"unknown tune", func(p *Params) { p.Tune = "lowlatency" },
			`tune "lowlatency": must be none or one or more (comma-separated) of film, animation, grain, stillimage, psnr, ssim, fastdecode, zerolatency`},
		{"two psy tunes", func(p *Params) { p.Tune = "film,grain" }, `tune "film,grain": at most one of`},
		{"unknown profile", func(p *Params) { p.Profile = "high10" }, `profile "high10": must be one of baseline, main, high`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ok
			tt.mod(&p)
			err := p.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := Open(Params{Width: 641, Height: 480, FPSNum: 30})
	if err == nil || err.Error() != "open x264: size 641x480: width and height must be even" {
		t.Fatalf("Open(odd) = %v", err)
	}
}

func TestParamsDefaults(t *testing.T) {
	e := open(t, Params{Width: 320, Height: 240, FPSNum: 30})
	want := Params{Width: 320, Height: 240, FPSNum: 30, FPSDen: 1, CRF: 23, GOP: 60,
		Preset: "ultrafast", Tune: "zerolatency", Profile: "high"}
	if got := e.Params(); got != want {
		t.Fatalf("Params() = %+v, want %+v", got, want)
	}
	e2 := open(t, Params{Width: 320, Height: 240, FPSNum: 30000, FPSDen: 1001, BitrateKbps: 300})
	if got := e2.Params(); got.GOP != 60 || got.CRF != 0 {
		t.Fatalf("Params() = %+v, want GOP 60, CRF 0", got)
	}
}

func TestHeadersAndStructure(t *testing.T) {
	e := open(t, Params{Width: 320, Height: 240, FPSNum: 30})
	frames := encodeN(t, e, 60, 0, nil)
	first := frames[0]
	if !first.idr {
		t.Fatal("first access unit is not an IDR")
	}
	types := nalTypes(first.au)
	if len(types) < 3 || types[0] != h264.NALUTypeSPS || types[1] != h264.NALUTypePPS || types[2] != h264.NALUTypeIDR {
		t.Fatalf("first access unit NAL types %v, want SPS, PPS, IDR...", types)
	}
	sps, pps := e.Headers()
	if !bytes.Equal(sps, first.au[0]) || !bytes.Equal(pps, first.au[1]) {
		t.Fatalf("Headers() differ from the first access unit's SPS/PPS:\n%x %x\n%x %x", sps, pps, first.au[0], first.au[1])
	}
	if idrs := idrFrames(t, frames); len(idrs) != 1 {
		t.Fatalf("IDR frames %v, want [0] (GOP 60)", idrs)
	}
}

func TestDecodeWithFFmpeg(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not installed")
	}
	const w, h, n = 320, 240, 60
	e := open(t, Params{Width: w, Height: h, FPSNum: 30})
	frames := encodeN(t, e, n, 0, nil)
	file := filepath.Join(t.TempDir(), "out.h264")
	if err := os.WriteFile(file, annexB(t, frames), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-f", "h264", "-i", file,
		"-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Fatalf("ffmpeg reported errors: %s", stderr.String())
	}
	// yuv420p rather than gray: ffmpeg's gray is full range and would be
	// range-expanded.
	const frameSize = w * h * 3 / 2
	out := stdout.Bytes()
	if len(out) != n*frameSize {
		t.Fatalf("decoded %d bytes = %.2f frames, want %d frames", len(out), float64(len(out))/frameSize, n)
	}
	// The solid square's interior (away from its moving edges) comes back
	// as Y=200: on average within ±2, every pixel within ±10.
	const margin, meanTol, pixTol = 4, 2, 10
	for i := 0; i < n; i++ {
		luma := out[i*frameSize : i*frameSize+w*h]
		sx, sy := squarePos(i)
		sum, cnt, worst := 0, 0, 0
		for y := sy + margin; y < min(sy+squareSize-margin, h); y++ {
			for x := sx + margin; x < min(sx+squareSize-margin, w); x++ {
				d := int(luma[y*w+x]) - squareY
				sum += d
				cnt++
				if abs(d) > abs(worst) {
					worst = d
				}
			}
		}
		if mean := float64(sum) / float64(cnt); mean < -meanTol || mean > meanTol || abs(worst) > pixTol {
			t.Fatalf("frame %d: square luma off by %.2f on average, %d at worst; want within ±%d, ±%d", i, mean, worst, meanTol, pixTol)
		}
		if i == 0 || i == n-1 {
			t.Logf("frame %d: square luma off by %.2f on average, %d at worst", i, float64(sum)/float64(cnt), worst)
		}
	}

	// The VUI: 30 fps, BT.601 limited range.
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		return
	}
	probe, err := exec.Command(ffprobe, "-v", "error", "-f", "h264", "-select_streams", "v:0",
		"-show_entries", "stream=r_frame_rate,color_space,color_range,color_primaries,color_transfer",
		"-of", "default=noprint_wrappers=1", file).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v: %s", err, probe)
	}
	for _, want := range []string{"r_frame_rate=30/1", "color_range=tv", "color_space=smpte170m",
		"color_primaries=smpte170m", "color_transfer=smpte170m"} {
		if !strings.Contains(string(probe), want) {
			t.Errorf("ffprobe output lacks %q:\n%s", want, probe)
		}
	}
}

func TestForceIDR(t *testing.T) {
	e := open(t, Params{Width: 320, Height: 240, FPSNum: 30, GOP: 1000})
	frames := encodeN(t, e, 60, 0, func(i int) bool { return i == 10 })
	if idrs := idrFrames(t, frames); fmt.Sprint(idrs) != "[0 10]" {
		t.Fatalf("IDR frames %v, want [0 10]", idrs)
	}
}

func TestGOP(t *testing.T) {
	e := open(t, Params{Width: 320, Height: 240, FPSNum: 30, GOP: 30})
	frames := encodeN(t, e, 91, 0, nil)
	if idrs := idrFrames(t, frames); fmt.Sprint(idrs) != "[0 30 60 90]" {
		t.Fatalf("IDR frames %v, want [0 30 60 90]", idrs)
	}
}

func TestBitrate(t *testing.T) {
	const kbps, seconds, fps = 500, 5, 30
	e := open(t, Params{Width: 640, Height: 360, FPSNum: fps, BitrateKbps: kbps})
	frames := encodeN(t, e, seconds*fps, 12, nil)
	total := 0
	for _, f := range frames {
		for _, n := range f.au {
			total += len(n) + 4
		}
	}
	got := float64(total) * 8 / seconds / 1000
	t.Logf("%d bytes in %d s = %.0f kbit/s (target %d)", total, seconds, got, kbps)
	if got < kbps*0.75 || got > kbps*1.25 {
		t.Fatalf("bitrate %.0f kbit/s, want %d±25%%", got, kbps)
	}
}

func TestEncodeAllocs(t *testing.T) {
	const w, h = 320, 240
	e := open(t, Params{Width: w, Height: h, FPSNum: 30})
	pics := []*Picture{newPicture(w, h), newPicture(w, h)}
	rng := rand.New(rand.NewSource(1))
	fillPicture(pics[0], w, h, 0, rng, 4)
	fillPicture(pics[1], w, h, 5, rng, 4)
	pts := int64(0)
	encode := func() {
		pts += 3000
		au, _, err := e.Encode(pics[pts/3000%2], pts, false)
		if err != nil || au == nil {
			panic(fmt.Sprint("encode: ", err))
		}
	}
	for i := 0; i < 30; i++ { // warm up: grow the output buffers
		encode()
	}
	if allocs := testing.AllocsPerRun(100, encode); allocs != 0 {
		t.Fatalf("%v allocations per Encode, want 0", allocs)
	}
}

func TestEncodeErrors(t *testing.T) {
	const w, h = 320, 240
	e := open(t, Params{Width: w, Height: h, FPSNum: 30})
	pic := newPicture(w, h)
	if _, _, err := e.Encode(nil, 0, false); err == nil {
		t.Error("Encode(nil) succeeded")
	}
	short := *pic
	short.V = short.V[:len(short.V)-padStride-1]
	if _, _, err := e.Encode(&short, 0, false); err == nil || !strings.Contains(err.Error(), "plane V") {
		t.Errorf("Encode(short V) = %v", err)
	}
	narrow := *pic
	narrow.StrideY = w - 2
	if _, _, err := e.Encode(&narrow, 0, false); err == nil || !strings.Contains(err.Error(), "stride") {
		t.Errorf("Encode(narrow stride) = %v", err)
	}
	// A tightly packed picture (stride = width, no slack) is fine.
	packed := &Picture{Y: make([]byte, w*h), U: make([]byte, w*h/4), V: make([]byte, w*h/4),
		StrideY: w, StrideU: w / 2, StrideV: w / 2}
	if _, _, err := e.Encode(packed, 100, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Encode(pic, 100, false); err == nil || !strings.Contains(err.Error(), "pts") {
		t.Errorf("Encode(same pts) = %v", err)
	}
	if _, _, err := e.Encode(pic, 200, false); err != nil {
		t.Fatal(err)
	}
}

func TestClose(t *testing.T) {
	e, err := Open(Params{Width: 320, Height: 240, FPSNum: 30})
	if err != nil {
		t.Fatal(err)
	}
	pic := newPicture(320, 240)
	if _, _, err := e.Encode(pic, 0, false); err != nil {
		t.Fatal(err)
	}
	e.Close()
	e.Close()
	if _, _, err := e.Encode(pic, 1, false); !errors.Is(err, ErrClosed) {
		t.Fatalf("Encode after Close = %v, want ErrClosed", err)
	}
	if _, _, err := e.Flush(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush after Close = %v, want ErrClosed", err)
	}
	if sps, pps := e.Headers(); len(sps) == 0 || len(pps) == 0 {
		t.Fatal("Headers after Close are empty")
	}
}

// With a tune that keeps lookahead and frame threads, Encode returns nothing
// for the first frames and Flush drains the rest; still no B-frames.
func TestFlushDelayedFrames(t *testing.T) {
	const w, h, n = 160, 120, 40
	e := open(t, Params{Width: w, Height: h, FPSNum: 30, Preset: "fast", Tune: "none", Threads: 2})
	pic := newPicture(w, h)
	rng := rand.New(rand.NewSource(1))
	var frames []frame
	delayed := 0
	for i := 0; i < n; i++ {
		fillPicture(pic, w, h, i, rng, 0)
		au, idr, err := e.Encode(pic, int64(i)*3000, false)
		if err != nil {
			t.Fatal(err)
		}
		if au == nil {
			delayed++
			continue
		}
		frames = append(frames, frame{copyAU(au), idr})
	}
	for {
		au, idr, err := e.Flush()
		if err != nil {
			t.Fatal(err)
		}
		if au == nil {
			break
		}
		frames = append(frames, frame{copyAU(au), idr})
	}
	if delayed == 0 {
		t.Error("no frame was delayed; the test does not exercise Flush")
	}
	if len(frames) != n {
		t.Fatalf("got %d access units, want %d", len(frames), n)
	}
	if idrs := idrFrames(t, frames); fmt.Sprint(idrs) != "[0]" {
		t.Fatalf("IDR frames %v, want [0]", idrs)
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, size := range []struct{ w, h int }{{1280, 720}, {1920, 1080}} {
		b.Run(fmt.Sprintf("%dx%d", size.w, size.h), func(b *testing.B) {
			e := open(b, Params{Width: size.w, Height: size.h, FPSNum: 30, BitrateKbps: 4000})
			pics := make([]*Picture, 8)
			rng := rand.New(rand.NewSource(1))
			for i := range pics {
				pics[i] = newPicture(size.w, size.h)
				fillPicture(pics[i], size.w, size.h, 4*i, rng, 3)
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				if _, _, err := e.Encode(pics[i%len(pics)], int64(i)*3000, false); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

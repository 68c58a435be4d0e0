// Package x264 encodes I420 pictures into H.264 with libx264, set up for
// live streaming: no B-frames, SPS/PPS repeated before every IDR, an
// explicit GOP, IDR on request. It is the encode step of framecast's
// pipeline: source → convert → encode → fan-out.
package x264

/*
#cgo pkg-config: x264
#cgo noescape fc_encode
#cgo nocallback fc_encode

#include <stdint.h>
#include <stdlib.h>
#include <x264.h>

// fc_enc is all the C-side state of one encoder, allocated once in Open and
// freed in Close, so that Encode passes nothing but Go byte planes to C.
typedef struct {
	x264_param_t param;
	x264_t *h;
	x264_picture_t in;
	x264_picture_t out;
	x264_nal_t *nal;
	int nnal;
} fc_enc;

// fc_open wraps the x264_encoder_open macro (a versioned symbol).
static int fc_open(fc_enc *e) {
	e->h = x264_encoder_open(&e->param);
	if (!e->h) return -1;
	x264_picture_init(&e->in);
	e->in.img.i_csp = X264_CSP_I420;
	e->in.img.i_plane = 3;
	return 0;
}

// fc_encode encodes one picture, or drains a delayed one when y is NULL.
// The planes are Go memory: they are stored in e->in only for the duration
// of x264_encoder_encode (which copies the picture) and cleared before
// returning. The output NAL units are left in e->nal / e->nnal.
static int fc_encode(fc_enc *e, uint8_t *y, int sy, uint8_t *u, int su, uint8_t *v, int sv, int64_t pts, int type) {
	x264_picture_t *in = NULL;
	if (y) {
		in = &e->in;
		in->img.plane[0] = y; in->img.i_stride[0] = sy;
		in->img.plane[1] = u; in->img.i_stride[1] = su;
		in->img.plane[2] = v; in->img.i_stride[2] = sv;
		in->i_pts = pts;
		in->i_type = type;
	}
	e->nal = NULL;
	e->nnal = 0;
	int n = x264_encoder_encode(e->h, &e->nal, &e->nnal, in, &e->out);
	if (in) {
		in->img.plane[0] = in->img.plane[1] = in->img.plane[2] = NULL;
	}
	return n;
}

static int fc_headers(fc_enc *e) {
	e->nal = NULL;
	e->nnal = 0;
	return x264_encoder_headers(e->h, &e->nal, &e->nnal);
}

static void fc_close(fc_enc *e) {
	if (e->h) x264_encoder_close(e->h);
	e->h = NULL;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// Params configures an Encoder. Zero values select the documented defaults.
type Params struct {
	Width, Height  int
	FPSNum, FPSDen int // frame rate, e.g. 30/1; FPSDen 0 means 1

	// BitrateKbps > 0 selects ABR with a VBV of maxrate BitrateKbps and a
	// buffer of half a second (CBR-like; the average comes out within a
	// few percent of BitrateKbps). 0 selects CRF.
	BitrateKbps int
	CRF         float64 // used when BitrateKbps == 0; 0 means 23

	// GOP is the IDR interval in frames; 0 means 2 s worth of frames.
	// Scene-cut detection is off, so IDRs come exactly every GOP frames
	// (or when forced).
	GOP int

	Preset  string // "" means "ultrafast"
	Tune    string // "" means "zerolatency"; "none" means no tune; combinations like "zerolatency,fastdecode" are allowed
	Profile string // "" means "high"; a cap: x264 signals the lowest profile the settings need (ultrafast gives Constrained Baseline)
	Threads int    // 0 = x264 auto
}

// The live defaults: what an empty Preset, Tune and Profile mean.
const (
	DefaultPreset  = "ultrafast"
	DefaultTune    = "zerolatency"
	DefaultProfile = "high"
)

var (
	presetNames  = []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"}
	tuneNames    = []string{"film", "animation", "grain", "stillimage", "psnr", "ssim", "fastdecode", "zerolatency"}
	psyTunes     = []string{"film", "animation", "grain", "stillimage", "psnr", "ssim"}
	profileNames = []string{"baseline", "main", "high"}
)

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Validate reports whether p describes an encoder Open can create.
func (p Params) Validate() error {
	if p.Width <= 0 || p.Height <= 0 {
		return fmt.Errorf("size %dx%d: width and height must be positive", p.Width, p.Height)
	}
	if p.Width%2 != 0 || p.Height%2 != 0 {
		return fmt.Errorf("size %dx%d: width and height must be even", p.Width, p.Height)
	}
	if p.FPSNum <= 0 || p.FPSDen < 0 {
		return fmt.Errorf("frame rate %d/%d: must be positive", p.FPSNum, p.FPSDen)
	}
	if p.BitrateKbps < 0 {
		return fmt.Errorf("bitrate %d kbit/s: must not be negative", p.BitrateKbps)
	}
	if p.CRF < 0 || p.CRF > 51 || math.IsNaN(p.CRF) {
		return fmt.Errorf("CRF %g: must be between 0 and 51", p.CRF)
	}
	if p.GOP < 0 {
		return fmt.Errorf("GOP %d: must not be negative", p.GOP)
	}
	if p.Threads < 0 {
		return fmt.Errorf("threads %d: must not be negative", p.Threads)
	}
	if p.Preset != "" && !contains(presetNames, p.Preset) {
		return fmt.Errorf("preset %q: must be one of %s", p.Preset, strings.Join(presetNames, ", "))
	}
	if p.Tune != "" && p.Tune != "none" {
		psy := 0
		for _, t := range strings.FieldsFunc(p.Tune, func(r rune) bool { return strings.ContainsRune(",./-+", r) }) {
			if !contains(tuneNames, t) {
				return fmt.Errorf("tune %q: must be none or one or more (comma-separated) of %s", p.Tune, strings.Join(tuneNames, ", "))
			}
			if contains(psyTunes, t) {
				psy++
			}
		}
		if psy > 1 {
			return fmt.Errorf("tune %q: at most one of %s", p.Tune, strings.Join(psyTunes, ", "))
		}
	}
	if p.Profile != "" && !contains(profileNames, p.Profile) {
		return fmt.Errorf("profile %q: must be one of %s", p.Profile, strings.Join(profileNames, ", "))
	}
	return nil
}

// withDefaults returns p with the zero-value defaults filled in.
func (p Params) withDefaults() Params {
	if p.FPSDen == 0 {
		p.FPSDen = 1
	}
	if p.BitrateKbps == 0 && p.CRF == 0 {
		p.CRF = 23
	}
	if p.GOP == 0 {
		p.GOP = max(1, int(math.Round(2*float64(p.FPSNum)/float64(p.FPSDen))))
	}
	if p.Preset == "" {
		p.Preset = DefaultPreset
	}
	if p.Tune == "" {
		p.Tune = DefaultTune
	}
	if p.Profile == "" {
		p.Profile = DefaultProfile
	}
	return p
}

// Picture is an I420 picture. Its memory is owned by the caller and only
// read during Encode.
type Picture struct {
	Y, U, V                   []byte
	StrideY, StrideU, StrideV int
}

// ErrClosed is returned by Encode and Flush after Close.
var ErrClosed = errors.New("x264: encoder closed")

// Encoder is one libx264 encoder. Its methods may be called from any
// goroutine; calls are serialised.
type Encoder struct {
	mu      sync.Mutex
	c       *C.fc_enc // nil after Close
	cleanup runtime.Cleanup
	p       Params
	sps     []byte
	pps     []byte
	buf     []byte   // reused copy of x264's output
	au      [][]byte // reused NAL list pointing into buf
	lastPTS int64
	started bool
}

// Open creates an encoder. p is validated first.
func Open(p Params) (*Encoder, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("open x264: %w", err)
	}
	p = p.withDefaults()

	c := (*C.fc_enc)(C.calloc(1, C.size_t(unsafe.Sizeof(C.fc_enc{}))))
	if c == nil {
		return nil, errors.New("open x264: out of memory")
	}
	if err := setParams(&c.param, p); err != nil {
		C.free(unsafe.Pointer(c))
		return nil, fmt.Errorf("open x264: %w", err)
	}
	if C.fc_open(c) != 0 {
		C.free(unsafe.Pointer(c))
		return nil, fmt.Errorf("open x264: x264_encoder_open failed for %dx%d %s/%s/%s", p.Width, p.Height, p.Preset, p.Tune, p.Profile)
	}
	e := &Encoder{c: c, p: p}
	// Free the C side if the caller forgets Close.
	e.cleanup = runtime.AddCleanup(e, func(c *C.fc_enc) {
		C.fc_close(c)
		C.free(unsafe.Pointer(c))
	}, c)
	if C.fc_headers(c) < 0 {
		e.Close()
		return nil, errors.New("open x264: x264_encoder_headers failed")
	}
	for _, n := range unsafe.Slice(c.nal, c.nnal) {
		sc := startCodeLen(&n)
		if int(n.i_payload) <= sc {
			continue
		}
		nal := unsafe.Slice((*byte)(unsafe.Pointer(n.p_payload)), n.i_payload)[sc:]
		switch h264.NALUType(n.i_type) {
		case h264.NALUTypeSPS:
			e.sps = append([]byte(nil), nal...)
		case h264.NALUTypePPS:
			e.pps = append([]byte(nil), nal...)
		}
	}
	if e.sps == nil || e.pps == nil {
		e.Close()
		return nil, errors.New("open x264: no SPS/PPS from x264_encoder_headers")
	}
	return e, nil
}

func setParams(x *C.x264_param_t, p Params) error {
	preset := C.CString(p.Preset)
	defer C.free(unsafe.Pointer(preset))
	var tune *C.char
	if p.Tune != "none" {
		tune = C.CString(p.Tune)
		defer C.free(unsafe.Pointer(tune))
	}
	if C.x264_param_default_preset(x, preset, tune) < 0 {
		return fmt.Errorf("preset %q / tune %q rejected by x264", p.Preset, p.Tune)
	}

	x.i_width = C.int(p.Width)
	x.i_height = C.int(p.Height)
	x.i_csp = C.X264_CSP_I420
	x.i_fps_num = C.uint32_t(p.FPSNum)
	x.i_fps_den = C.uint32_t(p.FPSDen)
	// With b_vfr_input = 0 x264 rate-controls by fps and replaces this
	// timebase with 1/fps (so the VUI timing is right); pts only orders frames.
	x.i_timebase_num = 1
	x.i_timebase_den = 90000
	x.b_vfr_input = 0
	x.i_threads = C.int(p.Threads)
	x.i_log_level = C.X264_LOG_ERROR

	x.i_bframe = 0
	x.b_intra_refresh = 0
	x.b_open_gop = 0
	x.i_keyint_max = C.int(p.GOP)
	x.i_scenecut_threshold = 0

	x.b_repeat_headers = 1
	x.b_annexb = 1
	x.b_aud = 0
	x.i_nal_hrd = C.X264_NAL_HRD_NONE

	// BT.601 limited range, as produced by libyuv's RGB → I420 conversion.
	x.vui.b_fullrange = 0
	x.vui.i_colorprim = 6 // smpte170m
	x.vui.i_transfer = 6  // smpte170m
	x.vui.i_colmatrix = 6 // smpte170m (= bt470bg)

	if p.BitrateKbps > 0 {
		x.rc.i_rc_method = C.X264_RC_ABR
		x.rc.i_bitrate = C.int(p.BitrateKbps)
		x.rc.i_vbv_max_bitrate = C.int(p.BitrateKbps)
		// The VBV buffer holds half a second. A buffer of one or two
		// frames looks right for latency, but it starves IDR frames: an
		// IDR forced for a joining viewer then comes out as a flat grey
		// picture at QP 51. Half a second lets an IDR be a few times a P
		// frame, which on a LAN costs milliseconds of transmission, and
		// keeps the average bitrate within a few percent of the target.
		x.rc.i_vbv_buffer_size = C.int(max(1, math.Round(float64(p.BitrateKbps)/2)))
	} else {
		x.rc.i_rc_method = C.X264_RC_CRF
		x.rc.f_rf_constant = C.float(p.CRF)
	}

	profile := C.CString(p.Profile)
	defer C.free(unsafe.Pointer(profile))
	if C.x264_param_apply_profile(x, profile) < 0 {
		return fmt.Errorf("profile %q rejected by x264", p.Profile)
	}
	return nil
}

// Params returns the encoder's parameters with defaults filled in
// (FPSDen, CRF, GOP, Preset, Tune, Profile).
func (e *Encoder) Params() Params { return e.p }

// Headers returns the SPS and PPS NAL units (without start codes), as for
// the SDP sprop-parameter-sets. The slices are copies.
func (e *Encoder) Headers() (sps, pps []byte) {
	return append([]byte(nil), e.sps...), append([]byte(nil), e.pps...)
}

// Encode encodes one picture with presentation time pts (in 1/90000 s
// units; must increase) and returns the access unit as NAL units without
// start codes (SPS and PPS before every IDR; SEI units are dropped), and
// whether it is an IDR. forceIDR makes this picture an IDR.
//
// The returned slices point into a buffer owned by the Encoder and are
// valid until the next Encode, Flush or Close. With the zerolatency tune
// each call returns its own picture's access unit; with tunes that delay
// frames Encode may return nil, false, nil (see Flush).
func (e *Encoder) Encode(pic *Picture, pts int64, forceIDR bool) (au [][]byte, idr bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c == nil {
		return nil, false, ErrClosed
	}
	if err := e.checkPicture(pic); err != nil {
		return nil, false, err
	}
	if e.started && pts <= e.lastPTS {
		return nil, false, fmt.Errorf("x264: pts %d does not increase (previous %d)", pts, e.lastPTS)
	}
	typ := C.int(C.X264_TYPE_AUTO)
	if forceIDR {
		typ = C.X264_TYPE_IDR
	}
	n := C.fc_encode(e.c,
		(*C.uint8_t)(unsafe.Pointer(&pic.Y[0])), C.int(pic.StrideY),
		(*C.uint8_t)(unsafe.Pointer(&pic.U[0])), C.int(pic.StrideU),
		(*C.uint8_t)(unsafe.Pointer(&pic.V[0])), C.int(pic.StrideV),
		C.int64_t(pts), typ)
	if n < 0 {
		return nil, false, errors.New("x264: x264_encoder_encode failed")
	}
	e.started = true
	e.lastPTS = pts
	return e.collect(int(n))
}

// Flush returns one delayed access unit per call (only tunes with
// lookahead or frame threads delay frames), or nil, false, nil when none
// is left. The slices are valid as for Encode.
func (e *Encoder) Flush() (au [][]byte, idr bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c == nil {
		return nil, false, ErrClosed
	}
	if C.x264_encoder_delayed_frames(e.c.h) <= 0 {
		return nil, false, nil
	}
	n := C.fc_encode(e.c, nil, 0, nil, 0, nil, 0, 0, C.X264_TYPE_AUTO)
	if n < 0 {
		return nil, false, errors.New("x264: x264_encoder_encode (flush) failed")
	}
	return e.collect(int(n))
}

// collect copies x264's n output bytes once into e.buf and splits them
// into NAL units without start codes, dropping SEI. x264 describes each NAL
// unit (offset, size, type, start code length), so nothing is parsed.
func (e *Encoder) collect(n int) ([][]byte, bool, error) {
	if n == 0 || e.c.nnal == 0 {
		return nil, false, nil
	}
	nals := unsafe.Slice(e.c.nal, e.c.nnal)
	base := uintptr(unsafe.Pointer(nals[0].p_payload))
	if cap(e.buf) < n {
		e.buf = make([]byte, n+n/2)
	}
	buf := e.buf[:n]
	// x264 guarantees the payloads are sequential in memory.
	copy(buf, unsafe.Slice((*byte)(unsafe.Pointer(nals[0].p_payload)), n))
	au := e.au[:0]
	idr := false
	for i := range nals {
		off := int(uintptr(unsafe.Pointer(nals[i].p_payload)) - base)
		size := int(nals[i].i_payload)
		if off < 0 || off+size > n {
			return nil, false, fmt.Errorf("x264: NAL %d outside the output (%d+%d > %d)", i, off, size, n)
		}
		sc := startCodeLen(&nals[i])
		if size <= sc {
			continue
		}
		switch h264.NALUType(nals[i].i_type) {
		case h264.NALUTypeSEI:
			continue
		case h264.NALUTypeIDR:
			idr = true
		}
		au = append(au, buf[off+sc:off+size:off+size])
	}
	e.au = au
	if len(au) == 0 {
		return nil, false, nil
	}
	return au, idr, nil
}

// startCodeLen is the length of the Annex-B start code x264 wrote before
// n's payload (b_annexb is set): 4 bytes where b_long_startcode says so,
// 3 otherwise.
func startCodeLen(n *C.x264_nal_t) int {
	if n.b_long_startcode != 0 {
		return 4
	}
	return 3
}

func (e *Encoder) checkPicture(pic *Picture) error {
	if pic == nil {
		return errors.New("x264: nil picture")
	}
	w, h := e.p.Width, e.p.Height
	cw, ch := w/2, h/2
	if err := checkPlane("Y", pic.Y, pic.StrideY, w, h); err != nil {
		return err
	}
	if err := checkPlane("U", pic.U, pic.StrideU, cw, ch); err != nil {
		return err
	}
	return checkPlane("V", pic.V, pic.StrideV, cw, ch)
}

func checkPlane(name string, b []byte, stride, w, h int) error {
	if stride < w {
		return fmt.Errorf("x264: plane %s stride %d is less than its width %d", name, stride, w)
	}
	if need := stride*(h-1) + w; len(b) < need {
		return fmt.Errorf("x264: plane %s has %d bytes, need %d (stride %d, %dx%d)", name, len(b), need, stride, w, h)
	}
	return nil
}

// Close frees the encoder. It is idempotent; Encode after Close returns
// ErrClosed.
func (e *Encoder) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c == nil {
		return
	}
	e.cleanup.Stop()
	C.fc_close(e.c)
	C.free(unsafe.Pointer(e.c))
	e.c = nil
	e.buf = nil
	e.au = nil
}

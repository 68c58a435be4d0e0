package bench

import (
	"github.com/framecast/framecast/internal/x264"
	"github.com/framecast/framecast/internal/yuv"
)

// EncodeGOP encodes n frames of the synthetic picture as framecast does
// (x264 ultrafast, zerolatency, the first frame an IDR, an IDR every gop
// frames) and returns copies of the access units and the SPS and PPS. It
// lets fan-out measurements send real access units without an encoder.
func EncodeGOP(w, h, bitrateKbps, gop, n int) (aus [][][]byte, sps, pps []byte, err error) {
	enc, err := x264.Open(x264.Params{Width: w, Height: h, FPSNum: 30, BitrateKbps: bitrateKbps, GOP: gop})
	if err != nil {
		return nil, nil, nil, err
	}
	defer enc.Close()
	sps, pps = enc.Headers()
	s := NewSynth(w, h)
	frame := make([]byte, s.FrameSize())
	img := yuv.NewI420(w, h)
	for i := range n {
		s.Draw(frame, i)
		StampRow(frame, w, h, RowNumber, uint32(i))
		if err := yuv.Convert(img, frame, yuv.BGR24, 0); err != nil {
			return nil, nil, nil, err
		}
		au, _, err := enc.Encode(&x264.Picture{Y: img.Y, U: img.U, V: img.V,
			StrideY: img.StrideY, StrideU: img.StrideU, StrideV: img.StrideV}, int64(i)*3000, false)
		if err != nil {
			return nil, nil, nil, err
		}
		var cp [][]byte
		for _, nal := range au {
			cp = append(cp, append([]byte(nil), nal...))
		}
		aus = append(aus, cp)
	}
	return aus, sps, pps, nil
}

package h264desc

import (
	"bytes"
	"testing"
)

// TestEncoderPacketsFitMaxPacketSize packetises NAL units on both sides of
// the limits of a single-NAL packet, a STAP-A and FU-A fragments, and of
// gortsplib's default, and checks every packet's size, header included, and
// that the packets depacketise to the same NAL units.
func TestEncoderPacketsFitMaxPacketSize(t *testing.T) {
	sps := []byte{0x67, 0x64, 0x00, 0x28, 0xac}
	pps := []byte{0x68, 0xee, 0x3c, 0xb0}
	_, _, forma := Session(sps, pps)
	nalu := func(typ byte, size int) []byte {
		b := bytes.Repeat([]byte{0x9a}, size)
		b[0] = typ
		return b
	}
	tests := []struct {
		name string
		au   [][]byte
	}{
		{"1080p IDR", [][]byte{sps, pps, nalu(0x65, 400_000)}},
		{"STAP-A at the limit", [][]byte{sps, pps, nalu(0x65, MaxPacketSize-rtpHeaderSize-1-2*3-len(sps)-len(pps))}},
		{"STAP-A over the limit", [][]byte{sps, pps, nalu(0x65, MaxPacketSize-rtpHeaderSize-2*3-len(sps)-len(pps))}},
	}
	for size := MaxPacketSize - rtpHeaderSize - 3; size <= 1452; size++ {
		tests = append(tests, struct {
			name string
			au   [][]byte
		}{"P slice", [][]byte{nalu(0x41, size)}})
	}
	for _, tc := range tests {
		enc, err := NewEncoder(forma)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := forma.CreateDecoder()
		if err != nil {
			t.Fatal(err)
		}
		pkts, err := enc.Encode(tc.au)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got [][]byte
		for _, p := range pkts {
			if n := p.MarshalSize(); n > MaxPacketSize {
				t.Errorf("%s, last NAL unit %d bytes: packet of %d bytes, want at most %d",
					tc.name, len(tc.au[len(tc.au)-1]), n, MaxPacketSize)
			}
			if au, err := dec.Decode(p); err == nil {
				got = au
			}
		}
		if len(got) != len(tc.au) || !bytes.Equal(got[len(got)-1], tc.au[len(tc.au)-1]) {
			t.Errorf("%s: depacketised %d NAL units, want the %d written", tc.name, len(got), len(tc.au))
		}
	}
}

package testsrc

// StampBits is the number of bits of a frame number stamped by StampNumber.
const StampBits = 16

// StampBlock is the side in pixels of one stamp block for a frame w pixels wide:
// the row of StampBits blocks spans half the width, at least 2 pixels a block.
func StampBlock(w int) int { return max(2, w/(2*StampBits)) }

// StampNumber draws n's low StampBits bits, most significant first, as a row of
// square blocks (white = 1, black = 0) at the bottom-left of a packed frame of
// w x h pixels with bpp bytes per pixel (all channels set alike, so it works
// for bgr24, rgb24, bgra, rgba and gray). Blocks are large enough to survive
// H.264 compression; ReadNumber reads them back from decoded luma.
func StampNumber(frame []byte, w, h, stride, bpp int, n uint32) {
	b := StampBlock(w)
	y0 := h - b
	for i := range StampBits {
		var v byte
		if n&(1<<(StampBits-1-i)) != 0 {
			v = 255
		}
		for y := y0; y < h; y++ {
			row := frame[y*stride:]
			for x := i * b; x < (i+1)*b; x++ {
				for c := range bpp {
					row[x*bpp+c] = v
				}
			}
		}
	}
}

// ReadNumber reads a number stamped by StampNumber from a decoded 8-bit luma
// (or gray) plane of w x h with the given stride.
func ReadNumber(luma []byte, w, h, stride int) uint32 {
	b := StampBlock(w)
	y := h - b/2 - 1
	if b%2 == 0 {
		y = h - b/2
	}
	var n uint32
	for i := range StampBits {
		n <<= 1
		if luma[y*stride+i*b+b/2] >= 128 {
			n |= 1
		}
	}
	return n
}

// Package ingest is the wire format of framecast's ingest protocol
// (docs/ingest-protocol.md): how a producer in another process sends raw
// frames over a TCP or Unix socket. It sits at the source end of the
// pipeline (source → convert → encode → fan-out): it parses and writes the
// messages, and knows nothing of sockets, streams or encoders. Each message
// type marshals and unmarshals itself; a [Reader] frames messages from a byte
// stream into reused buffers, and a [Writer] sends them, pixels without a
// copy. Parse errors are [*Error] values carrying the protocol's error code,
// ready to be sent back to the producer.
package ingest

import "fmt"

// Protocol constants.
const (
	// Version is the protocol version this package speaks.
	Version = 1
	// Magic opens every HELLO payload.
	Magic = "FCST"
	// HeaderSize is the size of the header before every payload.
	HeaderSize = 8
	// MaxControlPayload is the largest payload of any message but FRAME.
	MaxControlPayload = 64 << 10
	// MaxFramePayload is the largest FRAME payload, timestamp included.
	MaxFramePayload = 256 << 20
	// TimestampSize is the size of the timestamp that starts a FRAME payload.
	TimestampSize = 8
	// MaxPixels is the largest number of pixel bytes one FRAME carries.
	MaxPixels = MaxFramePayload - TimestampSize
	// MaxPathLen is the longest path, in bytes.
	MaxPathLen = 255
	// MinDimension and MaxDimension bound a frame's width and height.
	MinDimension, MaxDimension = 2, 8192
	// MaxFPS is the highest nominal frame rate; 1/MaxFPS is the lowest.
	MaxFPS = 1000
)

// Type is a message type.
type Type uint8

// Message types. Producers send HELLO, FORMAT, FRAME, BYE, and with shared
// memory RING and SLOT; the server sends READY, ERROR, and FREE.
const (
	TypeHello  Type = 0x01
	TypeFormat Type = 0x02
	TypeFrame  Type = 0x03
	TypeBye    Type = 0x04
	TypeRing   Type = 0x05 // shared memory: the ring's descriptor (shm.go)
	TypeSlot   Type = 0x06 // shared memory: a slot holds a frame
	TypeReady  Type = 0x81
	TypeError  Type = 0x82
	TypeFree   Type = 0x83 // shared memory: the server is done with a slot
)

// FlagTimestamp, in a FRAME's flags, says its timestamp is set.
const FlagTimestamp uint8 = 1 << 0

// HELLO flags.
const (
	// FlagTakeover, in a HELLO's flags, asks the server to end the
	// connection of the producer that publishes the path, if any, when this
	// one's first FORMAT publishes it: the old producer gets a replaced
	// ERROR and this one goes on with the path's viewers.
	FlagTakeover uint8 = 1 << 0
	// FlagInfo, in a HELLO's flags, says the producer reads a READY that
	// carries the path's RTSP URL (Ready.RTSPURL): the server then sends
	// that longer READY on this connection.
	FlagInfo uint8 = 1 << 1
	// FlagSharedMemory, in a HELLO's flags, asks to send frames through a
	// ring of shared memory (RING, SLOT, FREE) instead of FRAMEs; the server
	// answers with FlagReadyShared in its READY when it agrees, which it
	// does on a Unix socket only.
	FlagSharedMemory uint8 = 1 << 2
)

// FlagReadyShared, in the flags of the READY that answers a HELLO with
// FlagSharedMemory, says the server takes frames through shared memory on
// this connection.
const FlagReadyShared uint8 = 1 << 0

// String returns the message type's name as the spec writes it, e.g.
// "HELLO", or "type 0x47" for an unknown type.
func (t Type) String() string {
	switch t {
	case TypeHello:
		return "HELLO"
	case TypeFormat:
		return "FORMAT"
	case TypeFrame:
		return "FRAME"
	case TypeBye:
		return "BYE"
	case TypeRing:
		return "RING"
	case TypeSlot:
		return "SLOT"
	case TypeFree:
		return "FREE"
	case TypeReady:
		return "READY"
	case TypeError:
		return "ERROR"
	}
	return fmt.Sprintf("type 0x%02x", uint8(t))
}

func (t Type) known() bool { return t.String()[0] != 't' }

// allowedFlags is the set of flag bits defined for t.
func (t Type) allowedFlags() uint8 {
	switch t {
	case TypeFrame, TypeSlot:
		return FlagTimestamp
	case TypeHello:
		return FlagTakeover | FlagInfo | FlagSharedMemory
	case TypeReady:
		return FlagReadyShared
	}
	return 0
}

// maxPayload is the largest payload the receiver of t takes.
func (t Type) maxPayload() uint32 {
	if t == TypeFrame {
		return MaxFramePayload
	}
	return MaxControlPayload
}

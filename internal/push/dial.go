package push

import (
	"context"
	"net"
)

// dialNoDelay dials the remote with Nagle's algorithm off, so that the last
// small packet of a frame leaves at once instead of waiting for the ACK of
// the previous one (with a delayed-ACK receiver, up to 40 ms on Linux).
// Go's net package already sets TCP_NODELAY on every TCP connection;
// setting it here states the requirement instead of relying on a default.
func dialNoDelay(ctx context.Context, network, address string) (net.Conn, error) {
	return dial(ctx, network, address, true)
}

// dialNagle is dialNoDelay with Nagle's algorithm on, for tests that
// measure what it costs.
func dialNagle(ctx context.Context, network, address string) (net.Conn, error) {
	return dial(ctx, network, address, false)
}

func dial(ctx context.Context, network, address string, noDelay bool) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		if err := tc.SetNoDelay(noDelay); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

//go:build !unix

package main

import "io"

// interruptible returns r: only Unix pipes are made interruptible.
func interruptible(r io.Reader) io.Reader { return r }

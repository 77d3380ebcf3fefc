//go:build unix

package tools

import (
	"errors"
	"syscall"
)

// openFlags make opening a FIFO or a device return at once instead of
// waiting for the other end, and never make a terminal the process's
// controlling one; reads and writes of a regular file are unaffected.
const openFlags = syscall.O_NONBLOCK | syscall.O_NOCTTY

// notRegularErr reports whether opening failed because the file is not a
// regular one: a directory, a FIFO without a reader, a socket.
func notRegularErr(err error) bool {
	return errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.EOPNOTSUPP)
}

//go:build unix

package tools

import "syscall"

// openNonblock makes opening a FIFO or a device return at once instead of
// waiting for the other end; reads of a regular file are unaffected.
const openNonblock = syscall.O_NONBLOCK

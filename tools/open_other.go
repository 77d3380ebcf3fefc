//go:build !unix

package tools

import (
	"errors"
	"syscall"
)

// openFlags is 0 where there is no O_NONBLOCK (no FIFOs to block on).
const openFlags = 0

// notRegularErr reports whether opening failed because the file is a
// directory.
func notRegularErr(err error) bool {
	return errors.Is(err, syscall.EISDIR)
}

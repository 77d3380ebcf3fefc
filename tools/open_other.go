//go:build !unix

package tools

// openNonblock is 0 where there is no O_NONBLOCK (no FIFOs to block on).
const openNonblock = 0

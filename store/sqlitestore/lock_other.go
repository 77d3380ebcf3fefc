//go:build !unix

package sqlitestore

import (
	"errors"
	"os"
)

// openLock cannot lock here: the store never locks exclusively.
func openLock(string) (*os.File, error) { return nil, errors.New("no file locks on this system") }

func tryExclusive(_, _ *os.File) bool { return false }

func shareLock(_, _ *os.File) {}

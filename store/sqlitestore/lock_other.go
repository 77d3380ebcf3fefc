//go:build !unix

package sqlitestore

import (
	"errors"
	"os"
)

// openLock cannot lock here: the store never locks exclusively.
func openLock(string) (*os.File, error) { return nil, errors.New("no file locks on this system") }

func tryExclusive(*os.File) bool { return false }

func shareLock(*os.File) {}

//go:build !unix

package sqlitestore

import "os"

// lockUse cannot tell other processes apart here: the store is never sole.
func lockUse(string) (*os.File, bool, error) { return nil, false, nil }

//go:build unix

package sqlitestore

import (
	"os"
	"syscall"
)

// lockUse takes a shared lock on the lock file beside the database at
// path, held until the returned file is closed, and reports whether no
// other process held one when it tried (an exclusive lock, taken without
// waiting and then turned into the shared one).
func lockUse(path string) (f *os.File, sole bool, err error) {
	f, err = os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, err
	}
	fd := int(f.Fd())
	sole = syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) == nil
	if err := syscall.Flock(fd, syscall.LOCK_SH); err != nil {
		f.Close()
		return nil, false, err
	}
	return f, sole, nil
}

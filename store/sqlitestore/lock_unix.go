//go:build unix

package sqlitestore

import (
	"os"
	"syscall"
)

// openLock opens (creating it if needed) the lock file at name and takes a
// shared lock on it, held until the file is closed; it waits while another
// process holds it exclusively (see Store.LockExclusive). A read-only
// descriptor is enough for flock, so users that may only read the file
// can lock it too.
func openLock(name string) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// tryExclusive turns f's shared lock into an exclusive one if no other
// descriptor holds a lock on the file; otherwise it leaves f with its
// shared lock (a failed conversion may have dropped it: it is taken
// again).
func tryExclusive(f *os.File) bool {
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
		return true
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_SH)
	return false
}

// shareLock turns f's exclusive lock back into a shared one.
func shareLock(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_SH) }

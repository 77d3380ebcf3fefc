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
// descriptor holds a lock on the file, holding gate (exclusively) while it
// tries: a conversion is not atomic (a failed one drops the shared lock
// for a moment, and the lock is taken again), so two stores converting at
// once could each see the other's lock gone. Only the gate's holder
// converts; a store that cannot take the gate does not try. On success
// the gate stays locked until shareLock.
func tryExclusive(f, gate *os.File) bool {
	if syscall.Flock(int(gate.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return false
	}
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
		return true
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_SH)
	_ = syscall.Flock(int(gate.Fd()), syscall.LOCK_UN)
	return false
}

// shareLock turns f's exclusive lock back into a shared one and unlocks
// gate.
func shareLock(f, gate *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_SH)
	_ = syscall.Flock(int(gate.Fd()), syscall.LOCK_UN)
}

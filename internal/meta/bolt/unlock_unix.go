//go:build unix

package bolt

import (
	"os"
	"syscall"
)

// unlock releases bbolt's flock on f.
func unlock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

//go:build !unix

package bolt

import "os"

// unlock does nothing where bbolt does not use flock.
func unlock(*os.File) error { return nil }

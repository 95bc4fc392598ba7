//go:build unix

package netlimit

import "syscall"

// fdLimit returns the process's soft limit on open file descriptors
// (RLIMIT_NOFILE), or 0 if it cannot be read or is unlimited. Go raises
// the soft limit to the hard one when a program starts.
func fdLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur > 1<<30 {
		return 0
	}
	return int(r.Cur)
}

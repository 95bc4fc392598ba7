//go:build !unix

package netlimit

// fdLimit returns 0: the file descriptor limit is not known here.
func fdLimit() int { return 0 }

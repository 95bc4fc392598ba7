package store

// SetBeforeCommit sets a function that Apply calls after writing an
// update's bundle files and before committing the transaction that
// records them; nil removes it. Tests use it to see the store as a crash
// in that window leaves it.
func SetBeforeCommit(fn func(*Store)) { beforeCommit = fn }

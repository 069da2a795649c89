package main

import "errors"

// Errors of the program. A Sync call that fails with errStaleEpoch or
// errOutOfOrder is answered with FAILED_PRECONDITION.
var (
	// errStaleEpoch: the call's epoch is older than the newest this member
	// has seen. A deposed master gets it, and must not count the write.
	errStaleEpoch = errors.New("replicated-kv: stale epoch")
	// errOutOfOrder: an Apply that does not follow this member's state: not
	// the next index, or from an epoch that has not given it a snapshot. The
	// master must send a snapshot before more writes.
	errOutOfOrder = errors.New("replicated-kv: write out of order")
	// errDeposed: this member is no longer master (its Guard failed, or a
	// newer epoch was seen).
	errDeposed = errors.New("replicated-kv: deposed")
	// errISRChanged: the recorded in-sync set is not at the revision its
	// writer last wrote or read.
	errISRChanged = errors.New("replicated-kv: in-sync set changed meanwhile")
	// errInvalidConfig: a field of config is invalid; the wrapping error
	// names it.
	errInvalidConfig = errors.New("replicated-kv: invalid config")
)

package selector

import "errors"

// Sentinel errors. Errors returned by this package wrap them, so test with
// errors.Is.
var (
	// ErrInvalidConfig: an argument or option of New is invalid. The
	// wrapping error names the field.
	ErrInvalidConfig = errors.New("selector: invalid config")
	// ErrDuplicateID: another live member holds this member's id: its key
	// stayed in etcd, refreshed, for longer than its lease's remaining TTL.
	ErrDuplicateID = errors.New("selector: duplicate id")
	// ErrNotMaster: the call needs this member to be master, and it is not.
	ErrNotMaster = errors.New("selector: not master")
	// ErrNoSuccessor: Yield was called with no other member to take over.
	ErrNoSuccessor = errors.New("selector: no other member to take over")
	// ErrClosed: the Selector is closed.
	ErrClosed = errors.New("selector: closed")
	// ErrKeyDeleted is the cause of a lost registration when this member's
	// key was deleted by someone else.
	ErrKeyDeleted = errors.New("selector: member key deleted")
)

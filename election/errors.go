package election

import "errors"

// Sentinel errors. Errors returned by this package wrap them, so test with
// errors.Is.
var (
	// ErrInvalidConfig: an argument, option or callback is invalid. The
	// wrapping error names the field.
	ErrInvalidConfig = errors.New("election: invalid config")
	// ErrNotLeader: the call needs this candidate to be leader, and it is
	// not.
	ErrNotLeader = errors.New("election: not leader")
	// ErrNoLeader: the election has no leader at the moment.
	ErrNoLeader = errors.New("election: no leader")
	// ErrRunning: Run was called while another Run of the same Election is
	// going on.
	ErrRunning = errors.New("election: already running")
)

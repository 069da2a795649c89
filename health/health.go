package health

import (
	"errors"
	"fmt"

	"github.com/seed764c596d/mastership/status"
)

// ErrInvalidConfig: an argument or option of NewHandler or NewServer is
// invalid. The wrapping error names the field.
var ErrInvalidConfig = errors.New("health: invalid config")

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
}

// Source is what the health checks read: a *selector.Selector, an
// *election.Election, or anything else that gives the same snapshots. An
// election candidate is registered while its Run has a live session, and
// master while it leads.
type Source = status.Source

// Mode says when a member is healthy.
type Mode int

// The modes.
const (
	// Registered: healthy while registered in its group, master or slave.
	Registered Mode = iota
	// MasterOnly: healthy only while master.
	MasterOnly
)

// String returns "registered" or "master-only".
func (m Mode) String() string {
	switch m {
	case Registered:
		return "registered"
	case MasterOnly:
		return "master-only"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

func (m Mode) validate() error {
	if m != Registered && m != MasterOnly {
		return invalid("mode", "%v is neither Registered nor MasterOnly", m)
	}
	return nil
}

// Healthy reports whether a member with the snapshot st is healthy in mode
// m: registered (State REFRESH) for Registered, master for MasterOnly. An
// unknown mode is never healthy.
func Healthy(st status.Status, m Mode) bool {
	switch m {
	case Registered:
		return st.State == status.Refresh
	case MasterOnly:
		return st.Role == status.Master
	}
	return false
}

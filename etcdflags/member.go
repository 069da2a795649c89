package etcdflags

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/seed764c596d/mastership/internal/lease"
	"github.com/seed764c596d/mastership/selector"
)

// Member holds the flags of a program that joins one group as one member:
// --prefix, --id, --ttl and --log-level. Register them with RegisterMember,
// parse the FlagSet, then call Check.
type Member struct {
	// Prefix is the group's prefix in etcd. Required.
	Prefix string
	// ID is the member's id, unique in its group, without "/". Required.
	ID string
	// TTL is the lease TTL; default selector.DefaultTTL.
	TTL time.Duration
	// LogLevel is the level of the logs on standard error.
	LogLevel slog.Level
}

// RegisterMember adds --prefix, --id, --ttl and --log-level to fs, with
// idUsage describing --id and level as --log-level's default.
func RegisterMember(fs *flag.FlagSet, idUsage string, level slog.Level) *Member {
	m := &Member{LogLevel: level}
	fs.StringVar(&m.Prefix, "prefix", "", "the group's prefix in etcd (required)")
	fs.StringVar(&m.ID, "id", "", idUsage+", unique in its group, without \"/\" (required)")
	fs.DurationVar(&m.TTL, "ttl", selector.DefaultTTL, "lease TTL, whole seconds, from 1s to 1h: a crash is seen after about this long")
	fs.TextVar(&m.LogLevel, "log-level", m.LogLevel, "level of the logs on standard error: DEBUG, INFO, WARN or ERROR")
	return m
}

// Check validates the flags once parsed. An error names the flag at fault.
func (m *Member) Check() error {
	switch {
	case m.Prefix == "":
		return errors.New("--prefix is required")
	case m.ID == "":
		return errors.New("--id is required")
	case strings.Contains(m.ID, "/"):
		return fmt.Errorf("--id %q: must not contain \"/\"", m.ID)
	}
	return CheckTTL(m.TTL)
}

// CheckTTL returns an error naming --ttl unless ttl is a whole number of
// seconds from 1s to lease.MaxTTL (an hour): etcd grants leases in whole
// seconds, and a crashed master stays master for the TTL.
func CheckTTL(ttl time.Duration) error {
	if ttl < time.Second || ttl > lease.MaxTTL || ttl%time.Second != 0 {
		return fmt.Errorf("--ttl %v: must be a whole number of seconds, from 1s to %v (a crashed master stays master for the TTL)", ttl, lease.MaxTTL)
	}
	return nil
}

// JoinWait returns how long a program waits for its member to register at
// start-up: base, plus twice ttl (the longest wait for a crashed holder of
// its id). CheckTTL bounds ttl far below any overflow; JoinWait still
// saturates at the largest time.Duration rather than wrap to a negative
// wait if given a ttl that CheckTTL would refuse.
func JoinWait(base, ttl time.Duration) time.Duration {
	const maxDuration = time.Duration(math.MaxInt64)
	if ttl < 0 || base < 0 {
		return base
	}
	if ttl > (maxDuration-base)/2 {
		return maxDuration
	}
	return base + 2*ttl
}

package etcdflags

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/seed764c596d/mastership/selector"
)

// Member holds the flags of a program that joins one group as one member:
// --prefix, --id, --ttl and --log-level, for selector.New and its options.
// Make it with RegisterMember, parse the FlagSet, then call Check before
// using the fields.
type Member struct {
	// Prefix is the group's prefix in etcd (--prefix), selector.New's
	// prefix. Check requires it.
	Prefix string
	// ID is the member's id (--id), unique in its group, without "/".
	// Check requires it.
	ID string
	// TTL is the member's lease TTL (--ttl), for selector.WithTTL: a whole
	// number of seconds from 1s to selector.MaxTTL, as Check requires.
	// The flag's default is selector.DefaultTTL.
	TTL time.Duration
	// LogLevel is the level from which the program logs (--log-level),
	// for its slog handler. The flag's default is the level given to
	// RegisterMember.
	LogLevel slog.Level
}

// RegisterMember adds --prefix, --id, --ttl and --log-level to fs and
// returns the Member that holds their values once fs is parsed. idUsage
// says what the id is, in the help text of --id ("this node's name", say);
// level is the default of --log-level, which takes DEBUG, INFO, WARN or
// ERROR (as slog.Level's UnmarshalText does). Like fs's own methods,
// RegisterMember panics if fs has one of these flags already.
func RegisterMember(fs *flag.FlagSet, idUsage string, level slog.Level) *Member {
	m := &Member{LogLevel: level}
	fs.StringVar(&m.Prefix, "prefix", "", "the group's prefix in etcd (required)")
	fs.StringVar(&m.ID, "id", "", idUsage+", unique in its group, without \"/\" (required)")
	fs.DurationVar(&m.TTL, "ttl", selector.DefaultTTL, "lease TTL, whole seconds, from 1s to 1h: a crash is seen after about this long")
	fs.TextVar(&m.LogLevel, "log-level", m.LogLevel, "level of the logs on standard error: DEBUG, INFO, WARN or ERROR")
	return m
}

// Check checks the flags once fs is parsed, as selector.New would check
// them: --prefix given and not "/" alone (which covers every key in etcd),
// --id given, valid UTF-8 and without "/", and --ttl as CheckTTL wants. An
// error is one line naming the flag at fault.
func (m *Member) Check() error {
	switch {
	case m.Prefix == "":
		return errors.New("--prefix is required")
	case strings.Trim(m.Prefix, "/") == "":
		return fmt.Errorf("--prefix %q: covers every key in etcd; give a group's prefix, such as /services/db", m.Prefix)
	case m.ID == "":
		return errors.New("--id is required")
	case !utf8.ValidString(m.ID):
		return fmt.Errorf("--id %q: not valid UTF-8", m.ID)
	case strings.Contains(m.ID, "/"):
		return fmt.Errorf("--id %q: must not contain \"/\"", m.ID)
	}
	return CheckTTL(m.TTL)
}

// CheckTTL returns an error naming --ttl unless ttl is a whole number of
// seconds from 1s to selector.MaxTTL (an hour), the TTLs selector.WithTTL
// takes: etcd grants leases in whole seconds, and a crashed master stays
// master for the TTL. It is for a program that takes --ttl without
// RegisterMember.
func CheckTTL(ttl time.Duration) error {
	if ttl < time.Second || ttl > selector.MaxTTL || ttl%time.Second != 0 {
		return fmt.Errorf("--ttl %v: must be a whole number of seconds, from 1s to %v (a crashed master stays master for the TTL)", ttl, selector.MaxTTL)
	}
	return nil
}

// JoinWait returns how long a program lets its member try to register at
// start-up, for Join: base (the time etcd may take to answer, such as 10s;
// more than 5s) plus twice ttl, since selector.New waits up to twice the
// TTL plus 5s for the lease of a crashed holder of the same id to run out. CheckTTL bounds ttl
// far below any overflow; JoinWait still saturates at the largest
// time.Duration rather than wrap to a negative wait if given a ttl that
// CheckTTL would refuse, and returns base for a negative ttl or base.
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

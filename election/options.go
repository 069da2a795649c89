package election

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/seed764c596d/mastership/internal/lease"
	"github.com/seed764c596d/mastership/internal/member"
)

// DefaultTTL is the session TTL when WithTTL is not given. It is short so
// that a crashed leader is replaced in seconds, not in the minute of
// concurrency.NewSession's default, and it is above etcd's minimum lease
// TTL with default settings (2s).
const DefaultTTL = member.DefaultTTL

// MaxTTL is the largest TTL WithTTL takes: one hour. The TTL is how long a
// crashed leader stays leader; beyond an hour it is a mistake (a unit typed
// wrong) rather than a choice.
const MaxTTL = lease.MaxTTL

// An Option configures an Election. Options are validated by New.
type Option interface {
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	member.Config
}

// WithTTL sets the TTL of each campaign's session lease: a whole number of
// seconds, at least 1s and at most MaxTTL (an hour); New refuses any other
// with ErrInvalidConfig. Default DefaultTTL. A crashed leader stays leader
// for up to the TTL. etcd raises a TTL below its
// minimum; the election then uses the TTL etcd granted.
func WithTTL(ttl time.Duration) Option {
	return optionFunc(func(o *options) { o.TTL = ttl })
}

// WithValue sets the value this candidate campaigns with, which observers
// see as the leader's value: typically its name or address. Default "".
func WithValue(v string) Option {
	return optionFunc(func(o *options) { o.Value = v })
}

// WithSafetyMargin sets how long before its lease could expire in etcd a
// leader gives up leadership when keep-alives go unacknowledged. It must be
// more than 0 and less than two thirds of the TTL. Default: a tenth of the
// granted TTL, at least 250ms.
func WithSafetyMargin(d time.Duration) Option {
	return optionFunc(func(o *options) { o.Margin, o.MarginSet = d, true })
}

// WithLogger sets the logger. Default: no logging.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) { o.Log, o.LogSet = l, true })
}

// validate checks the options and fills in their defaults (member.Config).
func (o *options) validate() error {
	if err := o.Check(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// invalid returns ErrInvalidConfig for field, saying what is wrong.
func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrInvalidConfig, member.Invalid(field, format, args...))
}

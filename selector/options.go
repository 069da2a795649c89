package selector

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/seed764c596d/mastership/internal/lease"
	"github.com/seed764c596d/mastership/internal/member"
)

// Defaults of the options.
const (
	// DefaultTTL is the lease TTL asked of etcd when WithTTL is not given.
	// A crashed master is replaced after about this long.
	DefaultTTL = member.DefaultTTL
	// MaxTTL is the largest TTL WithTTL takes: one hour. The TTL is how
	// long a crashed master stays master, and bounds how long New waits
	// for a crashed holder of its id; beyond an hour it is a mistake (a
	// unit typed wrong) rather than a choice.
	MaxTTL = lease.MaxTTL
)

// An Option configures a Selector. Options are validated by New.
type Option interface {
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	member.Config
	noEvents bool
	hooks    hooks // tests only
}

// hooks let this package's tests stop the run loop at a chosen point, as a
// frozen process stops, with a watch response or a Yield in hand. Nil
// hooks do nothing.
type hooks struct {
	update func() // before a view from the watch is applied
	yield  func() // in Yield, after the mastership ended, before the delete
}

func withHooks(h hooks) Option {
	return optionFunc(func(o *options) { o.hooks = h })
}

// WithTTL sets the TTL of the member's lease: a whole number of seconds, at
// least 1s and at most MaxTTL (an hour); New refuses any other with
// ErrInvalidConfig. Default DefaultTTL. A crashed master stays master, and
// a member restarting under its id waits, for up to the TTL. etcd raises a TTL below its minimum (2s with
// etcd's default election timeout); the selector then uses the TTL etcd
// granted.
func WithTTL(ttl time.Duration) Option {
	return optionFunc(func(o *options) { o.TTL = ttl })
}

// WithValue sets the value of the member's key, which the other members and
// clients read: an address or a small payload. Default "".
func WithValue(v string) Option {
	return optionFunc(func(o *options) { o.Value = v })
}

// WithSafetyMargin sets how long before the lease could expire in etcd this
// member gives up its registration and mastership when keep-alives go
// unacknowledged. It must cover the clock drift between this process and
// etcd over one TTL and the time this process may stall before its timer
// runs. It must be more than 0 and less than two thirds of the TTL. Default: a
// tenth of the granted TTL, at least 250ms.
func WithSafetyMargin(d time.Duration) Option {
	return optionFunc(func(o *options) { o.Margin, o.MarginSet = d, true })
}

// WithoutEvents makes a member that emits no events, for a program that
// only asks it (IsMaster, MasterContext, Epoch, Guard, View, State, Stats)
// and never reads Events: Events returns nil, and no event is kept in
// memory. Everything else is as for any member: its mastership ends at the
// safe deadline, MasterContext is cancelled then, Close revokes its lease,
// and Err reports etcd's refusal. Default: events on.
func WithoutEvents() Option {
	return optionFunc(func(o *options) { o.noEvents = true })
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

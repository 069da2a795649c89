package resolver

import (
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"
)

// DefaultReadTimeout is how long one read of a group from etcd may take
// when WithReadTimeout is not given.
const DefaultReadTimeout = 5 * time.Second

// An Option configures a Builder or a Directory. Options are validated by
// NewBuilder and NewDirectory.
type Option interface {
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	log         *slog.Logger
	logSet      bool
	readTimeout time.Duration
	timeoutSet  bool
	dial        []grpc.DialOption
	dialSet     bool
}

// WithLogger sets the logger; it must not be nil. Default: no logging.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) { o.log, o.logSet = l, true })
}

// WithReadTimeout sets how long one read of a group from etcd may take
// before it counts as failed (reported as ErrUnreachable, and retried). It
// must be positive. Default DefaultReadTimeout.
func WithReadTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.readTimeout, o.timeoutSet = d, true })
}

// WithDialOptions sets the options Directory.Conn dials with, transport
// credentials included (grpc.NewClient requires some). It is for
// NewDirectory only: NewBuilder rejects it. Default: none.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return optionFunc(func(o *options) { o.dial, o.dialSet = append(o.dial, opts...), true })
}

func newOptions(opts []Option) (options, error) {
	var o options
	for _, opt := range opts {
		if opt == nil {
			return o, invalid("Option", "nil")
		}
		opt.apply(&o)
	}
	if o.logSet && o.log == nil {
		return o, invalid("Logger", "nil")
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.timeoutSet && o.readTimeout <= 0 {
		return o, invalid("ReadTimeout", "%v, want more than 0", o.readTimeout)
	}
	if o.readTimeout == 0 {
		o.readTimeout = DefaultReadTimeout
	}
	for _, d := range o.dial {
		if d == nil {
			return o, invalid("DialOptions", "nil option")
		}
	}
	return o, nil
}

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
}

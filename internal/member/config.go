package member

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/seed764c596d/mastership/internal/group"
	"github.com/seed764c596d/mastership/internal/lease"
)

// DefaultTTL is the lease TTL of a member or candidate that sets none.
const DefaultTTL = 5 * time.Second

// Config is a member's or candidate's configuration, as its options set it,
// starting from Defaults.
type Config struct {
	// TTL is the lease TTL asked of etcd. A TTL set to 0 is refused, as
	// any TTL under a second is: it is a mistake, not a wish for the
	// default.
	TTL time.Duration
	// Value is the value of the key.
	Value string
	// Margin is the safety margin; it counts only when MarginSet.
	Margin    time.Duration
	MarginSet bool
	// Log is the logger; nil means none, unless LogSet (a nil logger given
	// on purpose is an error).
	Log    *slog.Logger
	LogSet bool
}

// Defaults returns the configuration of a member or candidate given no
// options.
func Defaults() Config { return Config{TTL: DefaultTTL} }

// FieldError is a bad argument or option: Field names it as the package's
// documentation does ("TTL", "prefix").
type FieldError struct {
	Field, Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Invalid returns a FieldError for field.
func Invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// Check validates c and fills in its defaults. The error is a *FieldError.
func (c *Config) Check() error {
	if err := lease.CheckTTL(c.TTL); err != nil {
		return Invalid("TTL", "%v", err)
	}
	if c.MarginSet {
		if err := lease.CheckMargin(c.Margin, c.TTL); err != nil {
			return Invalid("SafetyMargin", "%v", err)
		}
	}
	if c.LogSet && c.Log == nil {
		return Invalid("Logger", "nil")
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Prefix checks a group's prefix and returns the prefix of its members'
// keys (group.Key: with a "/" at the end). An empty prefix is refused, and
// so is one made of slashes only, whose members would be every key in
// etcd. The error is a *FieldError.
func Prefix(prefix string) (string, error) {
	switch {
	case prefix == "":
		return "", Invalid("prefix", "empty")
	case strings.Trim(prefix, "/") == "":
		return "", Invalid("prefix", "%q covers the whole keyspace", prefix)
	}
	return group.Key(prefix), nil
}

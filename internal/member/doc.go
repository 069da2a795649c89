// Package member holds what a selector member and an election candidate
// share: their configuration (TTL, safety margin, value, logger) with its
// defaults and validation, the rule for a group's prefix, and the
// registration transaction that creates a key on a lease and reads the
// group in one snapshot. Each public package keeps its own Option type and
// documentation, and wraps the errors here in its own ErrInvalidConfig, so
// that one rule has one place and each error still names the field.
package member

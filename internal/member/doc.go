// Package member holds what a selector member and an election candidate
// share before they touch etcd: their configuration (TTL, safety margin,
// value, logger) with its defaults and validation, and the rule for a
// group's prefix. Each public package keeps its own Option type and
// documentation, and wraps the errors here in its own ErrInvalidConfig, so
// that one rule has one place and each error still names the field.
package member

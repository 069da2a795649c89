package selector

import (
	"errors"
	"fmt"

	"github.com/seed764c596d/mastership/internal/refusal"
)

// Sentinel errors. Errors returned by this package wrap them, so test with
// errors.Is.
var (
	// ErrInvalidConfig: an argument or option of New, Members or Observe
	// is invalid. The wrapping error names the field.
	ErrInvalidConfig = errors.New("selector: invalid config")
	// ErrDuplicateID: another live member holds this member's id: its key
	// stayed in etcd, refreshed, for longer than its lease's remaining TTL.
	ErrDuplicateID = errors.New("selector: duplicate id")
	// ErrNotMaster: the call needs this member to be master, and it is not.
	ErrNotMaster = errors.New("selector: not master")
	// ErrNoSuccessor: Yield was called with no other member to take over.
	ErrNoSuccessor = errors.New("selector: no other member to take over")
	// ErrNotRegistered: the call needs a registration, and the member has
	// none at the moment (it is between registrations, after OFFLINE).
	ErrNotRegistered = errors.New("selector: not registered")
	// ErrClosed: the Selector is closed.
	ErrClosed = errors.New("selector: closed")
	// ErrKeyDeleted is the cause of a lost registration when this member's
	// key was deleted by someone else.
	ErrKeyDeleted = errors.New("selector: member key deleted")
	// ErrKeyDetached is the cause of a lost registration when another
	// writer put this member's key without its lease (etcdctl put, say):
	// the key would never expire, and it is no member any more.
	ErrKeyDetached = errors.New("selector: member key detached from its lease")
	// ErrPermissionDenied: etcd refused a request because the client's user
	// lacks a permission on the group's keys. The wrapping error says which
	// request, on which key or range, and wraps etcd's own error
	// (rpctypes.ErrPermissionDenied). A member needs read and write
	// permission on the range of its prefix, and nothing else.
	ErrPermissionDenied = errors.New("selector: permission denied")
	// ErrAuthFailed: etcd did not accept the client's credentials (a wrong
	// user name or password, a deleted user), or it requires a user and the
	// client gives none. The wrapping error wraps etcd's own error
	// (rpctypes.ErrAuthFailed or rpctypes.ErrUserEmpty).
	ErrAuthFailed = errors.New("selector: authentication failed")
	// ErrValueTooLarge: etcd refused the member's key because the request
	// that writes it, whose size is mostly the value (WithValue), is over
	// etcd's limit: --max-request-bytes, default 1.5 MiB (or gRPC's
	// message limit, a little above it). The wrapping error says the
	// value's size and wraps etcd's or gRPC's own error.
	ErrValueTooLarge = errors.New("selector: value too large")
	// ErrTLSHandshake: the client's connection to etcd failed in a way
	// that retrying will not fix: its TLS handshake failed (a CA that did
	// not sign etcd's certificate, a client certificate etcd refuses, such
	// as an expired one, a TLS client at a plain endpoint), or etcd closed
	// each connection before answering, as a TLS endpoint does to a
	// plain-text client. The wrapping error gives gRPC's reason, such as
	// "x509: certificate signed by unknown authority".
	ErrTLSHandshake = errors.New("selector: TLS handshake with etcd failed")
)

// refused returns err as a refusal by etcd, wrapping ErrPermissionDenied or
// ErrAuthFailed and etcd's error, with what the member was doing and the
// permission it needs; nil when err is no refusal, and so may pass if the
// request is repeated.
func (s *Selector) refused(err error, format string, args ...any) error {
	return sentinels.Wrap(s.cli, s.prefix, err, fmt.Sprintf(format, args...))
}

var sentinels = refusal.Sentinels{PermissionDenied: ErrPermissionDenied, AuthFailed: ErrAuthFailed}

// isRefusal reports whether err is a refusal by etcd, which ends a member:
// repeating the request would get the same answer. A value too large for
// etcd is one too.
func isRefusal(err error) bool {
	return errors.Is(err, ErrPermissionDenied) || errors.Is(err, ErrAuthFailed) || errors.Is(err, ErrValueTooLarge)
}

// tooLarge returns err as ErrValueTooLarge if etcd, or gRPC, refused it for
// its size, with what the member was doing; nil otherwise.
func (s *Selector) tooLarge(err error, what string) error {
	return s.tooLargeValue(err, what, s.currentValue())
}

// tooLargeValue is tooLarge for a request that writes value.
func (s *Selector) tooLargeValue(err error, what, value string) error {
	if !refusal.TooLarge(err) {
		return nil
	}
	return fmt.Errorf("%w: %s: a value of %d bytes: etcd takes requests up to its --max-request-bytes (default 1.5 MiB): %w",
		ErrValueTooLarge, what, len(value), err)
}

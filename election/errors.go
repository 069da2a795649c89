package election

import (
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/internal/refusal"
)

// Sentinel errors. Errors returned by this package wrap them, so test with
// errors.Is.
var (
	// ErrInvalidConfig: an argument, option or callback is invalid. The
	// wrapping error names the field.
	ErrInvalidConfig = errors.New("election: invalid config")
	// ErrNotLeader: the call needs this candidate to be leader, and it is
	// not.
	ErrNotLeader = errors.New("election: not leader")
	// ErrNoLeader: the election has no leader at the moment.
	ErrNoLeader = errors.New("election: no leader")
	// ErrRunning: Run was called while another Run of the same Election is
	// going on.
	ErrRunning = errors.New("election: already running")
	// ErrPermissionDenied: etcd refused a request because the client's user
	// lacks a permission on the election's keys. The wrapping error says
	// which request, on which range, and wraps etcd's own error
	// (rpctypes.ErrPermissionDenied). A candidate needs read and write
	// permission on the range of its prefix, and nothing else.
	ErrPermissionDenied = errors.New("election: permission denied")
	// ErrAuthFailed: etcd did not accept the client's credentials (a wrong
	// user name or password, a deleted user), or it requires a user and the
	// client gives none. The wrapping error wraps etcd's own error
	// (rpctypes.ErrAuthFailed or rpctypes.ErrUserEmpty).
	ErrAuthFailed = errors.New("election: authentication failed")
	// ErrValueTooLarge: etcd refused the candidate's key because the
	// request that writes it, whose size is mostly the value (WithValue,
	// Proclaim), is over etcd's limit: --max-request-bytes, default 1.5 MiB
	// (or gRPC's message limit, a little above it). The wrapping error
	// says the value's size and wraps etcd's or gRPC's own error.
	ErrValueTooLarge = errors.New("election: value too large")
	// ErrTLSHandshake: the client's connection to etcd failed in a way
	// that retrying will not fix: its TLS handshake failed (a CA that did
	// not sign etcd's certificate, a client certificate etcd refuses, such
	// as an expired one, a TLS client at a plain endpoint), or etcd closed
	// each connection before answering, as a TLS endpoint does to a
	// plain-text client. The wrapping error gives gRPC's reason, such as
	// "x509: certificate signed by unknown authority".
	ErrTLSHandshake = errors.New("election: TLS handshake with etcd failed")
)

// refused returns err as a refusal by etcd, wrapping ErrPermissionDenied or
// ErrAuthFailed and etcd's error, with what the candidate was doing and the
// permission it needs; nil when err is no refusal, and so may pass if the
// request is repeated. An err that is a refusal already is returned as it
// is.
func refused(cli *clientv3.Client, prefix string, err error, format string, args ...any) error {
	return sentinels.Wrap(cli, prefix, err, fmt.Sprintf(format, args...))
}

var sentinels = refusal.Sentinels{PermissionDenied: ErrPermissionDenied, AuthFailed: ErrAuthFailed}

// isRefusal reports whether err is a refusal by etcd, which ends Run:
// repeating the request would get the same answer. A value too large for
// etcd is one too.
func isRefusal(err error) bool {
	return errors.Is(err, ErrPermissionDenied) || errors.Is(err, ErrAuthFailed) || errors.Is(err, ErrValueTooLarge)
}

// tooLarge returns err as ErrValueTooLarge if etcd, or gRPC, refused a
// write of value for its size, with what the candidate was doing; nil
// otherwise.
func tooLarge(err error, value, format string, args ...any) error {
	if !refusal.TooLarge(err) {
		return nil
	}
	return fmt.Errorf("%w: %s: a value of %d bytes: etcd takes requests up to its --max-request-bytes (default 1.5 MiB): %w",
		ErrValueTooLarge, fmt.Sprintf(format, args...), len(value), err)
}

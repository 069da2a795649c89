// Package refusal tells etcd's refusals of a request for its user apart
// from the errors that pass: a refusal (permission denied, authentication
// failed) stays the same however often the request is repeated, so
// retrying it would hide it forever, while an unreachable etcd or an
// expired auth token (which clientv3 renews by itself on the next request)
// is worth a retry. Unreachable says why a client never connected;
// WatchHandshake ends a context as soon as the client's connection fails in
// a way no retry fixes (a TLS handshake); TooLarge tells a request over
// etcd's size limit, which would be refused again too.
package refusal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
)

// Kind is the kind of a refusal.
type Kind int

// The kinds of refusals.
const (
	// None: not a refusal; the request may succeed if repeated.
	None Kind = iota
	// PermissionDenied: the user lacks a permission the request needs.
	PermissionDenied
	// AuthFailed: etcd did not accept the client's credentials (a wrong
	// user name or password, a deleted user), or it requires a user and
	// the client gives none.
	AuthFailed
)

// Of returns the kind of refusal err is, for a request made by cli.
//
// An invalid auth token (expired, or invalidated when the user's password
// changed) and an auth revision older than etcd's (a permission changed
// since the token was issued) are not refusals: clientv3 authenticates
// again on the next request, which then fails with the true refusal, if
// any. "User name is empty" is a refusal only for a client that has no
// user: one that has is asked by clientv3 to authenticate again.
func Of(cli *clientv3.Client, err error) Kind {
	k, _ := of(cli, err)
	return k
}

// Etcd returns etcd's own error value for the refusal err is
// (rpctypes.ErrPermissionDenied, rpctypes.ErrAuthFailed or
// rpctypes.ErrUserEmpty), or nil if err is no refusal. A caller wraps it
// so that errors.Is recognises etcd's error however clientv3 delivered it:
// a watch, for one, may hand it over as plain text.
func Etcd(cli *clientv3.Client, err error) error {
	_, e := of(cli, err)
	return e
}

func of(cli *clientv3.Client, err error) (Kind, error) {
	if err == nil {
		return None, nil
	}
	// Errors of raw gRPC calls carry a status rather than etcd's error
	// values; rpctypes.Error turns the one into the other. A failed watch
	// may give the status's text alone, so the text is matched too, as
	// rpctypes.Error itself matches descriptions.
	e := err
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		e = rpctypes.Error(se.GRPCStatus().Err())
	}
	is := func(target error) bool {
		return errors.Is(err, target) || errors.Is(e, target) || strings.Contains(err.Error(), target.Error())
	}
	switch {
	case is(rpctypes.ErrPermissionDenied):
		return PermissionDenied, rpctypes.ErrPermissionDenied
	case is(rpctypes.ErrAuthFailed):
		return AuthFailed, rpctypes.ErrAuthFailed
	case is(rpctypes.ErrUserEmpty):
		if cli == nil || cli.Username == "" {
			return AuthFailed, rpctypes.ErrUserEmpty
		}
	}
	return None, nil
}

// Unreachable returns why cli cannot reach etcd at the moment, or nil if it
// can: the gRPC connection's own error, such as a TLS handshake that failed
// ("certificate signed by unknown authority") or a plain-text client at a
// TLS port ("error reading server preface"). clientv3's requests wait for a
// connection until their deadline and then report only the deadline; this
// asks once without waiting, bounded by wait, to say why.
func Unreachable(cli *clientv3.Client, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := pb.NewMaintenanceClient(cli.ActiveConnection()).Status(ctx, &pb.StatusRequest{}, grpc.WaitForReady(false))
	return err
}

// Sentinels are the errors a package wraps its refusals in, such as
// selector.ErrPermissionDenied and selector.ErrAuthFailed.
type Sentinels struct {
	PermissionDenied, AuthFailed error
}

// Wrap returns err as a refusal by etcd of a request on the range of prefix
// (a key prefix ending in "/"): an error that wraps the sentinel of its
// kind and etcd's own error, says what the client was doing, names its
// user, and, for a permission, says which one it needs and how to grant
// it. It returns nil when err is no refusal, and so may pass if the
// request is repeated, and err itself when err wraps one of the sentinels
// already.
func (s Sentinels) Wrap(cli *clientv3.Client, prefix string, err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, s.PermissionDenied) || errors.Is(err, s.AuthFailed) {
		return err
	}
	if e := Etcd(cli, err); e != nil && !errors.Is(err, e) {
		// clientv3 gave etcd's error as text (a failed watch does): wrap
		// etcd's own value, so that errors.Is recognises it.
		err = fmt.Errorf("%w (%v)", e, err)
	}
	switch Of(cli, err) {
	case PermissionDenied:
		user := fmt.Sprintf("etcd user %q", cli.Username)
		if cli.Username == "" {
			// etcd then takes the common name of the client's TLS
			// certificate as its user.
			user = "the etcd user of the client's certificate"
		}
		return fmt.Errorf("%w: %s: %s needs readwrite permission on range [%q, %q) (etcdctl role grant-permission ROLE readwrite %s --prefix): %w",
			s.PermissionDenied, what, user, prefix, clientv3.GetPrefixRangeEnd(prefix), prefix, err)
	case AuthFailed:
		if cli.Username == "" {
			return fmt.Errorf("%w: %s: etcd requires a user, and the client gives none: %w", s.AuthFailed, what, err)
		}
		return fmt.Errorf("%w: %s: etcd user %q: %w", s.AuthFailed, what, cli.Username, err)
	}
	return nil
}

// ErrHandshake: cli's connection to etcd failed in a way that retrying will
// not fix: its TLS handshake failed (a CA that did not sign etcd's
// certificate, a client certificate etcd refuses, a TLS client at a plain
// endpoint), or etcd closed each connection before its first answer, as a
// TLS endpoint does to a plain-text client. The errors that match it
// (errors.Is) say gRPC's reason, and only that.
var ErrHandshake = errors.New("TLS handshake with etcd failed")

// Handshake returns why cli's connection failed in a way that retrying will
// not fix, an error wrapping ErrHandshake, or nil if it did not: it asks the
// connection, bounded by wait, as Unreachable does. A refused connection (etcd
// starting) or a timeout is no handshake failure.
func Handshake(cli *clientv3.Client, wait time.Duration) error {
	conn := cli.ActiveConnection()
	if conn == nil || conn.GetState() != connectivity.TransientFailure {
		return nil
	}
	return handshake(Unreachable(cli, wait))
}

func handshake(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if s, ok := status.FromError(err); ok {
		msg = s.Message()
	}
	if strings.Contains(msg, "deadline exceeded") || strings.Contains(msg, "i/o timeout") {
		// A slow handshake says nothing about the next one.
		return nil
	}
	var hint string
	switch {
	case strings.Contains(msg, "x509:"):
		hint = "etcd's certificate is not trusted: check the CA (--cacert) and the endpoint's host name"
	case strings.Contains(msg, "remote error: tls:"):
		hint = "etcd refused the client's certificate: check --cert and --key, their expiry, and the CA that signed them"
	case strings.Contains(msg, "authentication handshake failed"):
		hint = "is the endpoint serving TLS? a TLS client at a plain endpoint fails so"
	case strings.Contains(msg, "server preface"):
		// "error reading server preface: EOF", or "connection reset by
		// peer", or "connection closed before server preface received".
		hint = "etcd closed the connection at once, as a TLS endpoint does to a plain-text client: use https:// and the CA"
	default:
		return nil
	}
	return &handshakeError{reason: fmt.Sprintf("%s (%s)", msg, hint)}
}

// handshakeError is ErrHandshake, with gRPC's reason as its text alone, so
// that the packages that wrap it in their own sentinel say it once.
type handshakeError struct{ reason string }

func (e *handshakeError) Error() string        { return e.reason }
func (e *handshakeError) Is(target error) bool { return target == ErrHandshake }

// WatchHandshake returns a context derived from ctx that ends, with an error
// wrapping ErrHandshake as its cause (context.Cause), as soon as cli's
// connection fails as Handshake tells; and a function that stops watching,
// and must be called. clientv3's requests wait for a connection until their
// deadline and then report only the deadline: a caller that makes them under
// the returned context learns at once what retrying would never fix.
func WatchHandshake(ctx context.Context, cli *clientv3.Client) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	conn := cli.ActiveConnection()
	if conn == nil {
		return ctx, func() { cancel(nil) }
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			st := conn.GetState()
			if st != connectivity.TransientFailure {
				conn.WaitForStateChange(ctx, st)
				continue
			}
			err := Unreachable(cli, 500*time.Millisecond)
			if h := handshake(err); h != nil {
				cancel(h)
				return
			}
			// A failure on a connection that was made says nothing yet (a
			// write on a connection etcd closed as it refused the
			// certificate, say): connect again soon, and look again. One
			// that was not (etcd down, or starting) waits for gRPC's
			// backoff, as it would without this watch.
			if err != nil && !strings.Contains(err.Error(), "while dialing") {
				conn.ResetConnectBackoff()
			}
			t := time.NewTimer(handshakePoll)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}()
	return ctx, func() {
		cancel(nil)
		<-done
	}
}

// handshakePoll is how often WatchHandshake asks a failing connection again.
const handshakePoll = 200 * time.Millisecond

// TooLarge reports whether err is etcd's refusal of a request larger than it
// takes (rpctypes.ErrRequestTooLarge, set by etcd's --max-request-bytes,
// default 1.5 MiB), or gRPC's refusal of a message larger than the client
// sends or etcd receives (codes.ResourceExhausted, "message larger than
// max"; etcd's receive limit is --max-request-bytes plus 512 KiB): repeating the request
// would get the same answer.
func TooLarge(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, rpctypes.ErrRequestTooLarge) || errors.Is(err, rpctypes.ErrGRPCRequestTooLarge) ||
		strings.Contains(err.Error(), rpctypes.ErrRequestTooLarge.Error()) {
		return true
	}
	// etcd also says ResourceExhausted for "too many requests", which
	// passes: only gRPC's refusal of the message's size counts.
	var se interface{ GRPCStatus() *status.Status }
	return errors.As(err, &se) && se.GRPCStatus().Code() == codes.ResourceExhausted &&
		strings.Contains(se.GRPCStatus().Message(), "message larger than max")
}

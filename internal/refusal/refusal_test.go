package refusal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestOf(t *testing.T) {
	anon := &clientv3.Client{}
	user := &clientv3.Client{Username: "alice"}
	for _, tc := range []struct {
		name string
		cli  *clientv3.Client
		err  error
		want Kind
	}{
		{"nil", user, nil, None},
		{"permission denied", user, rpctypes.ErrPermissionDenied, PermissionDenied},
		{"permission denied, wrapped", user, fmt.Errorf("create key: %w", rpctypes.ErrPermissionDenied), PermissionDenied},
		{"permission denied, gRPC status", user, rpctypes.ErrGRPCPermissionDenied, PermissionDenied},
		{"permission denied, wrapped gRPC status", user, fmt.Errorf("keep-alive: %w", rpctypes.ErrGRPCPermissionDenied), PermissionDenied},
		{"permission denied, as text (a failed watch)", user, errors.New("rpc error: code = PermissionDenied desc = etcdserver: permission denied"), PermissionDenied},
		{"auth failed", user, rpctypes.ErrAuthFailed, AuthFailed},
		{"auth failed, gRPC status", user, rpctypes.ErrGRPCAuthFailed, AuthFailed},
		{"user empty, client without user", anon, rpctypes.ErrUserEmpty, AuthFailed},
		{"user empty, client with a user: clientv3 authenticates again", user, rpctypes.ErrUserEmpty, None},
		{"invalid token: clientv3 renews it", user, rpctypes.ErrInvalidAuthToken, None},
		{"old auth revision: clientv3 renews the token", user, rpctypes.ErrGRPCAuthOldRevision, None},
		{"no leader", user, rpctypes.ErrNoLeader, None},
		{"timeout", user, context.DeadlineExceeded, None},
		{"other", user, errors.New("connection refused"), None},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Of(tc.cli, tc.err); got != tc.want {
				t.Errorf("Of(%v) = %v, want %v", tc.err, got, tc.want)
			}
			e := Etcd(tc.cli, tc.err)
			switch tc.want {
			case None:
				if e != nil {
					t.Errorf("Etcd(%v) = %v, want nil", tc.err, e)
				}
			case PermissionDenied:
				if !errors.Is(e, rpctypes.ErrPermissionDenied) {
					t.Errorf("Etcd(%v) = %v, want %v", tc.err, e, rpctypes.ErrPermissionDenied)
				}
			case AuthFailed:
				if !errors.Is(e, rpctypes.ErrAuthFailed) && !errors.Is(e, rpctypes.ErrUserEmpty) {
					t.Errorf("Etcd(%v) = %v, want an authentication error", tc.err, e)
				}
			}
		})
	}
}

func TestWrap(t *testing.T) {
	denied, failed := errors.New("pkg: permission denied"), errors.New("pkg: authentication failed")
	s := Sentinels{PermissionDenied: denied, AuthFailed: failed}
	anon := &clientv3.Client{}
	user := &clientv3.Client{Username: "alice"}
	watchText := errors.New("rpc error: code = PermissionDenied desc = etcdserver: permission denied")
	for _, tc := range []struct {
		name     string
		cli      *clientv3.Client
		err      error
		sentinel error // nil: no refusal
		etcd     error
		says     []string
	}{
		{"nil", user, nil, nil, nil, nil},
		{"no leader", user, rpctypes.ErrNoLeader, nil, nil, nil},
		{"invalid token", user, rpctypes.ErrInvalidAuthToken, nil, nil, nil},
		{"permission denied", user, rpctypes.ErrGRPCPermissionDenied, denied, rpctypes.ErrPermissionDenied,
			[]string{"watch the group", `etcd user "alice"`, `["/g/", "/g0")`, "grant-permission ROLE readwrite /g/ --prefix"}},
		{"permission denied as text", user, watchText, denied, rpctypes.ErrPermissionDenied, []string{"watch the group", watchText.Error()}},
		{"permission denied, certificate user", anon, rpctypes.ErrPermissionDenied, denied, rpctypes.ErrPermissionDenied, []string{"the etcd user of the client's certificate"}},
		{"auth failed", user, rpctypes.ErrGRPCAuthFailed, failed, rpctypes.ErrAuthFailed, []string{"watch the group", `etcd user "alice"`}},
		{"no user", anon, rpctypes.ErrUserEmpty, failed, rpctypes.ErrUserEmpty, []string{"the client gives none"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.Wrap(tc.cli, "/g/", tc.err, "watch the group")
			if tc.sentinel == nil {
				if got != nil {
					t.Fatalf("Wrap(%v) = %v, want nil", tc.err, got)
				}
				return
			}
			if !errors.Is(got, tc.sentinel) || !errors.Is(got, tc.etcd) {
				t.Fatalf("Wrap(%v) = %v, want it to wrap %v and %v", tc.err, got, tc.sentinel, tc.etcd)
			}
			for _, want := range tc.says {
				if !strings.Contains(got.Error(), want) {
					t.Errorf("Wrap(%v) = %q, want it to say %q", tc.err, got, want)
				}
			}
			if again := s.Wrap(tc.cli, "/g/", got, "something else"); again != got {
				t.Errorf("Wrap of a refusal = %v, want it as it is", again)
			}
		})
	}
}

func TestHandshakeClassifies(t *testing.T) {
	unavailable := func(desc string) error {
		return status.Error(codes.Unavailable, "connection error: desc = \""+desc+"\"")
	}
	for _, tc := range []struct {
		name string
		err  error
		want string // in the reason; "" for no handshake failure
	}{
		{"nil", nil, ""},
		{"unknown authority", unavailable("transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"), "x509: certificate signed by unknown authority"},
		{"expired client certificate", unavailable("error reading server preface: remote error: tls: expired certificate"), "expired certificate"},
		{"TLS at a plain endpoint", unavailable("transport: authentication handshake failed: EOF"), "is the endpoint serving TLS?"},
		{"plain at a TLS endpoint", unavailable("error reading server preface: EOF"), "plain-text client"},
		{"refused: etcd starting", unavailable("transport: Error while dialing: dial tcp 127.0.0.1:2379: connect: connection refused"), ""},
		{"handshake timeout", unavailable("transport: authentication handshake failed: context deadline exceeded"), ""},
		{"broken pipe", status.Error(codes.Unavailable, "write tcp 127.0.0.1:1->127.0.0.1:2: write: broken pipe"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := handshake(tc.err)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("handshake = %v, want nil", err)
			case tc.want == "":
			case !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), tc.want):
				t.Fatalf("handshake = %v, want ErrHandshake saying %q", err, tc.want)
			case strings.Contains(err.Error(), ErrHandshake.Error()):
				t.Errorf("handshake = %v: says the sentinel's text, which its callers say", err)
			}
		})
	}
}

func TestTooLarge(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"etcd's error", rpctypes.ErrRequestTooLarge, true},
		{"etcd's gRPC status", fmt.Errorf("create key: %w", rpctypes.ErrGRPCRequestTooLarge), true},
		{"client's message limit", status.Error(codes.ResourceExhausted, "trying to send message larger than max (2097329 vs. 2097152)"), true},
		{"server's message limit", status.Error(codes.ResourceExhausted, "grpc: received message larger than max (2097329 vs. 2097152)"), true},
		{"too many requests: passes", rpctypes.ErrGRPCRequestTooManyRequests, false},
		{"no space: not the request's size", rpctypes.ErrGRPCNoSpace, false},
		{"other", errors.New("connection refused"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := TooLarge(tc.err); got != tc.want {
				t.Fatalf("TooLarge(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

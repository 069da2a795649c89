package refusal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
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

package etcdflags

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/selector"
)

func TestRefused(t *testing.T) {
	anon := &clientv3.Client{}
	user := &clientv3.Client{Username: "alice"}
	for _, tc := range []struct {
		name string
		cli  *clientv3.Client
		err  error
		want bool
	}{
		{"nil", user, nil, false},
		{"permission denied", user, rpctypes.ErrPermissionDenied, true},
		{"permission denied, wrapped", user, fmt.Errorf("put: %w", rpctypes.ErrPermissionDenied), true},
		{"permission denied, gRPC status", user, rpctypes.ErrGRPCPermissionDenied, true},
		{"permission denied, as text (a failed watch)", user, errors.New("rpc error: code = PermissionDenied desc = etcdserver: permission denied"), true},
		{"auth failed", user, rpctypes.ErrAuthFailed, true},
		{"auth failed, gRPC status", user, rpctypes.ErrGRPCAuthFailed, true},
		{"auth failed, no client", nil, fmt.Errorf("etcd client for a:1: %w", rpctypes.ErrAuthFailed), true},
		{"user empty, client without a user", anon, rpctypes.ErrUserEmpty, true},
		{"user empty, client with a user: clientv3 authenticates again", user, rpctypes.ErrUserEmpty, false},
		{"invalid token: clientv3 renews it", user, rpctypes.ErrInvalidAuthToken, false},
		{"old auth revision: clientv3 renews the token", user, rpctypes.ErrGRPCAuthOldRevision, false},
		{"no leader", user, rpctypes.ErrNoLeader, false},
		{"timeout", user, context.DeadlineExceeded, false},
		{"cancelled", user, context.Canceled, false},
		{"unreachable", user, errors.New("connection refused"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Refused(tc.cli, tc.err); got != tc.want {
				t.Errorf("Refused(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// Refused tells etcd's refusals as a program meets them: a wrong password
// from Client, a missing permission from a request and from selector.New.
func TestRefusedByEtcd(t *testing.T) {
	sec := etcdtest.StartSecure(t)
	const secret = "s3cret-password"
	sec.AddUser(t, "nobody", secret) // may authenticate, and do nothing else
	tlsArgs := []string{"--endpoints", strings.Join(sec.Endpoints(), ","), "--cacert", sec.CAFile, "--cert", sec.CertFile, "--key", sec.KeyFile}

	t.Run("wrong password", func(t *testing.T) {
		f := parse(t, nil, append(tlsArgs, "--user", "nobody", "--password-file", write(t, "pw", "wrong-"+secret))...)
		cli, err := f.Client()
		if err == nil {
			cli.Close()
			t.Fatal("Client with a wrong password: no error")
		}
		if !Refused(nil, err) {
			t.Errorf("Refused(nil, %v) = false, want true", err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the password is in the error: %q", err)
		}
	})

	f := parse(t, nil, append(tlsArgs, "--user", "nobody", "--password-file", write(t, "pw", secret))...)
	cli, err := f.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	t.Run("permission denied", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := cli.Put(ctx, "/refused/key", "v")
		if err == nil || !Refused(cli, err) {
			t.Errorf("Put without permission: Refused(cli, %v) = false, want true", err)
		}
		if _, err := cli.Get(ctx, "/refused/key"); err == nil || !Refused(cli, err) {
			t.Errorf("Get without permission: Refused(cli, %v) = false, want true", err)
		}
	})

	t.Run("selector.New", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := selector.New(ctx, cli, "/refused", "a")
		if err == nil {
			s.Close()
			t.Fatal("selector.New without permission: no error")
		}
		if !errors.Is(err, selector.ErrPermissionDenied) || !Refused(cli, err) {
			t.Errorf("selector.New: %v; want ErrPermissionDenied, and Refused true", err)
		}
	})

	t.Run("allowed", func(t *testing.T) {
		root := sec.Root(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := root.Put(ctx, "/refused/key", "v")
		if err != nil || Refused(root, err) {
			t.Errorf("Put as root: %v, Refused %v; want nil, false", err, Refused(root, err))
		}
	})
}

package etcdtest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func TestSecure(t *testing.T) {
	s := StartSecure(t)
	if !strings.HasPrefix(s.Members[0].ClientURL, "https://127.0.0.1:") {
		t.Fatalf("client URL %s, want https on 127.0.0.1", s.Members[0].ClientURL)
	}
	s.AddPrefixUser(t, "alice", "pw-a", "/allowed")
	s.AddUser(t, "nobody", "pw-n")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	alice := s.ClientAs(t, "alice", "pw-a")
	if _, err := alice.Put(ctx, "/allowed/k", "v"); err != nil {
		t.Fatalf("alice puts under her prefix: %v", err)
	}
	if _, err := alice.Get(ctx, "/allowed/", clientv3.WithPrefix()); err != nil {
		t.Fatalf("alice reads her prefix: %v", err)
	}
	for _, key := range []string{"/allowed", "/allowed0", "/allowedX/k", "/other/k"} {
		if _, err := alice.Put(ctx, key, "v"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Errorf("alice puts %q: %v, want permission denied", key, err)
		}
	}
	nobody := s.ClientAs(t, "nobody", "pw-n")
	if _, err := nobody.Get(ctx, "/allowed/k"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Errorf("nobody reads: %v, want permission denied", err)
	}

	cfg, err := s.Config("alice", "wrong")
	if err != nil {
		t.Fatal(err)
	}
	if cli, err := clientv3.New(cfg); !errors.Is(err, rpctypes.ErrAuthFailed) {
		if cli != nil {
			cli.Close()
		}
		t.Errorf("wrong password: %v, want %v", err, rpctypes.ErrAuthFailed)
	}

	// A plain-text client never gets an answer from the TLS port.
	plain, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{strings.Replace(s.Members[0].ClientURL, "https://", "http://", 1)},
		DialTimeout: time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	defer pcancel()
	if _, err := plain.Get(pctx, "/allowed/k"); err == nil {
		t.Error("plain-text client read from the TLS port")
	}
}

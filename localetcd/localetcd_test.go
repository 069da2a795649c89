package localetcd_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/localetcd"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func client(t *testing.T, cfg clientv3.Config) *clientv3.Client {
	t.Helper()
	cfg.DialTimeout = 2 * time.Second
	cfg.Logger = zap.NewNop()
	cli, err := clientv3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

func putGet(ctx context.Context, cli *clientv3.Client) error {
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		return err
	}
	resp, err := cli.Get(ctx, "k")
	if err != nil {
		return err
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		return fmt.Errorf("read k: got %v, want v", resp.Kvs)
	}
	return nil
}

// empty fails t unless dir holds nothing.
func empty(t *testing.T, dir string) {
	t.Helper()
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("%s left in %s", e.Name(), dir)
	}
}

func TestConfigErrors(t *testing.T) {
	certs, err := etcdtest.WriteCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg  localetcd.Config
		want string
	}{
		{localetcd.Config{Members: -1}, "localetcd: Config.Members is -1, want 1 or more (0 means 1)"},
		{localetcd.Config{Dir: filepath.Join(file, "etcd")}, "localetcd: Config.Dir: "},
		{localetcd.Config{TLS: &localetcd.TLSFiles{KeyFile: certs.ServerKey}}, "localetcd: Config.TLS.CertFile is empty"},
		{localetcd.Config{TLS: &localetcd.TLSFiles{CertFile: certs.ServerCert}}, "localetcd: Config.TLS.KeyFile is empty"},
		{localetcd.Config{TLS: &localetcd.TLSFiles{CertFile: certs.ServerCert, KeyFile: missing}}, "localetcd: Config.TLS.CertFile, KeyFile: open "},
		{localetcd.Config{TLS: &localetcd.TLSFiles{CertFile: certs.ServerCert, KeyFile: certs.ClientKey}}, "localetcd: Config.TLS.CertFile, KeyFile: tls: private key does not match public key"},
		{localetcd.Config{TLS: &localetcd.TLSFiles{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, ClientCAFile: missing}}, "localetcd: Config.TLS.ClientCAFile: open "},
		{localetcd.Config{TLS: &localetcd.TLSFiles{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, ClientCAFile: certs.ServerKey}}, "localetcd: Config.TLS.ClientCAFile: no PEM certificate in "},
	} {
		c, err := localetcd.Start(ctxFor(t, 10*time.Second), tc.cfg)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Start(%+v) = %v, want an error starting %q", tc.cfg, err, tc.want)
		}
		if c != nil {
			t.Errorf("Start(%+v) returned a cluster with its error", tc.cfg)
			c.Close()
		}
	}
}

// TestZeroConfig: the zero Config is one member on 127.0.0.1, in a
// temporary directory that Close removes; Close again is harmless.
func TestZeroConfig(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	c, err := localetcd.Start(ctxFor(t, 30*time.Second), localetcd.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Members) != 1 || c.Members[0].Name != "m0" {
		t.Fatalf("members %+v, want one, m0", c.Members)
	}
	eps := c.Endpoints()
	if len(eps) != 1 || !strings.HasPrefix(eps[0], "http://127.0.0.1:") {
		t.Fatalf("endpoints %v, want one on http://127.0.0.1", eps)
	}
	if l := c.Leader(); l != 0 {
		t.Errorf("Leader() = %d, want 0", l)
	}
	cli := client(t, clientv3.Config{Endpoints: eps})
	if err := putGet(ctxFor(t, 10*time.Second), cli); err != nil {
		t.Error(err)
	}
	cli.Close()
	if dirs, _ := os.ReadDir(tmp); len(dirs) != 1 {
		t.Errorf("%d entries in $TMPDIR while running, want 1, the cluster's directory", len(dirs))
	}
	c.Close()
	c.Close()
	empty(t, tmp)
	var none *localetcd.Cluster
	none.Close()
}

// TestStopRestart: a member's data survives Stop and Restart; after Close,
// Restart fails and the given directory stays.
func TestStopRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etcd")
	c, err := localetcd.Start(ctxFor(t, 30*time.Second), localetcd.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := c.Members[0]
	cli := client(t, clientv3.Config{Endpoints: c.Endpoints()})
	defer cli.Close()
	ctx := ctxFor(t, 30*time.Second)
	if err := putGet(ctx, cli); err != nil {
		t.Fatal(err)
	}
	m.Stop()
	m.Stop()
	m.Isolate() // does nothing to a stopped member
	if l := c.Leader(); l != -1 {
		t.Errorf("Leader() = %d with the member stopped, want -1", l)
	}
	rctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = cli.Get(rctx, "k")
	cancel()
	if err == nil {
		t.Error("read from a stopped member succeeded")
	}
	if err := m.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Restart(ctx); err != nil {
		t.Fatalf("Restart of a running member: %v", err)
	}
	resp, err := cli.Get(ctx, "k")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("after the restart: %v %v, want k=v", resp, err)
	}
	cli.Close()
	c.Close()
	if err := m.Restart(ctx); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Restart after Close = %v, want an error", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "m0")); err != nil {
		t.Errorf("the member's data after Close: %v, want it kept in Config.Dir", err)
	}
}

// TestKill: a killed member's data survives, and Restart brings it back.
// (mastershiptest's tests kill the leader of three.)
func TestKill(t *testing.T) {
	c, err := localetcd.Start(ctxFor(t, 30*time.Second), localetcd.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := c.Members[0]
	cli := client(t, clientv3.Config{Endpoints: c.Endpoints()})
	defer cli.Close()
	ctx := ctxFor(t, 30*time.Second)
	if err := putGet(ctx, cli); err != nil {
		t.Fatal(err)
	}
	m.Kill()
	m.Kill() // does nothing to a stopped member
	if l := c.Leader(); l != -1 {
		t.Errorf("Leader() = %d with the member killed, want -1", l)
	}
	if err := m.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, "k")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("after the restart: %v %v, want k=v", resp, err)
	}
}

// TestStartFails: Start with an ended context starts nothing, and Start
// with members that fail stops what it started; neither leaves anything
// behind.
func TestStartFails(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c, err := localetcd.Start(ctx, localetcd.Config{})
	if !errors.Is(err, context.Canceled) || c != nil {
		t.Fatalf("Start with a canceled context = %v, %v; want nil and context.Canceled", c, err)
	}
	empty(t, tmp)

	// One member of three cannot make its data directory: the others, which
	// wait for it, are stopped then, not when ctx ends (etcd takes seconds to
	// stop a member waiting for its peers).
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "m1"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c, err = localetcd.Start(ctxFor(t, 30*time.Second), localetcd.Config{Members: 3, Dir: dir})
	if c != nil {
		c.Close()
	}
	if err == nil || !strings.HasPrefix(err.Error(), "localetcd: start m1: ") || c != nil {
		t.Fatalf("Start with m1's directory a file = %v, %v; want nil and m1's error", c, err)
	}
	if d := time.Since(start); d > 25*time.Second {
		t.Errorf("Start failed after %v, want well before its context's 30s", d)
	}
}

// TestTLS: with TLSFiles and no client CA, members serve TLS only, and ask
// clients for no certificate.
func TestTLS(t *testing.T) {
	certs, err := etcdtest.WriteCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := localetcd.Start(ctxFor(t, 30*time.Second), localetcd.Config{
		TLS: &localetcd.TLSFiles{CertFile: certs.ServerCert, KeyFile: certs.ServerKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ep := c.Endpoints()[0]; !strings.HasPrefix(ep, "https://127.0.0.1:") {
		t.Fatalf("endpoint %s, want https://127.0.0.1", ep)
	}
	pem, err := os.ReadFile(certs.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cli := client(t, clientv3.Config{Endpoints: c.Endpoints(), TLS: &tls.Config{RootCAs: pool}})
	defer cli.Close()
	if err := putGet(ctxFor(t, 10*time.Second), cli); err != nil {
		t.Error(err)
	}
}

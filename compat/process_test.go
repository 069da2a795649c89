//go:build etcdcompat

package compat

import (
	"context"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/internal/etcdproc"
)

// process starts the etcd server binary named by $MASTERSHIP_ETCD as a
// process of its own, with authentication on, set up with the etcdctl of
// the same version as an operator would.
func process(t *testing.T) *server {
	bin := etcdproc.FromEnv(t)
	c := etcdproc.Start(t, bin, etcdproc.Options{})
	const rootPW = "root-pw"
	c.EnableAuth(t, rootPW)
	root := c.Client(t, etcdproc.RootUser, rootPW)
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	v, err := c.ServerVersion(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if bv, err := bin.Version(); err != nil || bv != v {
		t.Fatalf("%s --version says %q (%v), the server says %q", bin.Etcd, bv, err, v)
	}
	return &server{
		version: v,
		root:    root,
		addPrefixUser: func(t *testing.T, user, password, prefix string) {
			c.AddPrefixUser(t, rootPW, user, password, prefix)
		},
		revoke:     func(t *testing.T, user, prefix string) { c.RevokePrefix(t, rootPW, user, prefix) },
		deleteUser: func(t *testing.T, user string) { c.DeleteUser(t, rootPW, user) },
		clientAs: func(t *testing.T, user, password string) *clientv3.Client {
			return c.Client(t, user, password)
		},
	}
}

// TestPermissionProcess runs the permission scenarios on the etcd process
// of $MASTERSHIP_ETCD, whatever its version: on 3.4, whose keep-alives do
// not check permissions, the members stay; on the pinned 3.5 and 3.6
// (.ci/etcd-build.sh), which check them, they end.
func TestPermissionProcess(t *testing.T) {
	bin := etcdproc.FromEnv(t)
	v, err := bin.Version()
	if err != nil {
		t.Fatal(err)
	}
	// The version, as etcd --version says, names the subtests, so that every
	// line of the output (and a failure's name) says what ran.
	t.Run("etcd-"+v, func(t *testing.T) {
		t.Logf("%s: etcd %s", bin.Etcd, v)
		for _, how := range takingsOn(v) {
			t.Run(string(how), func(t *testing.T) {
				srv := process(t)
				t.Logf("etcd %s process", srv.version)
				permissionTaken(t, srv, how)
			})
		}
	})
}

package member

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/internal/etcdtest"
)

// TestCreate: the registration transaction creates a key on a lease and
// reads the group at that revision, and otherwise reports the key that is
// there, lease included.
func TestCreate(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	grant := func() clientv3.LeaseID {
		l, err := cli.Grant(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		return l.ID
	}
	if _, err := cli.Put(ctx, "/g/other", "o"); err != nil {
		t.Fatal(err)
	}
	a := grant()
	c, err := Create(ctx, cli, "/g/a", "va", a, "/g/")
	if err != nil || !c.OK {
		t.Fatalf("Create = %+v, %v; want created", c, err)
	}
	if kv, ok := c.KVs["/g/a"]; !ok || kv.CreateRevision != c.Revision || kv.Lease != int64(a) || kv.Value != "va" || len(c.KVs) != 2 {
		t.Fatalf("created at %d, read %+v; want /g/a on lease %x at that revision, and /g/other", c.Revision, c.KVs, a)
	}

	b := grant()
	c2, err := Create(ctx, cli, "/g/a", "vb", b, "/g/")
	if err != nil || c2.OK || c2.Existing == nil {
		t.Fatalf("Create of a taken key = %+v, %v; want the key there", c2, err)
	}
	if e := c2.Existing; e.Lease != int64(a) || e.CreateRevision != c.Revision || e.Value != "va" {
		t.Fatalf("existing %+v, want the first key, on lease %x", e, a)
	}

	c3, err := Create(ctx, cli, "/h/x", "v", b, "")
	if err != nil || !c3.OK || c3.KVs != nil {
		t.Fatalf("Create without a prefix = %+v, %v; want created, nothing read", c3, err)
	}
}

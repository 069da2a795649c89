package selector

import (
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/lease"
)

// etcdMaxLeaseTTL is the largest TTL etcd grants, in seconds
// (lease.MaxLeaseTTL in etcd's server): its nanoseconds fit a Duration,
// twice them do not.
const etcdMaxLeaseTTL = 9_000_000_000

// A member takes MaxTTL itself.
func TestMaxTTL(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	a := join(t, cli, prefixOf(t), "a", WithTTL(MaxTTL))
	expect(t, a, events.InitMaster)
	a.mu.Lock()
	ttl := a.reg.lease.TTL
	a.mu.Unlock()
	if ttl != MaxTTL {
		t.Errorf("granted TTL %v, want %v", ttl, MaxTTL)
	}
}

// The wait for a holder of a member's id cannot overflow, whatever the
// holder's TTL.
func TestMaxDuplicateWaitSaturates(t *testing.T) {
	for _, granted := range []time.Duration{lease.Seconds(etcdMaxLeaseTTL), lease.Seconds(1 << 62)} {
		if w := maxDuplicateWait(granted); w < granted {
			t.Errorf("maxDuplicateWait(%v) = %v, want at least the TTL", granted, w)
		}
	}
	if w := maxDuplicateWait(MaxTTL); w != 2*MaxTTL+5*time.Second {
		t.Errorf("maxDuplicateWait(%v) = %v", MaxTTL, w)
	}
}

// A key on a lease with a TTL over MaxTTL, the largest etcd grants here,
// which no member asks for, is a duplicate at once, and said so: the wait
// for it once overflowed and reported "still held after 0s".
func TestHolderOverMaxTTL(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	g, err := cli.Grant(ctxFor(t, waitTime), etcdMaxLeaseTTL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Revoke(ctxFor(t, waitTime), g.ID) })
	if _, err := cli.Put(ctxFor(t, waitTime), prefix+"/a", "other", clientv3.WithLease(g.ID)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s, err := New(ctxFor(t, 30*time.Second), cli, prefix, "a", WithTTL(testTTL))
	if err == nil {
		shutdown(t, s)
		t.Fatal("New succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("New took %v, want under 3s", d)
	}
	if !errors.Is(err, ErrDuplicateID) || !strings.Contains(err.Error(), "over MaxTTL") {
		t.Fatalf("New = %v, want ErrDuplicateID naming the holder's TTL over MaxTTL", err)
	}
}

package selector

import (
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The rule that tells a live holder of an id from a dead one, on reads of
// its remaining TTL (whole seconds, truncated) made every 250ms.
func TestHolderWatch(t *testing.T) {
	const granted = 3
	t0 := time.Unix(1000, 0)
	type read struct {
		ttl  int64
		term uint64
	}
	// ttlAt gives the TTL etcd reports at elapsed for a lease expiring at
	// expiry.
	ttlAt := func(expiry, elapsed time.Duration) int64 { return int64((expiry - elapsed) / time.Second) }
	for _, tc := range []struct {
		name string
		// reads gives the read made at i*250ms.
		reads    func(i int) read
		n        int
		liveAt   int // index of the read that proves a live holder; -1 for none
		maxWaits time.Duration
	}{
		{"dead holder", func(i int) read {
			return read{ttlAt(2900*time.Millisecond, time.Duration(i)*250*time.Millisecond), 5}
		}, 11, -1, 0},
		{"live holder, refreshed every 675ms", func(i int) read {
			now := time.Duration(i) * 250 * time.Millisecond
			last := now / (675 * time.Millisecond) * (675 * time.Millisecond)
			return read{ttlAt(last+granted*time.Second, now), 5}
		}, 40, 5, 0},
		{"dead holder, leader change extends its TTL", func(i int) read {
			now := time.Duration(i) * 250 * time.Millisecond
			if i < 6 {
				return read{ttlAt(2900*time.Millisecond, now), 5}
			}
			// The new leader extends the lease by its TTL plus an
			// election timeout from the change.
			return read{ttlAt(1500*time.Millisecond+granted*time.Second+time.Second, now), 6}
		}, 20, -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w holderWatch
			got := -1
			for i := range tc.n {
				r := tc.reads(i)
				if r.ttl <= 0 {
					break
				}
				at := t0.Add(time.Duration(i) * 250 * time.Millisecond)
				resp := &clientv3.LeaseTimeToLiveResponse{ResponseHeader: &pb.ResponseHeader{RaftTerm: r.term}, TTL: r.ttl, GrantedTTL: granted}
				if live, _ := w.observe(7, at, at.Add(2*time.Millisecond), resp); live {
					got = i
					break
				}
			}
			if tc.liveAt < 0 && got >= 0 {
				t.Fatalf("read %d proves a live holder, want none", got)
			}
			if tc.liveAt >= 0 && (got < 0 || got > tc.liveAt+4) {
				t.Fatalf("live holder proved at read %d, want by read %d", got, tc.liveAt+4)
			}
		})
	}
}

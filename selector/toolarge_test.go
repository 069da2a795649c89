package selector

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
)

// TestValueTooLarge checks that New refuses at once a value whose request
// is over etcd's limit (--max-request-bytes, 1.5 MiB in etcdtest, etcd's
// default), naming etcd's error and the flag, rather than retry until its
// context ends and report the deadline.
func TestValueTooLarge(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	for _, tc := range []struct {
		name   string
		size   int
		reason string
	}{
		// Over etcd's limit, under gRPC's: etcd's own error.
		{"1.6 MiB", 1600 << 10, rpctypes.ErrRequestTooLarge.Error()},
		// Over gRPC's message limit (2 MiB in clientv3 and in etcd): the
		// client does not send it.
		{"2 MiB", 2 << 20, "message larger than max"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			s, err := New(ctxFor(t, 30*time.Second), cli, prefixOf(t), "a", WithTTL(testTTL), WithValue(strings.Repeat("x", tc.size)))
			if err == nil {
				shutdown(t, s)
				t.Fatal("New succeeded")
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("New took %v to fail, want under 3s", d)
			}
			if !errors.Is(err, ErrValueTooLarge) {
				t.Fatalf("New = %v, want ErrValueTooLarge", err)
			}
			for _, want := range []string{tc.reason, "--max-request-bytes", "a value of"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			// Nothing is left in etcd.
			resp, err := cli.Get(ctxFor(t, waitTime), prefixOf(t), clientv3.WithPrefix())
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Kvs) != 0 {
				t.Errorf("%d keys left under the prefix", len(resp.Kvs))
			}
		})
	}
}

// TestYieldValueTooLarge checks that a Yield whose re-creation of the key
// etcd refuses for its size ends the member, as a refusal does, rather
// than leave it registering again and again with a value etcd will never
// take. etcd's limit cannot change under a running test, so the value
// grows instead, in the run loop, between the delete and the re-creation.
func TestYieldValueTooLarge(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	var a *Selector
	a = join(t, cli, prefix, "a", withHooks(hooks{yield: func() { a.mu.Lock(); a.value = strings.Repeat("x", 1600<<10); a.mu.Unlock() }}))
	expect(t, a, events.InitMaster)
	b := join(t, cli, prefix, "b")
	expect(t, b, events.InitSlave, "a")
	expect(t, a, events.SlaveAdd, "b")

	err := a.Yield(ctxFor(t, waitTime))
	if !errors.Is(err, ErrValueTooLarge) || !strings.Contains(err.Error(), rpctypes.ErrRequestTooLarge.Error()) || !strings.Contains(err.Error(), "yield: re-create") {
		t.Fatalf("Yield = %v, want ErrValueTooLarge naming the re-creation and etcd's error", err)
	}
	waitFor(t, b, events.ChangeToMaster, waitTime)
	expectWithin(t, a, waitTime, events.Offline)
	drainClosed(t, a)
	if err := a.Err(); !errors.Is(err, ErrValueTooLarge) {
		t.Fatalf("Err = %v, want ErrValueTooLarge", err)
	}
}

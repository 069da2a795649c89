package selector

import (
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
)

// Keys and values that someone else writes under a group's prefix are
// untrusted input: whatever they are, the members' views stay sane. A key
// on a lease nested deeper than one level counts as a member, as
// concurrency.Election counts it as a candidate, with the rest of the key
// as its id; the prefix itself names no member, nor does a key whose id is
// not valid UTF-8, nor a key without a lease.
func TestForeignKeys(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	ctx := ctxFor(t, 30*time.Second)
	a := join(t, cli, prefix, "a")
	expect(t, a, events.InitMaster)
	b := join(t, cli, prefix, "b")
	expect(t, b, events.InitSlave, "a")
	expect(t, a, events.SlaveAdd, "b")

	big := strings.Repeat("x", 1<<20) // 1 MiB: under etcd's request limit
	foreign := []struct {
		key, value, id string
		leased         bool
	}{
		{prefix + "/", "empty id", "", true},                // no member
		{prefix + "/x/a", "nested, ends in a", "x/a", true}, // not member a
		{prefix + "/x/y/z", "nested twice", "x/y/z", true},
		{prefix + "/odd\x00\n\"", "odd bytes \xfe", "odd\x00\n\"", true},
		{prefix + "/bad\xff", "not UTF-8", "", true}, // no member
		{prefix + "/config", "no lease", "", false},  // no member
		{prefix + "/big", big, "big", true},
	}
	lease, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range foreign {
		var opts []clientv3.OpOption
		if f.leased {
			opts = append(opts, clientv3.WithLease(lease.ID))
		}
		if _, err := cli.Put(ctx, f.key, f.value, opts...); err != nil {
			t.Fatalf("put %q: %v", f.key, err)
		}
		if f.id != "" {
			ids = append(ids, f.id)
		}
	}
	want := append([]string{"a", "b"}, ids...)
	for _, m := range []*Selector{a, b} {
		eventually(t, m.ID()+" sees the foreign members", waitTime, func() bool {
			return slices.Equal(m.View().IDs(), want)
		})
		if m.State() != Refresh || m.Err() != nil {
			t.Fatalf("%s: state %v, Err %v after foreign keys", m.ID(), m.State(), m.Err())
		}
	}
	if !a.IsMaster() || b.IsMaster() {
		t.Fatalf("roles after foreign keys: a master %v, b master %v", a.IsMaster(), b.IsMaster())
	}
	if n, ok := a.View().Node("big"); !ok || len(n.Value) != len(big) {
		t.Errorf("the 1 MiB value came through with %d bytes", len(n.Value))
	}
	// a's events: SlaveAdd of the foreign members only, never an Offline
	// or a role change.
	for _, ev := range nextUntil(t, a, func(ev events.Event) bool { return slices.Equal(ev.View.IDs(), want) }) {
		if ev.Type != events.SlaveAdd {
			t.Fatalf("a: %v while foreign keys were written, want SLAVE_ADD only", ev)
		}
	}

	// Deleting them restores the group; a deletion of the nested key that
	// ends in "a" is not a's.
	for _, f := range foreign {
		if _, err := cli.Delete(ctx, f.key); err != nil {
			t.Fatalf("delete %q: %v", f.key, err)
		}
	}
	for _, m := range []*Selector{a, b} {
		eventually(t, m.ID()+" sees the foreign members go", waitTime, func() bool {
			return slices.Equal(m.View().IDs(), []string{"a", "b"})
		})
	}
	if !a.IsMaster() || a.State() != Refresh || b.State() != Refresh {
		t.Fatalf("after the foreign keys went: a master %v, a %v, b %v", a.IsMaster(), a.State(), b.State())
	}
}

// nextUntil reads s's events until one satisfies done, and returns them all.
func nextUntil(t *testing.T, s *Selector, done func(events.Event) bool) []events.Event {
	t.Helper()
	var evs []events.Event
	for {
		ev := next(t, s, waitTime)
		evs = append(evs, ev)
		if done(ev) {
			return evs
		}
	}
}

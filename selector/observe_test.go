package selector

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/etcdtest"
)

// TestMembersRead: Members reads the group as its members see it: join
// order, values, and neither a key without a lease nor a leased key whose
// id is not valid UTF-8.
func TestMembersRead(t *testing.T) {
	cli := shared.Client(t)
	prefix := prefixOf(t)
	ctx := ctxFor(t, waitTime)
	a := join(t, cli, prefix, "a")
	join(t, cli, prefix, "b")
	if _, err := cli.Put(ctx, prefix+"/0-stray", "no lease"); err != nil {
		t.Fatal(err)
	}
	lease, err := cli.Grant(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, prefix+"/\xff", "not UTF-8", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	v, err := Members(ctx, cli, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.IDs(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("members %q, want [a b]", got)
	}
	if v.Self != "" || v.Revision == 0 || v.Epoch() != a.Epoch() || v.Members[1].Value != "v-b" {
		t.Errorf("view %+v: want no self, a revision, a's epoch %d and b's value", v, a.Epoch())
	}
	for _, p := range []string{"", "/", "//"} {
		if _, err := Members(ctx, cli, p); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Members(%q): %v, want ErrInvalidConfig", p, err)
		}
	}
	if err := Observe(ctx, cli, "/g", nil); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "fn") {
		t.Errorf("Observe with a nil fn: %v, want ErrInvalidConfig naming fn", err)
	}
}

// TestObserve: Observe gives the view at the start, then one view per
// change, and returns nil once ctx ends.
func TestObserve(t *testing.T) {
	cli := shared.Client(t)
	prefix := prefixOf(t)
	a := join(t, cli, prefix, "a")
	ctx, cancel := context.WithCancel(context.Background())
	views := make(chan events.View, 16)
	done := make(chan error, 1)
	go func() { done <- Observe(ctx, cli, prefix, func(v events.View) { views <- v }) }()
	nextView := func(want ...string) events.View {
		t.Helper()
		select {
		case v := <-views:
			if !slices.Equal(v.IDs(), want) {
				t.Fatalf("view %q, want %q", v.IDs(), want)
			}
			return v
		case <-time.After(waitTime):
			t.Fatalf("no view %q within %v", want, waitTime)
		}
		panic("unreachable")
	}
	nextView("a")
	b := join(t, cli, prefix, "b")
	nextView("a", "b")
	if _, err := cli.Put(ctxFor(t, waitTime), prefix+"/0-stray", "no lease"); err != nil {
		t.Fatal(err)
	}
	if err := b.SetValue(ctxFor(t, waitTime), "new"); err != nil {
		t.Fatal(err)
	}
	// The stray key changed no view: the next is b's value.
	if v := nextView("a", "b"); v.Members[1].Value != "new" {
		t.Errorf("b's value %q, want new", v.Members[1].Value)
	}
	shutdown(t, a)
	if v := nextView("b"); v.Epoch() != b.Epoch() {
		t.Errorf("epoch %d, want b's %d", v.Epoch(), b.Epoch())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Observe returned %v once ctx ended, want nil", err)
		}
	case <-time.After(waitTime):
		t.Fatal("Observe still running after its ctx ended")
	}
}

// TestObserveRefused: etcd refusing the user ends Members and Observe at
// once, with ErrPermissionDenied naming the read permission needed.
func TestObserveRefused(t *testing.T) {
	sec := etcdtest.StartSecure(t)
	sec.AddUser(t, "norole", "pw")
	cli := sec.ClientAs(t, "norole", "pw")
	ctx := ctxFor(t, waitTime)
	_, err := Members(ctx, cli, "/refused")
	if !errors.Is(err, ErrPermissionDenied) || !strings.Contains(err.Error(), "needs read permission") {
		t.Errorf("Members: %v, want ErrPermissionDenied naming the read permission", err)
	}
	err = Observe(ctx, cli, "/refused", func(v events.View) { t.Errorf("Observe gave a view %v to a refused user", v) })
	if !errors.Is(err, ErrPermissionDenied) || ctx.Err() != nil {
		t.Errorf("Observe: %v (ctx %v), want ErrPermissionDenied at once", err, ctx.Err())
	}
}

package resolver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/seed764c596d/mastership/events"
)

func newDirectory(t *testing.T, cli *clientv3.Client, parent string) *Directory {
	t.Helper()
	d, err := NewDirectory(ctxFor(t, waitTime), cli, parent,
		WithDialOptions(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatalf("NewDirectory: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// nextChange returns the next change, and checks its type, group and
// master.
func nextChange(t *testing.T, d *Directory, typ ChangeType, name, master, old string) Change {
	t.Helper()
	select {
	case c, ok := <-d.Changes():
		if !ok {
			t.Fatal("Changes closed")
		}
		if c.Type != typ || c.Group.Name != name || c.Group.Master().ID != master || c.OldMaster.ID != old {
			t.Fatalf("change %v; want %v %s (master %q, was %q)", c, typ, name, master, old)
		}
		return c
	case <-time.After(waitTime):
		t.Fatalf("no change within %v; want %v %s", waitTime, typ, name)
		return Change{}
	}
}

func groupsOf(gs []Group) string {
	var parts []string
	for _, g := range gs {
		parts = append(parts, fmt.Sprintf("%s%v", g.Name, events.IDs(g.Members)))
	}
	return strings.Join(parts, " ")
}

// A Directory reports groups appearing, changing master and disappearing,
// and not a slave joining; Conn reaches a group's master.
func TestDirectory(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	parent := prefixOf(t)
	sa1, sa2, sb1 := startServer(t, "a1"), startServer(t, "a2"), startServer(t, "b1")
	a1 := join(t, cli, parent+"/a", "a1", sa1.addr)
	d := newDirectory(t, cli, parent)

	c := nextChange(t, d, GroupAdded, "a", "a1", "")
	if c.Group.Master().Value != sa1.addr || c.Revision == 0 {
		t.Errorf("first change %+v: want a1's address and a revision", c)
	}
	b1 := join(t, cli, parent+"/b", "b1", sb1.addr)
	nextChange(t, d, GroupAdded, "b", "b1", "")
	join(t, cli, parent+"/a", "a2", sa2.addr)
	eventually(t, "Groups shows a2", waitTime, func() bool { return groupsOf(d.Groups()) == "a[a1 a2] b[b1]" })
	a1.Close()
	// The slave joining made no change: the next is a's failover.
	nextChange(t, d, MasterChanged, "a", "a2", "a1")

	ctx := ctxFor(t, waitTime)
	ca, err := d.Conn(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := who(ca); err != nil || got != "a2" {
		t.Errorf("call on Conn(a): %q, %v; want a2", got, err)
	}
	cb, err := d.Conn(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := who(cb); err != nil || got != "b1" {
		t.Errorf("call on Conn(b): %q, %v; want b1", got, err)
	}
	if again, err := d.Conn(ctx, "b"); err != nil || again != cb {
		t.Errorf("second Conn(b): %p, %v; want the same connection %p", again, err, cb)
	}

	b1.Close()
	nextChange(t, d, GroupRemoved, "b", "", "b1")
	if _, err := d.Conn(ctx, "b"); !errors.Is(err, ErrNoGroup) {
		t.Errorf("Conn of a group gone: %v, want ErrNoGroup", err)
	}
	if s := cb.GetState(); s != connectivity.Shutdown {
		t.Errorf("connection of a group gone: %v, want it closed", s)
	}

	// A key with no id names no member; an id may contain "/".
	if _, err := cli.Put(ctx, parent+"/c", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, parent+"/c/x/y", "x"); err != nil {
		t.Fatal(err)
	}
	nextChange(t, d, GroupAdded, "c", "x/y", "")
	if got := groupsOf(d.Groups()); got != "a[a2] c[x/y]" {
		t.Errorf("Groups: %s, want a[a2] c[x/y]", got)
	}
	if _, err := cli.Delete(ctx, parent+"/c", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	nextChange(t, d, GroupRemoved, "c", "", "x/y")

	d.Close()
	if _, ok := <-d.Changes(); ok {
		t.Error("Changes open after Close")
	}
	if s := ca.GetState(); s != connectivity.Shutdown {
		t.Errorf("connection after Close: %v, want it closed", s)
	}
	if _, err := d.Conn(ctx, "a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Conn after Close: %v, want ErrClosed", err)
	}
}

// Conn waits for a ready connection only until its context ends, and says
// so.
func TestDirectoryConnNotReady(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	parent := prefixOf(t)
	join(t, cli, parent+"/a", "a1", "") // no address
	d := newDirectory(t, cli, parent)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := d.Conn(ctx, "a")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "not ready") {
		t.Errorf("Conn: %v; want not ready, deadline exceeded", err)
	}
}

// Close races a reader of Changes and a stream of changes: the channel
// closes, nothing panics or leaks (goleak checks), and Close does not wait
// for a reader, not even for one that never reads.
func TestDirectoryCloseRacingChanges(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	parent := prefixOf(t)
	for i := range 4 {
		d := newDirectory(t, cli, parent)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // a stream of changes
			defer wg.Done()
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), waitTime)
				cli.Put(ctx, fmt.Sprintf("%s/g%d/m", parent, j%10), "x")
				cancel()
			}
		}()
		read := make(chan int)
		if i%2 == 0 { // odd rounds have no reader at all
			go func() {
				n := 0
				for range d.Changes() {
					n++
				}
				read <- n
			}()
		}
		eventually(t, "some groups", waitTime, func() bool { return len(d.Groups()) > 2 })
		closed := make(chan struct{})
		go func() {
			d.Close()
			close(closed)
		}()
		select {
		case <-closed:
		case <-time.After(waitTime):
			t.Fatalf("round %d: Close blocked", i)
		}
		if i%2 == 0 {
			select {
			case n := <-read:
				t.Logf("round %d: read %d changes before Close", i, n)
			case <-time.After(waitTime):
				t.Fatalf("round %d: Changes not closed after Close", i)
			}
		}
		close(stop)
		wg.Wait()
	}
}

// Conn waiting for a group's master returns ErrNoGroup when the group
// disappears meanwhile, and ErrClosed when the Directory is closed
// meanwhile: the sentinels it returns when asked after the fact.
func TestDirectoryConnInterrupted(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	parent := prefixOf(t)
	for _, tc := range []struct {
		name string
		want error
	}{
		{"gone", ErrNoGroup},
		{"closed", ErrClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := join(t, cli, parent+"/"+tc.name, "a1", "") // no address: never ready
			d := newDirectory(t, cli, parent)
			res := make(chan error, 1)
			go func() {
				_, err := d.Conn(ctxFor(t, waitTime), tc.name)
				res <- err
			}()
			eventually(t, "Conn dialling", waitTime, func() bool {
				d.mu.Lock()
				defer d.mu.Unlock()
				return d.conns[tc.name] != nil
			})
			if tc.want == ErrClosed {
				d.Close()
			} else {
				a.Close()
			}
			select {
			case err := <-res:
				if !errors.Is(err, tc.want) {
					t.Errorf("Conn: %v; want it to wrap %v", err, tc.want)
				}
			case <-time.After(waitTime):
				t.Fatalf("Conn still waiting %v after its group or Directory %s", waitTime, tc.name)
			}
		})
	}
}

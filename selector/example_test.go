package selector_test

import (
	"context"
	"fmt"
	"time"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/selector"
)

func ExampleNew() {
	cli, stop, err := etcdtest.ForExample() // an embedded etcd and a client, for the example
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	ctx := context.Background()

	a, err := selector.New(ctx, cli, "/example/db", "a",
		selector.WithTTL(2*time.Second), selector.WithValue("10.0.0.1:5432"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("a:", <-a.Events())
	// Master-only work runs under the master context: it ends with the
	// mastership.
	work := a.MasterContext()

	b, err := selector.New(ctx, cli, "/example/db", "b", selector.WithTTL(2*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("b:", <-b.Events())
	fmt.Println("a:", <-a.Events())

	a.Close() // revokes a's lease: b takes over at once
	<-work.Done()
	fmt.Println("a: mastership over:", work.Err())
	for ev := range a.Events() {
		fmt.Println("a:", ev)
	}
	fmt.Println("b:", <-b.Events())
	b.Close()
	for ev := range b.Events() {
		if ev.Type != events.Offline {
			fmt.Println("b: unexpected", ev)
		}
	}
	// Output:
	// a: INIT_MASTER [] (master a)
	// b: INIT_SLAVE [a] (master a)
	// a: SLAVE_ADD [b] (master a)
	// a: mastership over: context canceled
	// a: OFFLINE
	// b: CHANGE_TO_MASTER [] (master b)
}

// A member that is only asked, never read: no events are kept for it. Its
// master-only work still runs under MasterContext, which ends with the
// mastership, whatever happens.
func ExampleWithoutEvents() {
	cli, stop, err := etcdtest.ForExample() // an embedded etcd and a client, for the example
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	s, err := selector.New(ctx, cli, "/example/cron", "host-1",
		selector.WithTTL(2*time.Second), selector.WithoutEvents())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("no events channel:", s.Events() == nil)
	if s.IsMaster() {
		work := s.MasterContext()
		fmt.Println("master: running the job until", "mastership ends")
		s.Close()
		<-work.Done()
		fmt.Println("mastership over:", work.Err())
	}
	// Output:
	// no events channel: true
	// master: running the job until mastership ends
	// mastership over: context canceled
}

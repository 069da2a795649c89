package selector_test

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/selector"
)

func ExampleSelector_Guard() {
	cli, stop, err := etcdtest.ForExample() // an embedded etcd and a client, for the example
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	ctx := context.Background()

	s, err := selector.New(ctx, cli, "/example/guard", "a", selector.WithTTL(2*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(<-s.Events())

	// A write that only the master may make: it commits only while this
	// mastership lasts in etcd, whatever the master believes.
	guard, err := s.Guard()
	if err != nil {
		fmt.Println(err) // selector.ErrNotMaster on a slave
		return
	}
	resp, err := cli.Txn(ctx).If(guard).Then(clientv3.OpPut("/example/config", "v2")).Commit()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("committed:", resp.Succeeded)

	s.Close()
	for range s.Events() {
	}
	// The mastership has ended: the same transaction no longer commits.
	resp, err = cli.Txn(ctx).If(guard).Then(clientv3.OpPut("/example/config", "v3")).Commit()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("committed after Close:", resp.Succeeded)
	_, err = s.Guard()
	fmt.Println(err)
	// Output:
	// INIT_MASTER [] (master a)
	// committed: true
	// committed after Close: false
	// selector: not master
}

func ExampleSelector_Yield() {
	cli, stop, err := etcdtest.ForExample() // an embedded etcd and a client, for the example
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	ctx := context.Background()

	a, err := selector.New(ctx, cli, "/example/yield", "a", selector.WithTTL(2*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("a:", <-a.Events())
	b, err := selector.New(ctx, cli, "/example/yield", "b", selector.WithTTL(2*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("b:", <-b.Events())
	fmt.Println("a:", <-a.Events())

	// a hands the mastership to b and stays in the group, behind it.
	if err := a.Yield(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("a is master:", a.IsMaster())
	fmt.Println("a:", <-a.Events())
	// b may see a's key go and come back in one watch response or in two,
	// so its CHANGE_TO_MASTER lists a or is followed by SLAVE_ADD [a].
	fmt.Println("b:", (<-b.Events()).Type)

	for _, s := range []*selector.Selector{a, b} {
		s.Close()
		for range s.Events() {
		}
	}
	// Output:
	// a: INIT_MASTER [] (master a)
	// b: INIT_SLAVE [a] (master a)
	// a: SLAVE_ADD [b] (master a)
	// a is master: false
	// a: CHANGE_TO_SLAVE [b] (master b)
	// b: CHANGE_TO_MASTER
}

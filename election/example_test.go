package election_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/election"
	"github.com/seed764c596d/mastership/internal/etcdtest"
)

func Example() {
	cli, stop, err := etcdtest.ForExample() // an embedded etcd and a client, for the example
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	leaders := make(chan string, 10)
	run := func(name string) *election.Election {
		e, err := election.New(cli, "/example/scheduler",
			election.WithTTL(2*time.Second), election.WithValue(name))
		if err != nil {
			panic(err)
		}
		wg.Go(func() {
			e.Run(ctx, election.Callbacks{
				// Leader-only work runs under ctx: it ends with the leadership.
				OnStartedLeading: func(ctx context.Context) { leaders <- name },
			})
		})
		return e
	}

	a := run("a")
	fmt.Println("leader:", <-leaders)

	// Start b, and wait until its key is there: b campaigns behind a.
	resp, err := cli.Get(ctx, "/example/scheduler/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		fmt.Println(err)
		return
	}
	wctx, stopWatch := context.WithCancel(ctx)
	joined := cli.Watch(wctx, "/example/scheduler/", clientv3.WithPrefix(),
		clientv3.WithRev(resp.Header.Revision+1), clientv3.WithFilterDelete())
	run("b")
	<-joined
	stopWatch()

	// Resign hands over to the next candidate at once; a campaigns again,
	// behind b.
	if err := a.Resign(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("leader:", <-leaders)
	// Output:
	// leader: a
	// leader: b
}

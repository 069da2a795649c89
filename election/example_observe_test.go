package election_test

import (
	"context"
	"fmt"
	"time"

	"github.com/seed764c596d/mastership/election"
	"github.com/seed764c596d/mastership/internal/etcdtest"
)

func ExampleElection_Observe() {
	cli, stop, err := etcdtest.ForExample() // an embedded etcd and a client, for the example
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	watcher, err := election.New(cli, "/example/observe")
	if err != nil {
		fmt.Println(err)
		return
	}
	leaders := watcher.Observe(ctx) // closes when ctx is done
	show := func() {
		if l := <-leaders; l.IsZero() {
			fmt.Println("no leader")
		} else {
			fmt.Println("leader:", l.Value)
		}
	}
	show()

	a, err := election.New(cli, "/example/observe", election.WithTTL(2*time.Second), election.WithValue("a"))
	if err != nil {
		fmt.Println(err)
		return
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- a.Run(runCtx, election.Callbacks{OnStartedLeading: func(context.Context) {}})
	}()
	show()
	stop() // a leaves, deleting its key: the election has no leader
	<-done
	show()
	// Output:
	// no leader
	// leader: a
	// no leader
}

package localetcd_test

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/seed764c596d/mastership/localetcd"
)

// Start a one-member etcd in a temporary directory, then write and read a
// key with an ordinary etcd client.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := localetcd.Start(ctx, localetcd.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close() // stops etcd and removes its directory

	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   c.Endpoints(),
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Close() // before the cluster: deferred calls run last first

	if _, err := cli.Put(ctx, "/greeting", "hello"); err != nil {
		fmt.Println(err)
		return
	}
	resp, err := cli.Get(ctx, "/greeting")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, kv := range resp.Kvs {
		fmt.Printf("%s = %s\n", kv.Key, kv.Value)
	}
	// Output:
	// /greeting = hello
}

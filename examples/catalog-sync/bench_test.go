package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/mastershiptest"
)

// BenchmarkPutToReady measures a catalog change from the API call to the
// moment every one of three workers has applied it and recorded that in
// etcd, as seen by a watch on the workers' keys: what "ready" waits for.
func BenchmarkPutToReady(b *testing.B) {
	etcd := mastershiptest.NewCluster(b)
	// A client with no fault proxy between: the proxy's hops would be
	// measured too.
	cli, err := clientv3.New(etcd.Config(b, "", ""))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cli.Close() })
	co := startCoord(b, cli, "c1", quiet)
	ids := []string{"w1", "w2", "w3"}
	for _, id := range ids {
		startWorker(b, cli, id, newConn(), quiet)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wch := cli.Watch(ctx, newLayout(prefix).workers(), clientv3.WithPrefix())
	applied := map[string]int64{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rev := put(b, co, fmt.Sprintf("c%d", i%10), "memory", Properties{"i": fmt.Sprint(i)})
		for done := false; !done; {
			var wr clientv3.WatchResponse
			select {
			case wr = <-wch:
			case <-time.After(10 * time.Second):
				b.Fatalf("catalog c%d not recorded by every worker within 10s", i%10)
			}
			if wr.Err() != nil {
				b.Fatal(wr.Err())
			}
			for _, ev := range wr.Events {
				var r workerRecord
				json.Unmarshal(ev.Kv.Value, &r)
				applied[string(ev.Kv.Key)] = r.Applied
			}
			done = true
			for _, id := range ids {
				if applied[newLayout(prefix).workers()+id] < rev {
					done = false
				}
			}
		}
	}
}

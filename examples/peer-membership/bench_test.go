package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/mastershiptest"
)

// BenchmarkMetaUpdate measures a metadata update from SetMeta to the UPDATE
// on another node's listener.
func BenchmarkMetaUpdate(b *testing.B) {
	etcd := mastershiptest.NewCluster(b)
	a := start(b, direct(b, etcd), "a", nil)
	o := start(b, direct(b, etcd), "o", nil)
	ch := o.Table().Listen()
	b.Cleanup(func() {
		o.Leave(context.Background())
		for range ch {
		}
	})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v := fmt.Sprint(i)
		if err := a.SetMeta(context.Background(), map[string]string{"i": v}); err != nil {
			b.Fatal(err)
		}
		waitFor(b, ch, 5*time.Second, "UPDATE", func(c Change) bool { return c.Kind == Update && c.Member.Meta["i"] == v })
	}
}

// direct returns a client of etcd with no fault proxy between, whose hops
// a benchmark would measure too, closed when b ends.
func direct(b *testing.B, etcd *mastershiptest.Cluster) *clientv3.Client {
	b.Helper()
	cli, err := clientv3.New(etcd.Config(b, "", ""))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cli.Close() })
	return cli
}

package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/examples/internal/proctest"
	"github.com/seed764c596d/mastership/examples/replicated-kv/kvpb"
	"github.com/seed764c596d/mastership/mastershiptest"
)

// BenchmarkPut measures one acknowledged Put, from a client, with n
// in-sync slaves: the master's write, one round trip to each slave in
// parallel, and no etcd request (the in-sync set does not change).
func BenchmarkPut(b *testing.B) {
	for _, slaves := range []int{0, 2} {
		b.Run(fmt.Sprintf("slaves=%d", slaves), func(b *testing.B) {
			e := mastershiptest.NewCluster(b)
			start := func(name string) *server {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				s, err := newServer(ctx, e.Members[0].Client(b).Client, config{Prefix: "/bench", Name: name, TTL: testTTL})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				return s
			}
			a := start("a")
			want := 1 + slaves
			for i := range slaves {
				start(fmt.Sprintf("s%d", i))
			}
			cli := e.Client(b).Client
			proctest.WaitFor(b, 15*time.Second, fmt.Sprintf("in-sync set of %d", want), func() bool {
				r, _, err := readISR(context.Background(), cli, "/bench")
				return err == nil && len(r.Members) == want
			})
			kv := kvpb.NewKVClient(mustDialB(b, a.addr))
			val := make([]byte, 100)
			for i := 0; b.Loop(); i++ {
				if _, err := kv.Put(context.Background(), &kvpb.PutRequest{Key: fmt.Sprintf("k%d", i%1000), Value: val}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/internal/etcdtest"
)

// BenchmarkMetaUpdate measures a metadata update from SetMeta to the UPDATE
// on another node's listener.
func BenchmarkMetaUpdate(b *testing.B) {
	etcd := etcdtest.Start(b)
	a := start(b, etcd.Client(b), "a", nil)
	o := start(b, etcd.Client(b), "o", nil)
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

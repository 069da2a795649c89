package metrics_test

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/metrics"
	"github.com/seed764c596d/mastership/selector"
)

func ExampleNewCollector() {
	cli, stop, err := etcdtest.ForExample() // an embedded etcd and a client, for the example
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	s, err := selector.New(context.Background(), cli, "/example/db", "db-1", selector.WithTTL(2*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() {
		s.Close()
		for range s.Events() {
		}
	}()
	<-s.Events()

	c, err := metrics.NewCollector(s)
	if err != nil {
		fmt.Println(err)
		return
	}
	reg := prometheus.NewRegistry() // or prometheus.MustRegister(c)
	reg.MustRegister(c)
	// Serve reg with promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).

	families, err := reg.Gather()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range families {
		if f.GetName() != "mastership_role" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "role" {
					fmt.Printf("mastership_role{role=%q} %g\n", l.GetValue(), m.GetGauge().GetValue())
				}
			}
		}
	}
	// Output:
	// mastership_role{role="MASTER"} 1
	// mastership_role{role="NONE"} 0
	// mastership_role{role="SLAVE"} 0
}

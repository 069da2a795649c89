package selector_test

import (
	"context"
	"fmt"
	"time"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/selector"
)

func ExampleSelector_Stats() {
	cli, stop, err := etcdtest.ForExample() // an embedded etcd and a client, for the example
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	s, err := selector.New(context.Background(), cli, "/example/stats", "a", selector.WithTTL(2*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	<-s.Events()
	st := s.Stats()
	fmt.Println(st.ID, st.Role, st.State, "members:", st.Members)
	fmt.Println("INIT_MASTER events:", st.Transitions[events.InitMaster])
	// The member lasts this long if etcd stops answering now.
	fmt.Println("deadline ahead:", st.UntilDeadline > 0 && st.UntilDeadline <= st.TTL)

	s.Close()
	for range s.Events() {
	}
	st = s.Stats()
	fmt.Println(st.ID, st.Role, st.State, "members:", st.Members)
	// Output:
	// a MASTER REFRESH members: 1
	// INIT_MASTER events: 1
	// deadline ahead: true
	// a NONE OFFLINE members: 0
}

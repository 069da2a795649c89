package group

import (
	"context"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/internal/refusal"
)

// TestFatal checks that Follow hands the errors of its reads and watches
// to Fatal, and returns at once when Fatal says so, rather than retry: here
// etcd refuses a user without a role both the read and the watch.
func TestFatal(t *testing.T) {
	sec := etcdtest.StartSecure(t)
	sec.AddUser(t, "norole", "pw")
	cli := sec.ClientAs(t, "norole", "pw")
	for _, tc := range []struct {
		name  string
		start State // Revision > 0: Follow watches first, without a read
	}{
		{"read", State{}},
		{"watch", State{Revision: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var fatal []error
			done := make(chan struct{})
			go func() {
				defer close(done)
				Follow(ctx, Config[struct{}]{
					Client: cli,
					Prefix: "/fatal/",
					Update: func(State) bool { t.Error("Update called for a refused user"); return true },
					Fatal: func(err error) bool {
						fatal = append(fatal, err)
						return refusal.Of(cli, err) == refusal.PermissionDenied
					},
				}, tc.start)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				cancel()
				<-done
				t.Fatalf("Follow still retrying 5s after a refusal; Fatal saw %v", fatal)
			}
			if len(fatal) != 1 || refusal.Of(cli, fatal[0]) != refusal.PermissionDenied {
				t.Fatalf("Fatal saw %v, want one permission denied", fatal)
			}
		})
	}
}

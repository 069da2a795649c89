package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/seed764c596d/mastership/examples/internal/proctest"
	"github.com/seed764c596d/mastership/mastershiptest"
)

// TestOpsEndpoints: every registered coordinator, master or not, is
// healthy, since any of them answers reads and redirects writes; /metrics
// gives each one's role; a closed coordinator is gone.
func TestOpsEndpoints(t *testing.T) {
	etcd := mastershiptest.NewCluster(t)
	cli := etcd.Client(t).Client
	c1 := startCoord(t, cli, "c1", quiet)
	c2 := startCoord(t, cli, "c2", quiet)
	for _, tc := range []struct {
		c    *Coordinator
		role string
	}{{c1, "MASTER"}, {c2, "SLAVE"}} {
		code, body := proctest.Get(t, tc.c.URL()+"/healthz")
		if code != http.StatusOK || !strings.Contains(body, tc.role) {
			t.Errorf("%s/healthz: %d %q, want 200 naming %s", tc.c.URL(), code, body, tc.role)
		}
		code, body = proctest.Get(t, tc.c.URL()+"/metrics")
		if code != http.StatusOK || !strings.Contains(body, "mastership_role") {
			t.Errorf("%s/metrics: %d, no mastership_role in:\n%s", tc.c.URL(), code, body)
		}
	}
	_, m1 := proctest.Get(t, c1.URL()+"/metrics")
	_, m2 := proctest.Get(t, c2.URL()+"/metrics")
	if !strings.Contains(m1, `id="c1"`) || !strings.Contains(m2, `id="c2"`) {
		t.Errorf("metrics not labelled with their coordinator's id:\n%s\n%s", m1, m2)
	}
	c2.Close()
	if _, err := http.Get(c2.URL() + "/healthz"); err == nil {
		t.Errorf("a closed coordinator still answers /healthz")
	}
}

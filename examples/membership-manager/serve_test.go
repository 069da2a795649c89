package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/mastershiptest"
)

// addrOf returns the address a manager serves on, from its log.
func addrOf(t *testing.T, p *proc) string {
	t.Helper()
	re := regexp.MustCompile(`msg="serving /healthz, /manager-ready and /metrics" .*addr=(\S+)`)
	var addr string
	eventually(t, within, p.name+" serves HTTP", func() bool {
		m := re.FindStringSubmatch(p.Stderr.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	return addr
}

// get returns the status code and body of GET http://addr/path, or 0 and
// the error's text.
func get(addr, path string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReadinessAndMetrics: /manager-ready answers 200 only on the master
// whose last reconciliation succeeded, like the original's /manager-ready;
// /healthz answers 200 on every manager in the group; /metrics gives the
// membership's metrics and the manager's own. A failing target makes the
// master unready; a working one ready; the other manager is never ready
// until the master dies, when it takes over and becomes ready.
func TestReadinessAndMetrics(t *testing.T) {
	c := mastershiptest.NewCluster(t)
	cli := c.Client(t).Client
	ep := c.Endpoints()[0]
	const prefix = "/mm-ready"
	e := newCommandEnv(t)
	if err := os.WriteFile(e.fail, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	margs := func(id string) []string {
		return managerArgs(ep, prefix, id, "--target", "command", "--command", e.command, "--listen", "127.0.0.1:0")
	}
	m1 := start(t, "m1", e.env, margs("m1")...)
	a1 := addrOf(t, m1)
	eventually(t, within, "m1 is master and its reconciliation fails", func() bool {
		return master(t, cli, prefix) == "m1" && strings.Contains(m1.Stderr.String(), "reconcile failed; retrying")
	})
	if code, body := get(a1, "/manager-ready"); code != http.StatusServiceUnavailable {
		t.Errorf("m1 /manager-ready with a failing target: %d %q, want 503", code, body)
	}
	if code, body := get(a1, "/healthz"); code != http.StatusOK {
		t.Errorf("m1 /healthz: %d %q, want 200", code, body)
	}

	if err := os.Remove(e.fail); err != nil {
		t.Fatal(err)
	}
	eventually(t, within, "m1 is ready once the target works", func() bool {
		code, _ := get(a1, "/manager-ready")
		return code == http.StatusOK
	})
	_, body := get(a1, "/metrics")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^membership_manager_reconciles_total\{id="m1",result="failure"\} [1-9]`),
		regexp.MustCompile(`(?m)^membership_manager_reconciles_total\{id="m1",result="success"\} [1-9]`),
		regexp.MustCompile(`(?m)^membership_manager_ready\{id="m1"\} 1$`),
		regexp.MustCompile(`(?m)^mastership_role\{id="m1",prefix="[^"]*",role="MASTER"\} 1$`),
	} {
		if !want.MatchString(body) {
			t.Errorf("m1 /metrics has no line matching %s:\n%s", want, body)
		}
	}

	m2 := start(t, "m2", e.env, margs("m2")...)
	a2 := addrOf(t, m2)
	eventually(t, within, "m2 is in the group", func() bool {
		code, _ := get(a2, "/healthz")
		return code == http.StatusOK
	})
	if code, body := get(a2, "/manager-ready"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not the master") {
		t.Errorf("m2 /manager-ready while m1 is master: %d %q, want 503 not the master", code, body)
	}
	if _, body := get(a2, "/metrics"); !strings.Contains(body, `membership_manager_ready{id="m2"} 0`) {
		t.Errorf("m2 /metrics does not say it is not ready:\n%s", body)
	}

	m1.stop(t, syscall.SIGKILL, within)
	eventually(t, within, "m2 takes over and is ready", func() bool {
		code, _ := get(a2, "/manager-ready")
		return code == http.StatusOK
	})
}

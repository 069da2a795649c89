package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/mastershiptest"
)

// proc runs one subcommand of the program in the background, its standard
// output as lines.
type proc struct {
	lines chan string
	code  chan int
}

func startProc(ctx context.Context, args ...string) *proc {
	p := &proc{lines: make(chan string, 100), code: make(chan int, 1)}
	r, w := io.Pipe()
	go func() {
		p.code <- run(ctx, args, w, io.Discard)
		w.Close()
	}()
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	return p
}

func (p *proc) expect(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("output ended before a line starting %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			t.Fatalf("no line starting %q within 15s", prefix)
		}
	}
}

func (p *proc) wait(t *testing.T) {
	t.Helper()
	select {
	case c := <-p.code:
		if c != 0 {
			t.Errorf("exit code %d, want 0", c)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit within 15s of the signal")
	}
	for range p.lines {
	}
}

// TestProgram runs a coordinator and a worker as the program does, writes
// and drops a catalog with the CLI, and stops both on their signal.
func TestProgram(t *testing.T) {
	etcd := mastershiptest.NewCluster(t)
	eps := strings.Join(etcd.Endpoints(), ",")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	co := startProc(ctx, "coordinator", "--endpoints", eps, "--prefix", "/p", "--id", "c1", "--listen", "127.0.0.1:0", "--ttl", "2s", "--log-level", "ERROR")
	url := strings.TrimPrefix(co.expect(t, "coordinator c1 serving on "), "coordinator c1 serving on ")
	wk := startProc(ctx, "worker", "--endpoints", eps, "--prefix", "/p", "--id", "w1", "--ttl", "2s", "--log-level", "ERROR")
	wk.expect(t, "worker w1: 0 catalogs loaded")

	var out, errb strings.Builder
	if code := run(context.Background(), []string{"put", "pg", "--coordinator", url, "--connector", "postgresql",
		"--property", "connection-url=jdbc:x", "--property", "connection-password=pw-9z"}, &out, &errb); code != 0 {
		t.Fatalf("put: exit %d: %s", code, errb.String())
	}
	l := wk.expect(t, "apply pg ")
	if !strings.Contains(l, "connection-url=jdbc:x") || strings.Contains(l, "pw-9z") {
		t.Errorf("worker printed %q: want the url, and the password redacted", l)
	}
	if code := run(context.Background(), []string{"drop", "pg", "--coordinator", url}, &out, &errb); code != 0 {
		t.Fatalf("drop: exit %d: %s", code, errb.String())
	}
	wk.expect(t, "stop pg")
	wk.expect(t, "release pg")
	if code := run(context.Background(), []string{"status", "pg", "--coordinator", url}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "not found") {
		t.Errorf("status of a dropped catalog: exit %d, stderr %q; want 1 and not found", code, errb.String())
	}
	stop()
	wk.wait(t)
	co.wait(t)
}

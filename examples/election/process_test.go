package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/examples/internal/proctest"
	"github.com/seed764c596d/mastership/mastershiptest"
)

// awaitLine reads p's standard output until a line matches re, and returns
// its submatches; it fails t after d, or if the output ends first.
func awaitLine(t *testing.T, p *proctest.Process, d time.Duration, re *regexp.Regexp) []string {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case l, ok := <-p.Lines():
			if !ok {
				t.Fatalf("output ended before a line matching %q; stderr: %s", re, p.Stderr.String())
			}
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-timeout:
			t.Fatalf("no line matching %q within %v", re, d)
		}
	}
}

// TestProcess runs one candidate as a process against etcd: it prints the
// address it listens on, leads (alone), serves /work, /healthz and
// /metrics there, publishes its URL as its election value, and on SIGTERM
// leaves the election (its key gone at once) and exits 0.
func TestProcess(t *testing.T) {
	c := mastershiptest.NewCluster(t)
	cli := c.Client(t)
	// Without the race detector's second of sleep at exit, so that the
	// time to exit after SIGTERM is the program's.
	p := proctest.Start(t, asElection, "election", []string{"GORACE=atexit_sleep_ms=0"}, "--endpoints", c.Endpoints()[0],
		"--name", "p1", "--listen", "127.0.0.1:0", "--prefix", "/el-proc", "--ttl", "2s")
	m := awaitLine(t, p, 20*time.Second, regexp.MustCompile(`p1  listening on (127\.0\.0\.1:\d+), advertising (\S+)$`))
	addr, url := m[1], m[2]
	if url != "http://"+addr {
		t.Errorf("advertises %s, want http://%s", url, addr)
	}
	awaitLine(t, p, 20*time.Second, regexp.MustCompile(`p1  leading \(epoch \d+\): serving /work at `+regexp.QuoteMeta(url)+`$`))

	r := ask(t, url+"/work")
	if r.code != http.StatusOK || r.a.Leader == nil || r.a.Leader.Name != "p1" || r.a.Leader.URL != url || r.a.Count != 1 {
		t.Errorf("/work: %d %s, want 200 from p1 at %s, request 1", r.code, r.body, url)
	}
	if r := ask(t, url+"/healthz"); r.code != http.StatusOK || r.body != "ok MASTER REFRESH\n" {
		t.Errorf("/healthz: %d %q, want 200 \"ok MASTER REFRESH\"", r.code, r.body)
	}
	if r := ask(t, url+"/metrics"); r.code != http.StatusOK || !strings.Contains(r.body, `mastership_role{id="p1",prefix="/el-proc/",role="MASTER"} 1`) {
		t.Errorf("/metrics: %d, lacks p1's MASTER role:\n%s", r.code, r.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/el-proc/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 {
		t.Fatalf("%d keys under /el-proc/, want p1's alone", len(resp.Kvs))
	}
	var v value
	if err := json.Unmarshal(resp.Kvs[0].Value, &v); err != nil || v != (value{"p1", url}) {
		t.Errorf("p1's election value %q, want {p1 %s}", resp.Kvs[0].Value, url)
	}

	start := time.Now()
	p.Signal(t, syscall.SIGTERM, 10*time.Second)
	t.Logf("exited %v after SIGTERM", time.Since(start))
	if err := p.Err(); err != nil {
		t.Errorf("ended with %v after SIGTERM, want exit 0; stderr: %s", err, p.Stderr.String())
	}
	if s := p.Stderr.String(); s != "" {
		t.Errorf("stderr = %q, want nothing", s)
	}
	// It left: its key is deleted (the lease revoked), not left to expire.
	resp, err = cli.Get(ctx, "/el-proc/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Count != 0 {
		t.Errorf("%d keys under /el-proc/ after SIGTERM, want 0", resp.Count)
	}
	// And its server is closed.
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after the exit", addr)
	}
}

// TestListenInUse: a --listen address already taken ends the candidate at
// once, exit 1, with one line naming --listen.
func TestListenInUse(t *testing.T) {
	c := mastershiptest.NewCluster(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := proctest.Start(t, asElection, "election", nil, "--endpoints", c.Endpoints()[0],
		"--name", "p1", "--listen", ln.Addr().String())
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after its --listen address was refused")
	}
	var exit *exec.ExitError
	if err := p.Err(); !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("ended with %v, want exit code 1", err)
	}
	want := "election: --listen " + ln.Addr().String() + ": "
	if msg := p.Stderr.String(); strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, want) || !strings.Contains(msg, "address already in use") {
		t.Errorf("stderr = %q, want one line starting %q, saying the address is in use", msg, want)
	}
}

// TestServiceFlags: the HTTP flags are checked at once, each error naming
// its flag.
func TestServiceFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--advertise", "http://127.0.0.1:1"}, "--advertise"},
		{[]string{"--listen", "127.0.0.1"}, "--listen"},
		{[]string{"--listen", "127.0.0.1:65535"}, "--listen"},
		{[]string{"--endpoints", "127.0.0.1:1", "--name", "n1", "--advertise", "127.0.0.1:8080"}, "--advertise"},
		{[]string{"--endpoints", "127.0.0.1:1", "--name", "n1", "--advertise", "ftp://h:1"}, "--advertise"},
		{[]string{"--endpoints", "127.0.0.1:1", "--name", "n1", "--listen", "nonsense"}, "--listen"},
		{[]string{"--endpoints", "127.0.0.1:1", "--name", "n1", "--listen", ":0"}, "--advertise"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), tc.args, &out)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("run(%q): %v, want an error starting %s", tc.args, err, tc.want)
		}
		if out.Len() != 0 {
			t.Errorf("run(%q) printed %q, want nothing", tc.args, out.String())
		}
	}
}

// TestDemoServes runs the self-contained run and checks what its /work
// answers tell: n1 serves and the others name it; after n1 dies, n1
// answers 503 before n2 answers 200, and n3 then names n2.
func TestDemoServes(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), nil, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	s := out.String()
	at := 0
	for _, re := range []string{
		`n1  listening on 127\.0\.0\.1:\d+`,
		`GET n1's /work: 200 n1 serves request 1 of epoch \d+`,
		`GET n2's /work: 503 n2: not the leader; the leader is n1 at http://127\.0\.0\.1:\d+`,
		`GET n3's /work: 503 n3: not the leader; the leader is n1 at`,
		`-   n1 dies`,
		`GET n1's /work: 503 n1: no leader known`,
		`GET n2's /work: 200 n2 serves request 1 of epoch \d+`,
		`n1 stopped serving on its own safe deadline: its /work answered 503 \d+(\.\d+)?m?s before n2's answered 200`,
		`GET n3's /work: 503 n3: not the leader; the leader is n2 at`,
	} {
		loc := regexp.MustCompile(re).FindStringIndex(s[at:])
		if loc == nil {
			t.Fatalf("output lacks %q after offset %d:\n%s", re, at, s)
		}
		at += loc[1]
	}
}

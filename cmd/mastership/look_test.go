//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/internal/syncbuf"
	"github.com/seed764c596d/mastership/selector"
)

// joinGroup registers a member of prefix in the test's process, with
// TTL ttl, closed when the test ends (unless closed before).
func joinGroup(t *testing.T, cli *clientv3.Client, prefix, id, value string) *selector.Selector {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := selector.New(ctx, cli, prefix, id, selector.WithTTL(ttl), selector.WithValue(value), selector.WithoutEvents())
	if err != nil {
		t.Fatalf("join %q: %v", id, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// putStrays writes under prefix two keys that are no members: one without
// a lease, older than every member (it would be master by
// concurrency.Election's rule), and a leased one whose id is not UTF-8.
func putStrays(t *testing.T, cli *clientv3.Client, prefix string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, prefix+"/stray", "no lease"); err != nil {
		t.Fatal(err)
	}
	lease, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, prefix+"/bad-\xff", "not UTF-8", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
}

// runLook runs a looking command in this process and returns its exit
// code, standard output and standard error.
func runLook(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := run(ctx, args, nil, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestMembersCommand(t *testing.T) {
	etcd := etcdtest.Start(t)
	ep := etcd.Members[0].ClientURL
	cli := etcd.Client(t)
	const prefix = "/members"
	putStrays(t, cli, prefix)
	a := joinGroup(t, cli, prefix, "host-1", "10.0.0.1:5432")
	joinGroup(t, cli, prefix, "host-2", "two words")
	joinGroup(t, cli, prefix, "evil\u202etxt", "")

	code, out, errs := runLook(t, "members", "--endpoints", ep, "--prefix", prefix)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	t.Logf("table:\n%s", out)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "ID VALUE ROLE REVISION TTL" {
		t.Fatalf("table %q: want a header and three members", out)
	}
	want := [][]string{
		{"host-1", "10.0.0.1:5432", "master", fmt.Sprint(a.Epoch())},
		{"host-2", `"two`, `words"`, "slave"},
		{`"evil\u202etxt"`, `""`, "slave"},
	}
	for i, w := range want {
		f := strings.Fields(lines[i+1])
		if len(f) < len(w) || !slices.Equal(f[:len(w)], w) {
			t.Errorf("row %d %q, want it to start %q", i, lines[i+1], w)
		}
		if got := f[len(f)-1]; got != "2s" && got != "1s" && got != "0s" {
			t.Errorf("row %d: TTL %q, want what is left of a TTL of %v", i, got, ttl)
		}
	}
	if strings.Contains(out, "stray") || strings.Contains(out, "bad-") || strings.Contains(out, "\u202e") {
		t.Errorf("table %q shows a stray key, or a raw U+202E", out)
	}

	code, out, errs = runLook(t, "members", "--endpoints", ep, "--prefix", prefix, "--json")
	if code != 0 || errs != "" || strings.Count(out, "\n") != 1 {
		t.Fatalf("--json: exit %d, stdout %q, stderr %q: want one line", code, out, errs)
	}
	if !strings.Contains(out, `"evil\u202etxt"`) {
		t.Errorf("--json %q: want U+202E escaped", out)
	}
	var doc membersDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, m := range doc.Members {
		ids = append(ids, m.ID)
		if (m.Role == "master") != (i == 0) || m.TTL < 0 || m.TTL > 2 || (i > 0 && m.CreateRevision <= doc.Members[i-1].CreateRevision) {
			t.Errorf("member %d: %+v", i, m)
		}
	}
	if !slices.Equal(ids, []string{"host-1", "host-2", "evil\u202etxt"}) || doc.Master != "host-1" || doc.Epoch != a.Epoch() || doc.Prefix != prefix || doc.Members[1].Value != "two words" {
		t.Errorf("--json %+v", doc)
	}

	code, out, _ = runLook(t, "members", "--endpoints", ep, "--prefix", "/empty")
	if code != 0 || out != "no members\n" {
		t.Errorf("an empty group: exit %d, %q", code, out)
	}
}

func TestLeaderCommand(t *testing.T) {
	etcd := etcdtest.Start(t)
	ep := etcd.Members[0].ClientURL
	cli := etcd.Client(t)
	const prefix = "/leader"
	putStrays(t, cli, prefix)
	code, out, _ := runLook(t, "leader", "--endpoints", ep, "--prefix", prefix)
	if code != 0 || out != "no master\n" {
		t.Errorf("no member but strays: exit %d, %q, want no master", code, out)
	}
	a := joinGroup(t, cli, prefix, "host-1", "10.0.0.1:5432")
	code, out, _ = runLook(t, "leader", "--endpoints", ep, "--prefix", prefix)
	if want := fmt.Sprintf("master=host-1 epoch=%d value=10.0.0.1:5432\n", a.Epoch()); code != 0 || out != want {
		t.Errorf("exit %d, %q, want %q", code, out, want)
	}
}

// looker is a looking command run as a process, its standard output read
// line by line.
type looker struct {
	*proc
	lines chan string
}

func startLooker(t *testing.T, args ...string) *looker {
	t.Helper()
	l := &looker{proc: &proc{name: args[0], stderr: &syncbuf.Buffer{}, done: make(chan struct{})}, lines: make(chan string, 100)}
	l.cmd = exec.Command(bin, args...)
	l.cmd.Stderr = l.stderr
	out, err := l.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l.lines <- sc.Text()
		}
	}()
	go func() {
		<-read // Wait closes the pipe: read it all first
		l.err = l.cmd.Wait()
		close(l.done)
	}()
	t.Cleanup(func() {
		l.cmd.Process.Kill()
		<-l.done
		if t.Failed() {
			t.Logf("standard error of %s:\n%s", l.name, l.stderr.String())
		}
	})
	return l
}

// next returns the next line, failing t if none comes within 10s.
func (l *looker) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-l.lines:
		return s
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no line within 10s", l.name)
	}
	return ""
}

// none fails t if a line comes within d.
func (l *looker) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case s := <-l.lines:
		t.Errorf("%s: unexpected line %q", l.name, s)
	case <-time.After(d):
	}
}

// stop sends SIGTERM and checks the exit code 0.
func (l *looker) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := l.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if code := l.exitCode(t, 10*time.Second); code != 0 {
		t.Errorf("%s: exit code %d after %v, want 0", l.name, code, sig)
	}
}

func TestLeaderWatch(t *testing.T) {
	etcd := etcdtest.Start(t)
	ep := etcd.Members[0].ClientURL
	cli := etcd.Client(t)
	const prefix = "/leader-watch"
	putStrays(t, cli, prefix)
	a := joinGroup(t, cli, prefix, "host-1", "one")
	b := joinGroup(t, cli, prefix, "host-2", "two")
	l := startLooker(t, "leader", "--watch", "--endpoints", ep, "--prefix", prefix)
	line := func(want string) {
		t.Helper()
		got := l.next(t)
		ts, rest, _ := strings.Cut(got, " ")
		if _, err := time.Parse(events.TSFormat, ts); err != nil || rest != want {
			t.Errorf("line %q, want a time then %q", got, want)
		}
	}
	line(fmt.Sprintf("master=host-1 epoch=%d value=one", a.Epoch()))
	// A change of a slave is no change of master: no line.
	if err := b.SetValue(context.Background(), "deux"); err != nil {
		t.Fatal(err)
	}
	self, _ := b.View().Node("host-2")
	a.Close()
	line(fmt.Sprintf("master=host-2 epoch=%d value=deux", self.CreateRevision))
	b.Close()
	line("no master")
	c := joinGroup(t, cli, prefix, "host-3", "three")
	line(fmt.Sprintf("master=host-3 epoch=%d value=three", c.Epoch()))
	l.none(t, 200*time.Millisecond)
	l.stop(t, syscall.SIGINT)
}

func TestWatchCommand(t *testing.T) {
	etcd := etcdtest.Start(t)
	ep := etcd.Members[0].ClientURL
	cli := etcd.Client(t)
	const prefix = "/watch"
	putStrays(t, cli, prefix)
	l := startLooker(t, "watch", "--endpoints", ep, "--prefix", prefix)
	var prev time.Time
	line := func(master string, epoch int64, members ...string) {
		t.Helper()
		raw := l.next(t)
		var got watchLine
		if err := json.Unmarshal([]byte(raw), &got); err != nil {
			t.Fatalf("line %q: %v", raw, err)
		}
		if b, _ := json.Marshal(got); string(events.EscapeNonPrinting(b)) != raw {
			t.Errorf("line %q, want exactly the fields ts, master, members, epoch, in that order", raw)
		}
		ts, err := time.Parse(events.TSFormat, got.TS)
		if err != nil || ts.Before(prev) || !strings.HasSuffix(got.TS, "Z") {
			t.Errorf("line %q: ts not in TSFormat, UTC, or before the previous line's", raw)
		}
		prev = ts
		if got.Master != master || got.Epoch != epoch || !slices.Equal(got.Members, members) {
			t.Errorf("line %q, want master %q, epoch %d, members %q", raw, master, epoch, members)
		}
		if strings.ContainsRune(raw, '\u202e') {
			t.Errorf("line %q holds a raw U+202E", raw)
		}
	}
	line("", 0, []string{}...)
	a := joinGroup(t, cli, prefix, "a", "")
	line("a", a.Epoch(), "a")
	b := joinGroup(t, cli, prefix, "b\u202e", "")
	line("a", a.Epoch(), "a", "b\u202e")
	// A value changed, a stray key written: no change of members.
	if err := b.SetValue(context.Background(), "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(context.Background(), prefix+"/another-stray", ""); err != nil {
		t.Fatal(err)
	}
	// b's epoch once master is its own key's CreateRevision, which its
	// view gives now; b.Epoch() would give a's until b has seen a go.
	self, _ := b.View().Node("b\u202e")
	a.Close()
	line("b\u202e", self.CreateRevision, "b\u202e")
	l.none(t, 200*time.Millisecond)
	l.stop(t, syscall.SIGTERM)
}

// TestLookBadArguments: each is refused before anything is dialled, in one
// line naming the flag or the argument at fault, with exit code 2.
func TestLookBadArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"members"}, "--prefix"},
		{[]string{"leader", "--prefix", "/"}, "--prefix"},
		{[]string{"watch", "--prefix", "//"}, "--prefix"},
		{[]string{"members", "--prefix", "/p", "--colour"}, "-colour"},
		{[]string{"leader", "--prefix", "/p", "--dial-timeout", "0s"}, "--dial-timeout"},
		{[]string{"watch", "--prefix", "/p", "--endpoints", "127.0.0.1"}, "--endpoints"},
		{[]string{"watch", "--prefix", "/p", "extra"}, `"extra"`},
		{[]string{"leader", "--prefix", "/p", "--watch=maybe"}, "-watch"},
		{[]string{"help", "walk"}, `"walk"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, msg := runLook(t, tc.args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "mastership") || !strings.Contains(msg, tc.want) {
				t.Errorf("stderr = %q, want one line naming %s", msg, tc.want)
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing", out)
			}
		})
	}
}

func TestLookHelp(t *testing.T) {
	for _, cmd := range []string{"members", "leader", "watch"} {
		for _, args := range [][]string{{cmd, "-h"}, {cmd, "--help"}, {"help", cmd}} {
			code, out, errs := runLook(t, args...)
			if code != 0 || errs != "" || !strings.HasPrefix(out, "usage: mastership "+cmd) {
				t.Errorf("%v: exit %d, stderr %q, stdout %q", args, code, errs, out[:min(len(out), 40)])
			}
			for _, f := range []string{"--prefix", "--endpoints", "--dial-timeout", "--user", "--password-file", "--cacert"} {
				if !strings.Contains(out, "\n  "+f+" ") {
					t.Errorf("%v: help does not describe %s", args, f)
				}
			}
		}
	}
	if code, out, _ := runLook(t, "help", "run"); code != 0 || !strings.HasPrefix(out, "usage: mastership run") {
		t.Errorf("help run: exit %d, %q", code, out[:min(len(out), 40)])
	}
}

// TestLookUnreachable: nothing listens at the endpoint; each command gives
// up after --dial-timeout, in one line, with exit code 1.
func TestLookUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, args := range [][]string{{"members"}, {"members", "--json"}, {"leader"}, {"leader", "--watch"}, {"watch"}} {
		start := time.Now()
		code, out, msg := runLook(t, append(args, "--endpoints", addr, "--prefix", "/p", "--dial-timeout", "500ms")...)
		took := time.Since(start)
		if code != 1 || out != "" || took > 10*time.Second {
			t.Errorf("%v: exit %d, stdout %q, after %v; want 1, nothing, about 500ms", args, code, out, took)
		}
		if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "unreachable") || !strings.Contains(msg, addr) {
			t.Errorf("%v: stderr %q, want one line saying etcd at %s is unreachable", args, msg, addr)
		}
	}
}

// TestLookSecure: over TLS, with etcd's authentication on. A user limited
// to the prefix reads it, its name and password from $ETCDCTL_USER as
// etcdctl takes them; a user without a role is refused in one line, exit 1,
// by each command.
func TestLookSecure(t *testing.T) {
	sec := etcdtest.StartSecure(t)
	sec.AddPrefixUser(t, "ops", "ops-pw", "/jobs")
	sec.AddUser(t, "norole", "norole-pw")
	tls := []string{"--endpoints", sec.Members[0].ClientURL, "--cacert", sec.CAFile, "--cert", sec.CertFile, "--key", sec.KeyFile, "--prefix", "/jobs"}

	t.Setenv("ETCDCTL_USER", "ops:ops-pw")
	code, out, errs := runLook(t, append([]string{"members"}, tls...)...)
	if code != 0 || out != "no members\n" || errs != "" {
		t.Errorf("members as ops: exit %d, stdout %q, stderr %q; want 0 and no members", code, out, errs)
	}

	t.Setenv("ETCDCTL_USER", "norole:norole-pw")
	for _, args := range [][]string{{"members"}, {"leader"}, {"leader", "--watch"}, {"watch"}} {
		code, out, msg := runLook(t, append(args, tls...)...)
		t.Logf("%v as norole: %s", args, msg)
		if code != 1 || out != "" {
			t.Errorf("%v as norole: exit %d, stdout %q; want 1 and nothing", args, code, out)
		}
		if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "needs read permission") || strings.Contains(msg, "norole-pw") {
			t.Errorf("%v as norole: stderr %q, want one line naming the read permission needed, without the password", args, msg)
		}
	}
}

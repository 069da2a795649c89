//go:build linux

package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/internal/etcdtest"
)

// TestSupervisorKilled: the master's supervisor is SIGKILLed while its
// program, a shell, waits for a child of its own. The whole process group,
// the grandchild included, is gone within 100ms, and the other member's
// program starts once the dead member's lease has run out.
func TestSupervisorKilled(t *testing.T) {
	etcd := etcdtest.Start(t)
	ep := etcd.Members[0].ClientURL
	file := filepath.Join(t.TempDir(), "records")
	a := startSupervisor(t, "a", member(ep, "/killed", "a", nil, "sh", "-c", "sleep 1000 & wait")...)
	started := a.waitLog(t, "program started", 20*time.Second)
	pgid := int(started["pgid"].(float64))
	b := startSupervisor(t, "b", member(ep, "/killed", "b", nil, fake(file, "beat")...)...)
	b.waitLog(t, "joined the group", 20*time.Second)
	waitFor(t, 5*time.Second, "sleep in the program's group", func() bool {
		return slices.Contains(groupMembers(pgid), "sleep")
	})
	t.Logf("process group %d: %v", pgid, groupMembers(pgid))

	// The processes of the group are orphaned when their supervisor
	// dies, and dead processes stay in their group, as zombies, until
	// reaped. PID 1 of the machines the tests run on may reap orphans
	// late (about once a second in the VM this was written on), so the
	// test makes itself the subreaper of its descendants, as systemd is
	// for a service's, and reaps the group's processes itself: then
	// kill(-pgid, 0) fails with ESRCH exactly when they are all dead.
	pids := groupPIDs(pgid)
	setSubreaper(t, true)
	defer setSubreaper(t, false)
	killed := time.Now()
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for {
		err := syscall.Kill(-pgid, 0)
		if errors.Is(err, syscall.ESRCH) {
			break
		}
		if time.Since(killed) > 100*time.Millisecond {
			t.Fatalf("process group %d still there 100ms after its supervisor's SIGKILL (kill: %v): %v", pgid, err, groupMembers(pgid))
		}
		for _, pid := range pids {
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		}
		time.Sleep(time.Millisecond)
	}
	if live := groupMembers(pgid); len(live) > 0 {
		t.Errorf("live processes in group %d: %v", pgid, live)
	}
	t.Logf("process group gone %v after the supervisor's SIGKILL", time.Since(killed).Round(100*time.Microsecond))

	sb := waitRecord(t, file, "start", "b", 20*time.Second)
	after := sb.at.Sub(killed)
	t.Logf("b's program started %v after a's supervisor was killed (TTL %v)", after.Round(time.Millisecond), ttl)
	// a's lease was last renewed at most a keep-alive interval (a quarter
	// of the safe window) before the kill; etcd expires it a TTL after.
	if min := ttl - (ttl-safetyMargin(ttl))/4 - 100*time.Millisecond; after < min {
		t.Errorf("b's program started %v after the kill, before a's lease could run out (%v)", after, min)
	}
}

// setSubreaper makes this process the subreaper of its descendants, or
// not.
func setSubreaper(t *testing.T, on bool) {
	const prSetChildSubreaper = 36
	v := 0
	if on {
		v = 1
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, uintptr(v), 0); errno != 0 {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", errno)
	}
}

// groupMembers lists the commands of the live (not zombie) processes in
// process group pgid, from /proc.
func groupMembers(pgid int) []string {
	var out []string
	for _, p := range groupProcs(pgid) {
		if p.state != "Z" {
			out = append(out, p.comm)
		}
	}
	return out
}

// groupPIDs lists the processes in process group pgid, from /proc.
func groupPIDs(pgid int) []int {
	var out []int
	for _, p := range groupProcs(pgid) {
		out = append(out, p.pid)
	}
	return out
}

type procInfo struct {
	pid         int
	comm, state string
}

func groupProcs(pgid int) []procInfo {
	var out []procInfo
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...
		s := string(b)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < 0 {
			continue
		}
		f := strings.Fields(s[close+1:])
		if len(f) < 3 || f[2] != strconv.Itoa(pgid) {
			continue
		}
		pid, _ := strconv.Atoi(d.Name())
		out = append(out, procInfo{pid, s[open+1 : close], f[0]})
	}
	return out
}

package compat

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/election"
	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/selector"
)

// testTTL is the members' TTL: etcd's minimum with its default election
// timeout, on 3.4 as on 3.7.
const testTTL = 2 * time.Second

// waitTime bounds the wait for something that should come promptly.
const waitTime = 10 * time.Second

// endTime bounds how long a member whose keep-alive etcd refuses may take
// to end: the refusal comes with the next keep-alive, a third of the TTL
// after the last; twice the TTL leaves room for a loaded machine.
const endTime = 2 * testTTL

// holdTime is how long members are watched after their permission is taken
// away on an etcd that does not check keep-alives: three TTLs and a few
// seconds, long enough for any lease that was not renewed to expire.
const holdTime = 3*testTTL + 3*time.Second

// renewalChecksPermission reports whether etcd of version v (as its status
// says, "3.4.23") refuses to renew a lease whose keys the client's user may
// no longer write, or whose user is gone (EtcdServer.checkLeaseRenew, in
// etcd's server/etcdserver/v3_server.go).
//
//   - 3.4: no; tested here on Debian's 3.4.23.
//   - 3.5: from 3.5.31 on; 3.5.23, the release before it on the Go module
//     proxy, lacks the check. Read in the source, and observed on
//     processes: 3.5.23 renewed the revoked members' leases (they stayed
//     9 s, three TTLs and more, then each refused request ended its
//     member); 3.5.36, pinned in .ci/etcd-build.sh and run by .ci/run,
//     refused the keep-alives and every member ended within 0.8 s.
//   - 3.6: from 3.6.9 on; 3.6.8 lacks it. Observed likewise: 3.6.8 renewed
//     the leases (9 s); 3.6.12, the first release after 3.6.8 that the
//     proxy serves, and 3.6.17, pinned and run by .ci/run, refused them
//     (every member ended within 0.8 s).
//
// The 3.5.23, 3.6.8 and 3.6.12 servers were run once by hand, with the
// etcdctl of the pinned release of their minor version (the proxy serves no
// etcdctl/v3 at 3.5.23 and no raft/v3 at 3.5.31, so neither 3.5.31 nor
// .ci/etcd-build.sh 3.5.23 builds): MASTERSHIP_ETCD=<server>
// MASTERSHIP_ETCDCTL=<pinned etcdctl> go test -tags etcdcompat ./compat/.
//   - 3.7: yes; tested here on the embedded 3.7.
func renewalChecksPermission(v string) (bool, error) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) != 3 {
		return false, fmt.Errorf("etcd version %q is not MAJOR.MINOR.PATCH", v)
	}
	var n [3]int
	for i, p := range parts {
		// "3.6.0-rc.1" and the like: the patch's digits only.
		if j := strings.IndexFunc(p, func(r rune) bool { return r < '0' || r > '9' }); j >= 0 {
			p = p[:j]
		}
		x, err := strconv.Atoi(p)
		if err != nil {
			return false, fmt.Errorf("etcd version %q: %w", v, err)
		}
		n[i] = x
	}
	major, minor, patch := n[0], n[1], n[2]
	switch {
	case major != 3 || minor < 4:
		return false, fmt.Errorf("etcd version %q is not supported", v)
	case minor == 4:
		return false, nil
	case minor == 5:
		return patch >= 31, nil
	case minor == 6:
		return patch >= 9, nil
	default:
		return true, nil
	}
}

func TestRenewalChecksPermission(t *testing.T) {
	for v, want := range map[string]bool{
		"3.4.23": false, "3.4.40": false,
		"3.5.0": false, "3.5.23": false, "3.5.31": true, "3.5.36": true,
		"3.6.0": false, "3.6.8": false, "3.6.9": true, "3.6.17": true,
		"3.7.0": true, "3.7.3": true, "3.8.0": true,
	} {
		got, err := renewalChecksPermission(v)
		if err != nil || got != want {
			t.Errorf("renewalChecksPermission(%q) = %v, %v; want %v", v, got, err, want)
		}
	}
	for _, v := range []string{"", "3", "3.3.27", "2.3.8", "x.y.z"} {
		if _, err := renewalChecksPermission(v); err == nil {
			t.Errorf("renewalChecksPermission(%q): no error", v)
		}
	}
}

// server is an etcd with authentication on, as a scenario sees it.
type server struct {
	// version is what the server's status reports, "3.4.23".
	version string
	// root is a client as the root user.
	root *clientv3.Client
	// addPrefixUser adds user with a role of its own that may read and
	// write prefix + "/" and the keys under it, and nothing else.
	addPrefixUser func(t *testing.T, user, password, prefix string)
	// revoke takes that permission back; deleteUser deletes user.
	revoke     func(t *testing.T, user, prefix string)
	deleteUser func(t *testing.T, user string)
	// clientAs returns a client as user, closed when t ends.
	clientAs func(t *testing.T, user, password string) *clientv3.Client
}

// embedded returns the embedded etcd this module builds with, with TLS and
// authentication on.
func embedded(t *testing.T) *server {
	sec := etcdtest.StartSecure(t)
	root := sec.Root(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	st, err := root.Status(ctx, sec.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	return &server{
		version: st.Version,
		root:    root,
		addPrefixUser: func(t *testing.T, user, password, prefix string) {
			sec.AddPrefixUser(t, user, password, prefix)
		},
		revoke: func(t *testing.T, user, prefix string) { sec.RevokePrefix(t, user, prefix) },
		deleteUser: func(t *testing.T, user string) {
			ctx, cancel := context.WithTimeout(context.Background(), waitTime)
			defer cancel()
			if _, err := root.UserDelete(ctx, user); err != nil {
				t.Fatalf("delete user %q: %v", user, err)
			}
		},
		clientAs: func(t *testing.T, user, password string) *clientv3.Client {
			return sec.ClientAs(t, user, password)
		},
	}
}

// TestPermissionEmbedded runs the permission scenarios on the embedded etcd
// (3.7), whose keep-alives check permissions.
func TestPermissionEmbedded(t *testing.T) {
	srv := embedded(t)
	t.Logf("embedded etcd %s", srv.version)
	for _, how := range takingsOn(srv.version) {
		t.Run(string(how), func(t *testing.T) { permissionTaken(t, srv, how) })
	}
}

// taking is how a permission is taken away from running members.
type taking string

const (
	// revokePermission: etcdctl role revoke-permission ROLE <prefix>/ --prefix.
	revokePermission taking = "revoke-permission"
	// deleteUser: etcdctl user delete USER.
	deleteUser taking = "user-delete"
	// changePassword: etcdctl user passwd USER (through the client's
	// UserChangePassword, the same request).
	changePassword taking = "password-change"
)

// takings are the ways a scenario takes the permission away. On etcd 3.4
// a changed password is left out: there the candidate's lease ended at once
// ("authentication failed" on its keep-alive stream) while the members
// stayed, which the scenario does not yet tell apart. 3.5.23 and 3.6.8,
// which do not check keep-alives either, kept members and candidate alike
// after a changed password, as the scenario expects.
var takings = []taking{revokePermission, deleteUser, changePassword}

// takingsOn returns the takings a scenario runs on etcd of version v.
func takingsOn(v string) []taking {
	if strings.HasPrefix(v, "3.4.") {
		return takings[:2]
	}
	return takings
}

// permissionTaken runs three selector members (a, the master, b and c) and
// an election candidate e as users with readwrite on their prefixes only,
// takes the permission away (how: revoked, user deleted, password changed),
// and checks what etcd of srv's version
// does:
//
//   - where keep-alives check permissions (renewalChecksPermission), every
//     member goes OFFLINE and ends, and e's Run returns, within endTime;
//   - where they do not (3.4), all stay registered and e leading for
//     holdTime, their leases renewed, with no event; then each request
//     that etcd checks ends the one that makes it: e's Proclaim ends its
//     Run, a's Yield ends a; b, which holds no permission, becomes master
//     once a's lease expires; c's next registration, after root deletes
//     its key, ends c. b, which makes no request, stays master to the end.
func permissionTaken(t *testing.T, srv *server, how taking) {
	checked, err := renewalChecksPermission(srv.version)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("etcd %s: keep-alives check permissions: %v", srv.version, checked)
	prefix := "/compat/" + string(how)
	eprefix := prefix + "-election"
	user, euser := "sel-"+string(how), "ele-"+string(how)
	srv.addPrefixUser(t, user, "pw-"+user, prefix)
	srv.addPrefixUser(t, euser, "pw-"+euser, eprefix)

	var members []*selector.Selector
	var first []events.Event
	for _, id := range []string{"a", "b", "c"} {
		m := join(t, srv.clientAs(t, user, "pw-"+user), prefix, id)
		members = append(members, m)
		if id == "a" {
			first = append(first, expect(t, m, events.InitMaster))
		} else {
			first = append(first, expect(t, m, events.InitSlave))
		}
	}
	a, b, c := members[0], members[1], members[2]
	for i, m := range members {
		if len(first[i].View.IDs()) < len(members) {
			seesAll(t, m, len(members))
		}
	}
	e := startCandidate(t, srv.clientAs(t, euser, "pw-"+euser), eprefix)
	e.waitLeading(t)

	taken := time.Now()
	switch how {
	case revokePermission:
		srv.revoke(t, user, prefix)
		srv.revoke(t, euser, eprefix)
	case deleteUser:
		srv.deleteUser(t, user)
		srv.deleteUser(t, euser)
	case changePassword:
		for _, u := range []string{user, euser} {
			if _, err := srv.root.UserChangePassword(ctxFor(t, waitTime), u, "new-pw-"+u); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The refusal etcd gives: a revoked permission is denied; a deleted
	// user's or changed password's token is dropped, and clientv3's new
	// authentication fails (3.4, 3.7).
	wantSel, wantEl := selector.ErrPermissionDenied, election.ErrPermissionDenied
	if how != revokePermission {
		wantSel, wantEl = selector.ErrAuthFailed, election.ErrAuthFailed
	}

	if checked {
		for _, m := range members {
			ended(t, m, taken, endTime, wantSel)
		}
		if err := e.waitRun(t, taken, endTime); !errors.Is(err, wantEl) {
			t.Fatalf("e's Run = %v, want %v", err, wantEl)
		}
		if e.IsLeader() {
			t.Errorf("e still leads after its Run returned")
		}
		return
	}

	// etcd does not check keep-alives: nothing happens for holdTime.
	quiet(t, members, e, holdTime)
	for _, m := range members {
		if err := m.Err(); err != nil || m.State() == selector.Offline {
			t.Fatalf("%s after %v without permission: state %v, Err %v; want registered", m.ID(), holdTime, m.State(), err)
		}
	}
	if !a.IsMaster() || !e.IsLeader() {
		t.Fatalf("after %v without permission: a master %v, e leading %v; want both", holdTime, a.IsMaster(), e.IsLeader())
	}
	// Their keys are there after three TTLs: etcd renewed their leases.
	present(t, srv.root, prefix+"/a", prefix+"/b", prefix+"/c")
	if n := keys(t, srv.root, eprefix+"/"); n != 1 {
		t.Fatalf("%d keys under %s/, want e's", n, eprefix)
	}
	t.Logf("etcd %s: members and candidate stayed registered %v after %s, their leases renewed",
		srv.version, time.Since(taken).Round(100*time.Millisecond), how)

	// A Proclaim is a write that etcd checks: refused, it ends e's Run.
	asked := time.Now()
	perr := e.Proclaim(ctxFor(t, waitTime), "e2")
	if !errors.Is(perr, wantEl) {
		t.Fatalf("Proclaim = %v, want %v", perr, wantEl)
	}
	if err := e.waitRun(t, asked, waitTime); !errors.Is(err, wantEl) {
		t.Fatalf("e's Run after the refused Proclaim = %v, want %v", err, wantEl)
	}

	// So is a Yield: refused, it ends a.
	asked = time.Now()
	if err := a.Yield(ctxFor(t, waitTime)); !errors.Is(err, wantSel) {
		t.Fatalf("a.Yield = %v, want %v", err, wantSel)
	}
	ended(t, a, asked, waitTime, wantSel)
	// a's lease cannot be revoked without permission: it expires, and b,
	// without permission, becomes master, as a watch tells it.
	waitFor(t, b, events.ChangeToMaster, testTTL+waitTime)
	waitFor(t, c, events.MasterChange, waitTime)
	if !b.IsMaster() || b.Err() != nil {
		t.Fatalf("b: master %v, Err %v; want master", b.IsMaster(), b.Err())
	}

	// c registers again when its key goes: the registration is refused,
	// and ends c.
	asked = time.Now()
	if _, err := srv.root.Delete(ctxFor(t, waitTime), prefix+"/c"); err != nil {
		t.Fatal(err)
	}
	ended(t, c, asked, waitTime, wantSel)
	// b makes no request etcd checks: it stays master.
	if !b.IsMaster() || b.Err() != nil {
		t.Fatalf("b after c ended: master %v, Err %v; want master", b.IsMaster(), b.Err())
	}
	t.Logf("etcd %s: after %s, b still master %v later", srv.version, how, time.Since(taken).Round(100*time.Millisecond))
}

// join registers a member with TTL testTTL, closed when t ends.
func join(t *testing.T, cli *clientv3.Client, prefix, id string) *selector.Selector {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := selector.New(ctx, cli, prefix, id, selector.WithTTL(testTTL), selector.WithValue("v-"+id))
	if err != nil {
		t.Fatalf("New(%q): %v", id, err)
	}
	t.Cleanup(func() {
		s.Close()
		timer := time.NewTimer(waitTime)
		defer timer.Stop()
		for {
			select {
			case _, ok := <-s.Events():
				if !ok {
					return
				}
			case <-timer.C:
				t.Errorf("%s: events not closed %v after Close", id, waitTime)
				return
			}
		}
	})
	return s
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// expect waits waitTime for s's next event, which must be of type typ.
func expect(t *testing.T, s *selector.Selector, typ events.Type) events.Event {
	t.Helper()
	select {
	case ev, ok := <-s.Events():
		if !ok {
			t.Fatalf("%s: events closed (Err %v), want %v", s.ID(), s.Err(), typ)
		}
		if ev.Type != typ {
			t.Fatalf("%s: got %v, want %v", s.ID(), ev, typ)
		}
		return ev
	case <-time.After(waitTime):
		t.Fatalf("%s: no event within %v, want %v", s.ID(), waitTime, typ)
	}
	return events.Event{}
}

// waitFor reads s's events until one of type typ, within d.
func waitFor(t *testing.T, s *selector.Selector, typ events.Type, d time.Duration) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				t.Fatalf("%s: events closed (Err %v), want %v", s.ID(), s.Err(), typ)
			}
			if ev.Type == typ {
				return
			}
		case <-timer.C:
			t.Fatalf("%s: no %v within %v", s.ID(), typ, d)
		}
	}
}

// seesAll reads m's events until one whose view has n members.
func seesAll(t *testing.T, m *selector.Selector, n int) {
	t.Helper()
	timer := time.NewTimer(waitTime)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-m.Events():
			if !ok {
				t.Fatalf("%s: events closed (Err %v) before it saw %d members", m.ID(), m.Err(), n)
			}
			if len(ev.View.IDs()) == n {
				return
			}
		case <-timer.C:
			t.Fatalf("%s: no view of %d members within %v: %v", m.ID(), n, waitTime, m.View().IDs())
		}
	}
}

// ended checks that m goes OFFLINE and its events close within d of since,
// with Err wrapping want.
func ended(t *testing.T, m *selector.Selector, since time.Time, d time.Duration, want error) {
	t.Helper()
	timer := time.NewTimer(time.Until(since.Add(d)))
	defer timer.Stop()
	offline := false
	for {
		select {
		case ev, ok := <-m.Events():
			if ok {
				offline = ev.Type == events.Offline
				continue
			}
			if !offline {
				t.Errorf("%s: events closed without Offline last", m.ID())
			}
			if err := m.Err(); !errors.Is(err, want) {
				t.Fatalf("%s: Err = %v, want %v", m.ID(), err, want)
			}
			t.Logf("%s ended %v after: %v", m.ID(), time.Since(since).Round(10*time.Millisecond), m.Err())
			return
		case <-timer.C:
			t.Fatalf("%s: not ended within %v: state %v, Err %v", m.ID(), d, m.State(), m.Err())
		}
	}
}

// quiet checks that no member has an event and e's Run goes on for d.
func quiet(t *testing.T, ms []*selector.Selector, e *candidate, d time.Duration) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev := <-ms[0].Events():
			t.Fatalf("a: %v (Err %v) while its keep-alives go on", ev, ms[0].Err())
		case ev := <-ms[1].Events():
			t.Fatalf("b: %v (Err %v) while its keep-alives go on", ev, ms[1].Err())
		case ev := <-ms[2].Events():
			t.Fatalf("c: %v (Err %v) while its keep-alives go on", ev, ms[2].Err())
		case err := <-e.done:
			t.Fatalf("e's Run returned %v while its keep-alives go on", err)
		case <-e.stopped:
			t.Fatalf("e stopped leading while its keep-alives go on")
		case <-timer.C:
			return
		}
	}
}

// present checks that each key is in etcd.
func present(t *testing.T, cli *clientv3.Client, ks ...string) {
	t.Helper()
	for _, k := range ks {
		resp, err := cli.Get(ctxFor(t, waitTime), k)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) != 1 || resp.Kvs[0].Lease == 0 {
			t.Fatalf("key %s: %v, want it there on its lease", k, resp.Kvs)
		}
	}
}

// keys counts the keys under prefix.
func keys(t *testing.T, cli *clientv3.Client, prefix string) int64 {
	t.Helper()
	resp, err := cli.Get(ctxFor(t, waitTime), prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}

// candidate is an election candidate whose Run goes on in the background.
type candidate struct {
	*election.Election
	leading, stopped chan struct{} // closed on OnStartedLeading, OnStoppedLeading
	done             chan error    // Run's result
}

func startCandidate(t *testing.T, cli *clientv3.Client, prefix string) *candidate {
	t.Helper()
	el, err := election.New(cli, prefix, election.WithTTL(testTTL), election.WithValue("e"))
	if err != nil {
		t.Fatal(err)
	}
	c := &candidate{Election: el, leading: make(chan struct{}), stopped: make(chan struct{}), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	var started, stopped sync.Once
	go func() {
		c.done <- el.Run(ctx, election.Callbacks{
			OnStartedLeading: func(ctx context.Context) {
				started.Do(func() { close(c.leading) })
				<-ctx.Done()
			},
			OnStoppedLeading: func() {
				stopped.Do(func() { close(c.stopped) })
			},
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-c.done:
		case <-time.After(waitTime):
			t.Errorf("e's Run still going %v after its context ended", waitTime)
		}
	})
	return c
}

func (c *candidate) waitLeading(t *testing.T) {
	t.Helper()
	select {
	case <-c.leading:
	case err := <-c.done:
		t.Fatalf("e's Run returned %v before leading", err)
	case <-time.After(waitTime):
		t.Fatalf("e not leading within %v", waitTime)
	}
}

// waitRun waits until d after since for Run to return, and returns its
// error; it puts the error back for the clean-up.
func (c *candidate) waitRun(t *testing.T, since time.Time, d time.Duration) error {
	t.Helper()
	select {
	case err := <-c.done:
		c.done <- err
		t.Logf("e's Run returned %v after: %v", time.Since(since).Round(10*time.Millisecond), err)
		return err
	case <-time.After(time.Until(since.Add(d))):
		t.Fatalf("e's Run still going %v after", d)
	}
	return nil
}

package selector

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/internal/member"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/connectivity"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/internal/lease"
	"github.com/seed764c596d/mastership/internal/logtest"
	"github.com/seed764c596d/mastership/internal/refusal/tlstest"
)

// refusalTime bounds how long New may take to report a refusal: one
// registration attempt, with no retry.
const refusalTime = 5 * time.Second

// handshakeTime bounds how long New and Run may take to report a failed TLS
// handshake: gRPC's first connection attempts, with no retry.
const handshakeTime = 3 * time.Second

// TestSecure runs members against an etcd with client TLS and auth, whose
// users may read and write only their own prefix.
func TestSecure(t *testing.T) {
	sec := etcdtest.StartSecure(t)

	t.Run("prefix user works fully", func(t *testing.T) {
		const prefix = "/secure/works"
		sec.AddPrefixUser(t, "works", "pw-works", prefix)
		cliA := sec.ClientAs(t, "works", "pw-works")
		cliB := sec.ClientAs(t, "works", "pw-works")
		a := join(t, cliA, prefix, "a")
		expect(t, a, events.InitMaster)
		b := join(t, cliB, prefix, "b")
		expect(t, b, events.InitSlave, "a")
		expect(t, a, events.SlaveAdd, "b")

		// Keep-alives are allowed: both stay registered past two TTLs, with
		// no event at all.
		select {
		case ev := <-a.Events():
			t.Fatalf("a: unexpected %v while keeping its lease alive", ev)
		case ev := <-b.Events():
			t.Fatalf("b: unexpected %v while keeping its lease alive", ev)
		case <-time.After(2 * testTTL):
		}
		if !a.IsMaster() || a.Err() != nil || b.Err() != nil {
			t.Fatalf("after 2 TTLs: a master %v, a.Err %v, b.Err %v", a.IsMaster(), a.Err(), b.Err())
		}

		// Yield deletes and re-creates a's key.
		if err := a.Yield(ctxFor(t, waitTime)); err != nil {
			t.Fatalf("Yield: %v", err)
		}
		// b may see a's key go before it comes back: ChangeToMaster, then
		// SlaveAdd.
		waitFor(t, b, events.ChangeToMaster, waitTime)
		expect(t, a, events.ChangeToSlave, "b")
		expect(t, a, events.SlaveDel, "b") // b was a slave, and is one no more
		eventually(t, "b's view [b a]", waitTime, func() bool { return strings.Join(b.View().IDs(), " ") == "b a" })

		// Close revokes the lease, which takes write permission on the key:
		// a takes over at once, not after the TTL.
		closed := time.Now()
		if err := b.Close(); err != nil {
			t.Fatalf("b.Close: %v", err)
		}
		ev := expect(t, a, events.ChangeToMaster)
		if d := ev.Time.Sub(closed); d > testTTL/2 {
			t.Errorf("a took over %v after b's Close, want well under the TTL", d)
		}
		if b.Err() != nil {
			t.Errorf("b.Err after Close = %v, want nil", b.Err())
		}
	})

	t.Run("user without a role is refused at start", func(t *testing.T) {
		sec.AddUser(t, "norole", "pw-norole")
		cli := sec.ClientAs(t, "norole", "pw-norole")
		start := time.Now()
		_, err := New(ctxFor(t, 30*time.Second), cli, "/secure/norole", "a", WithTTL(testTTL))
		if d := time.Since(start); d > refusalTime {
			t.Errorf("New took %v to report the refusal, want under %v", d, refusalTime)
		}
		if !errors.Is(err, ErrPermissionDenied) || !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Fatalf("New = %v, want ErrPermissionDenied wrapping etcd's", err)
		}
		for _, want := range []string{`read of range ["/secure/norole/", "/secure/norole0")`, `"norole"`, "readwrite"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %s", err, want)
			}
		}
	})

	t.Run("read-only user is refused the write", func(t *testing.T) {
		const prefix = "/secure/readonly"
		sec.AddUser(t, "reader", "pw-reader")
		root := sec.Root(t)
		ctx := ctxFor(t, waitTime)
		key, end := etcdtest.PrefixRange(prefix)
		if _, err := root.RoleAdd(ctx, "reader-role"); err != nil {
			t.Fatal(err)
		}
		if _, err := root.RoleGrantPermission(ctx, "reader-role", key, end, clientv3.PermissionType(clientv3.PermRead)); err != nil {
			t.Fatal(err)
		}
		if _, err := root.UserGrantRole(ctx, "reader", "reader-role"); err != nil {
			t.Fatal(err)
		}
		cli := sec.ClientAs(t, "reader", "pw-reader")
		_, err := New(ctxFor(t, 30*time.Second), cli, prefix, "a", WithTTL(testTTL))
		if !errors.Is(err, ErrPermissionDenied) || !strings.Contains(err.Error(), `write of key "/secure/readonly/a"`) {
			t.Fatalf("New = %v, want ErrPermissionDenied naming the write of the key", err)
		}
	})

	t.Run("user who may write its key but not read the group is refused at start", func(t *testing.T) {
		const prefix = "/secure/keyonly"
		sec.AddUser(t, "keyonly", "pw-keyonly")
		root := sec.Root(t)
		ctx := ctxFor(t, waitTime)
		if _, err := root.RoleAdd(ctx, "keyonly-role"); err != nil {
			t.Fatal(err)
		}
		// The member's key alone: the registration's transaction passes,
		// and the read of the group is what etcd refuses.
		if _, err := root.RoleGrantPermission(ctx, "keyonly-role", prefix+"/a", "", clientv3.PermissionType(clientv3.PermReadWrite)); err != nil {
			t.Fatal(err)
		}
		if _, err := root.UserGrantRole(ctx, "keyonly", "keyonly-role"); err != nil {
			t.Fatal(err)
		}
		cli := sec.ClientAs(t, "keyonly", "pw-keyonly")
		start := time.Now()
		_, err := New(ctxFor(t, 30*time.Second), cli, prefix, "a", WithTTL(testTTL))
		if d := time.Since(start); d > refusalTime {
			t.Errorf("New took %v to report the refusal, want under %v", d, refusalTime)
		}
		if !errors.Is(err, ErrPermissionDenied) || !strings.Contains(err.Error(), `read or watch range ["/secure/keyonly/", "/secure/keyonly0")`) {
			t.Fatalf("New = %v, want ErrPermissionDenied naming the read of the group's range", err)
		}
		// The member gave its registration back.
		resp, err := root.Get(ctx, prefix+"/a")
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) != 0 {
			t.Errorf("the refused member's key is still there: %v", resp.Kvs)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		sec.AddPrefixUser(t, "changed", "pw-old", "/secure/changed")
		cfg, err := sec.Config("changed", "wrong")
		if err != nil {
			t.Fatal(err)
		}
		// clientv3 authenticates while connecting.
		if cli, err := clientv3.New(cfg); !errors.Is(err, rpctypes.ErrAuthFailed) {
			if cli != nil {
				cli.Close()
			}
			t.Fatalf("clientv3.New with a wrong password = %v, want %v", err, rpctypes.ErrAuthFailed)
		}
		// A client whose password was right when it connected fails in New
		// once the password changes: etcd drops the user's tokens, and
		// clientv3's new authentication fails.
		cli := sec.ClientAs(t, "changed", "pw-old")
		if _, err := sec.Root(t).UserChangePassword(ctxFor(t, waitTime), "changed", "pw-new"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = New(ctxFor(t, 30*time.Second), cli, "/secure/changed", "a", WithTTL(testTTL))
		if d := time.Since(start); d > refusalTime {
			t.Errorf("New took %v to report the refusal, want under %v", d, refusalTime)
		}
		if !errors.Is(err, ErrAuthFailed) || !errors.Is(err, rpctypes.ErrAuthFailed) || !strings.Contains(err.Error(), `"changed"`) {
			t.Fatalf("New = %v, want ErrAuthFailed wrapping etcd's, naming the user", err)
		}
	})

	t.Run("TLS handshake fails", func(t *testing.T) {
		// Each fails at once, naming gRPC's reason, rather than when
		// New's context ends with nothing but the deadline to say.
		for _, c := range tlstest.Cases(t, sec, shared) {
			t.Run(c.Name, func(t *testing.T) {
				cli := tlstest.Client(t, c)
				start := time.Now()
				s, err := New(ctxFor(t, 30*time.Second), cli, "/secure/tls", "a", WithTTL(testTTL))
				if err == nil {
					shutdown(t, s)
					t.Fatal("New succeeded")
				}
				if d := time.Since(start); d > handshakeTime {
					t.Errorf("New took %v to fail, want under %v", d, handshakeTime)
				}
				if !errors.Is(err, ErrTLSHandshake) || !strings.Contains(err.Error(), c.Reason) || errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("New = %v, want ErrTLSHandshake saying %q", err, c.Reason)
				}
			})
		}
	})

	t.Run("user deleted", func(t *testing.T) {
		// A deleted user fails authentication: the error says so, and
		// says nothing of permissions.
		sec.AddPrefixUser(t, "deleted", "pw-deleted", "/secure/deleted")
		cli := sec.ClientAs(t, "deleted", "pw-deleted")
		if _, err := sec.Root(t).UserDelete(ctxFor(t, waitTime), "deleted"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err := New(ctxFor(t, 30*time.Second), cli, "/secure/deleted", "a", WithTTL(testTTL))
		if d := time.Since(start); d > refusalTime {
			t.Errorf("New took %v to report the refusal, want under %v", d, refusalTime)
		}
		if !errors.Is(err, ErrAuthFailed) || !errors.Is(err, rpctypes.ErrAuthFailed) || !strings.Contains(err.Error(), `"deleted"`) {
			t.Fatalf("New = %v, want ErrAuthFailed naming the user", err)
		}
		if errors.Is(err, ErrPermissionDenied) || strings.Contains(err.Error(), "permit") {
			t.Fatalf("New = %v: an authentication failure reported as a permission", err)
		}
	})

	t.Run("permission revoked while running", func(t *testing.T) {
		const prefix = "/secure/revoked"
		sec.AddPrefixUser(t, "revoked", "pw-revoked", prefix)
		a := join(t, sec.ClientAs(t, "revoked", "pw-revoked"), prefix, "a")
		expect(t, a, events.InitMaster)
		master := whenDone(a.MasterContext())
		sec.RevokePrefix(t, "revoked", prefix)
		// The next keep-alive is refused: the member ends.
		expectWithin(t, a, waitTime, events.Offline)
		master.wait(t, "a's master context", time.Second)
		drainClosed(t, a)
		err := a.Err()
		// The keep-alive (write of the key) or the watch (read of the
		// range) may be refused first; either names what it lacked.
		if !errors.Is(err, ErrPermissionDenied) || !errors.Is(err, rpctypes.ErrPermissionDenied) ||
			!strings.Contains(err.Error(), `key "/secure/revoked/a"`) && !strings.Contains(err.Error(), `range ["/secure/revoked/", "/secure/revoked0")`) {
			t.Fatalf("Err = %v, want ErrPermissionDenied naming the key or the range", err)
		}
		if a.State() != Offline {
			t.Errorf("State = %v, want OFFLINE", a.State())
		}
		if err := a.Yield(ctxFor(t, waitTime)); !errors.Is(err, ErrClosed) && !errors.Is(err, ErrNotMaster) {
			t.Errorf("Yield after the end = %v, want ErrClosed or ErrNotMaster", err)
		}
	})

	t.Run("invalidated token is no refusal", func(t *testing.T) {
		const prefix = "/secure/token"
		sec.AddPrefixUser(t, "token", "pw-token", prefix)
		var logs logtest.Recorder
		a := join(t, sec.ClientAs(t, "token", "pw-token"), prefix, "a", WithLogger(logs.Logger()))
		expect(t, a, events.InitMaster)
		// Setting the same password again drops the user's tokens: the
		// next keep-alive gets "invalid auth token", clientv3
		// authenticates again, and the member carries on.
		if _, err := sec.Root(t).UserChangePassword(ctxFor(t, waitTime), "token", "pw-token"); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-a.Events():
			t.Fatalf("a: %v after its token was invalidated, want nothing", ev)
		case <-time.After(2 * testTTL):
		}
		if !a.IsMaster() || a.Err() != nil {
			t.Fatalf("after the token was invalidated: master %v, Err %v", a.IsMaster(), a.Err())
		}
		// The keep-alive did meet the invalid token, and got over it.
		invalid := false
		for _, rec := range logs.Find("keep-alive stream failed; retrying") {
			if err, ok := rec.Attrs["err"].(error); ok && strings.Contains(err.Error(), rpctypes.ErrGRPCInvalidAuthToken.Error()) {
				invalid = true
			}
		}
		if !invalid {
			t.Errorf("no keep-alive met the invalid token: the test did not test it")
		}
	})

	t.Run("password changed while running", func(t *testing.T) {
		const prefix = "/secure/repassword"
		sec.AddPrefixUser(t, "repassword", "pw-1", prefix)
		a := join(t, sec.ClientAs(t, "repassword", "pw-1"), prefix, "a")
		expect(t, a, events.InitMaster)
		if _, err := sec.Root(t).UserChangePassword(ctxFor(t, waitTime), "repassword", "pw-2"); err != nil {
			t.Fatal(err)
		}
		expectWithin(t, a, waitTime, events.Offline)
		drainClosed(t, a)
		if err := a.Err(); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("Err = %v, want ErrAuthFailed", err)
		}
	})
}

// drainClosed checks that s's events end, with nothing but Offline left,
// without Close: the member ended by itself.
func drainClosed(t *testing.T, s *Selector) {
	t.Helper()
	timer := time.NewTimer(waitTime)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				if s.Err() == nil {
					t.Fatalf("%s: events closed with Err nil", s.ID())
				}
				return
			}
			t.Fatalf("%s: %v after Offline, want the channel closed", s.ID(), ev)
		case <-timer.C:
			t.Fatalf("%s: events not closed within %v after a refusal", s.ID(), waitTime)
		}
	}
}

// TestNoUserSaysOneThing checks that a registration refused because the
// client gives no user, with etcd's authentication on, is reported as an
// authentication failure only, not also as a permission not granted. etcd
// 3.4 grants a lease to a client without a user and refuses its first
// transaction; later versions refuse the grant, so the transaction is made
// here on a lease granted by root.
func TestNoUserSaysOneThing(t *testing.T) {
	t.Parallel()
	c := etcdtest.Start(t)
	anon := c.Client(t)
	ctx := ctxFor(t, waitTime)
	if _, err := anon.UserAdd(ctx, "root", "pw-root"); err != nil {
		t.Fatal(err)
	}
	if _, err := anon.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := anon.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	root, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), Username: "root", Password: "pw-root", DialTimeout: waitTime, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	l, err := lease.Grant(ctx, root, testTTL, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Stop)

	s := &Selector{cli: anon, prefix: "/nouser/", id: "a", key: "/nouser/a", opts: options{Config: member.Config{TTL: testTTL}}, log: slog.New(slog.DiscardHandler)}
	_, err = s.create(ctx, l, 0)
	if !errors.Is(err, ErrAuthFailed) || !errors.Is(err, rpctypes.ErrUserEmpty) || !strings.Contains(err.Error(), "gives none") {
		t.Fatalf("create = %v, want ErrAuthFailed saying the client gives no user", err)
	}
	if errors.Is(err, ErrPermissionDenied) || strings.Contains(err.Error(), "permit") {
		t.Fatalf("create = %v: a missing user also reported as a permission not granted", err)
	}
}

// TestNewWaitsForEtcdStarting checks that a refused connection, as while
// etcd starts, is no handshake failure: New retries until etcd is up.
func TestNewWaitsForEtcdStarting(t *testing.T) {
	t.Parallel()
	c := etcdtest.Start(t)
	m := c.Members[0]
	m.Stop()
	cli := c.Client(t)
	done := make(chan error, 1)
	go func() {
		s, err := New(ctxFor(t, 30*time.Second), cli, prefixOf(t), "a", WithTTL(testTTL))
		if err == nil {
			t.Cleanup(func() { shutdown(t, s) })
		}
		done <- err
	}()
	// Wait for the connection to fail, as it does against a stopped etcd.
	conn := cli.ActiveConnection()
	ctx := ctxFor(t, waitTime)
	for st := conn.GetState(); st != connectivity.TransientFailure; st = conn.GetState() {
		if !conn.WaitForStateChange(ctx, st) {
			t.Fatalf("connection still %v after %v against a stopped etcd", st, waitTime)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("New = %v while etcd is down, want it to wait", err)
	default:
	}
	if err := m.Restart(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("New = %v, want it registered once etcd is up", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("New not done 25s after etcd started")
	}
}

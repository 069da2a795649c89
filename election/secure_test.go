package election

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/internal/refusal/tlstest"
)

// refusalTime bounds how long Run may take to report a refusal at start.
const refusalTime = 5 * time.Second

// handshakeTime bounds how long Run may take to report a failed TLS
// handshake: gRPC's first connection attempts, with no retry.
const handshakeTime = 3 * time.Second

// TestSecure runs candidates against an etcd with client TLS and auth, whose
// users may read and write only their own prefix.
func TestSecure(t *testing.T) {
	sec := etcdtest.StartSecure(t)

	t.Run("prefix user works fully", func(t *testing.T) {
		const prefix = "/secure/works"
		sec.AddPrefixUser(t, "works", "pw-works", prefix)
		cliA := sec.ClientAs(t, "works", "pw-works")
		cliB := sec.ClientAs(t, "works", "pw-works")
		r := newRecorder()
		a := start(t, r, cliA, prefix, "a")
		r.waitFor(t, 0, waitTime, "a leads", is("a", started))
		b := start(t, r, cliB, prefix, "b")
		r.waitFor(t, 0, waitTime, "b sees a lead", reports("b", "a"))
		if err := a.Proclaim(ctxFor(t, waitTime), "a2"); err != nil {
			t.Fatalf("Proclaim: %v", err)
		}
		r.waitFor(t, 0, waitTime, "b sees a's new value", reports("b", "a2"))
		// Resign deletes the key: b leads at once.
		m := r.mark()
		if err := a.Resign(ctxFor(t, waitTime)); err != nil {
			t.Fatalf("Resign: %v", err)
		}
		r.waitFor(t, m, testTTL/2, "b leads after a resigns", is("b", started))
		// Ending Run revokes the lease (write permission on the key):
		// a leads at once after b's Run ends.
		m = r.mark()
		b.stop()
		r.waitFor(t, m, testTTL/2, "a leads after b's Run ends", is("a", started))
	})

	t.Run("user without a role is refused at start", func(t *testing.T) {
		sec.AddUser(t, "norole", "pw-norole")
		cli := sec.ClientAs(t, "norole", "pw-norole")
		e, err := New(cli, "/secure/norole", WithTTL(testTTL))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = e.Run(ctxFor(t, 30*time.Second), Callbacks{OnStartedLeading: func(context.Context) { t.Error("a user without a role leads") }})
		if d := time.Since(start); d > refusalTime {
			t.Errorf("Run took %v to report the refusal, want under %v", d, refusalTime)
		}
		if !errors.Is(err, ErrPermissionDenied) || !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Fatalf("Run = %v, want ErrPermissionDenied wrapping etcd's", err)
		}
		for _, want := range []string{`["/secure/norole/", "/secure/norole0")`, `"norole"`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %s", err, want)
			}
		}
		// Observe cannot read the election: its channel closes.
		ch := e.Observe(ctxFor(t, 30*time.Second))
		select {
		case l, ok := <-ch:
			if ok {
				t.Fatalf("Observe delivered %+v to a user without a role", l)
			}
		case <-time.After(refusalTime):
			t.Fatalf("Observe's channel still open %v after the refusal", refusalTime)
		}
	})

	t.Run("TLS handshake fails", func(t *testing.T) {
		// Each ends Run at once, naming gRPC's reason, rather than retry
		// with nothing said until its context ends.
		for _, c := range tlstest.Cases(t, sec, shared) {
			t.Run(c.Name, func(t *testing.T) {
				cli := tlstest.Client(t, c)
				e, err := New(cli, "/secure/tls", WithTTL(testTTL))
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				err = e.Run(ctxFor(t, 30*time.Second), Callbacks{OnStartedLeading: func(context.Context) { t.Error("leads without a connection") }})
				if d := time.Since(start); d > handshakeTime {
					t.Errorf("Run took %v to fail, want under %v", d, handshakeTime)
				}
				if !errors.Is(err, ErrTLSHandshake) || !strings.Contains(err.Error(), c.Reason) {
					t.Fatalf("Run = %v, want ErrTLSHandshake saying %q", err, c.Reason)
				}
			})
		}
	})

	t.Run("permission revoked while leading", func(t *testing.T) {
		const prefix = "/secure/revoked"
		sec.AddPrefixUser(t, "revoked", "pw-revoked", prefix)
		cli := sec.ClientAs(t, "revoked", "pw-revoked")
		r := newRecorder()
		e, err := New(cli, prefix, WithTTL(testTTL), WithValue("a"))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- e.Run(context.Background(), r.callbacks("a")) }()
		r.waitFor(t, 0, waitTime, "a leads", is("a", started))
		m := r.mark()
		sec.RevokePrefix(t, "revoked", prefix)
		select {
		case err := <-done:
			if !errors.Is(err, ErrPermissionDenied) || !errors.Is(err, rpctypes.ErrPermissionDenied) {
				t.Fatalf("Run = %v, want ErrPermissionDenied", err)
			}
		case <-time.After(waitTime):
			t.Fatalf("Run still going %v after its permission was revoked", waitTime)
		}
		r.waitFor(t, m, time.Second, "leadership context cancelled", is("a", ctxDone))
		r.waitFor(t, m, time.Second, "OnStoppedLeading", is("a", stopped))
		if e.IsLeader() {
			t.Error("IsLeader after Run returned")
		}
	})
}

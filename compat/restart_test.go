//go:build etcdcompat

package compat

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/etcdproc"
	"github.com/seed764c596d/mastership/internal/history"
	"github.com/seed764c596d/mastership/selector"
)

// staleTokenStuck reports whether, on etcd of version v with simple tokens,
// a client that logs in with a password can never log in again once etcd
// restarts. A simple token lives in the server's memory only, so a restart
// makes every token invalid. etcd 3.4 checks the token a request carries
// even on Authenticate (3.5 stopped, etcd pull 12165), and etcd's Go client
// from 3.5 on sends its stale token along when it logs in again (3.4's
// client cleared it first, etcd pull 12549, for exactly this): every login
// is refused as "invalid auth token", and the client retries it until each
// call's deadline. A new client logs in at once. JWT tokens survive a
// restart (etcd checks their signature, not its memory), so do client
// certificates.
//
// Observed on Debian's 3.4.23 with this module's client (3.7): the member
// went OFFLINE at its safe deadline and, as a rule, never came back; every
// call of its client, Authenticate included, ran into its deadline, while
// etcd logged "invalid auth token" for the same token every 40 ms. In some
// runs one member came back as master by keep-alives alone, its client's
// token still refused (see authRestart).
func staleTokenStuck(v string) (bool, error) {
	if _, err := renewalChecksPermission(v); err != nil { // v's form
		return false, err
	}
	return minorOf(v) == 4, nil
}

// minorOf returns the minor version of a version renewalChecksPermission
// has accepted.
func minorOf(v string) int {
	n := 0
	for _, r := range v[2:] {
		if r < '0' || r > '9' {
			break
		}
		n = 10*n + int(r-'0')
	}
	return n
}

// TestAuthRestartProcess: members that log in with a password, on the etcd
// process of $MASTERSHIP_ETCD, while etcd restarts on its data. With JWT
// tokens, on every version, and with simple tokens from 3.5 on, the group
// comes back: one master, both members registered and agreeing. With simple
// tokens on 3.4 the members cannot log in again (staleTokenStuck): as a
// rule they go OFFLINE at their safe deadline and stay so, while a new
// client logs in; in some runs one of them keeps its lease, or is back as
// master, by keep-alives alone (see authRestart). Either way, never two
// masters, and a member left without a role said OFFLINE.
func TestAuthRestartProcess(t *testing.T) {
	bin := etcdproc.FromEnv(t)
	v, err := bin.Version()
	if err != nil {
		t.Fatal(err)
	}
	stuck, err := staleTokenStuck(v)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("etcd-"+v, func(t *testing.T) {
		t.Run("simple", func(t *testing.T) { authRestart(t, bin, nil, stuck) })
		t.Run("jwt", func(t *testing.T) { authRestart(t, bin, jwtArgs(t), false) })
	})
}

// jwtArgs returns the server flags for JWT tokens signed with a new RSA key.
func jwtArgs(t *testing.T) []string {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	priv := write("jwt.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
	pubPath := write("jwt.pub", "PUBLIC KEY", pub)
	return []string{"--auth-token", "jwt,pub-key=" + pubPath + ",priv-key=" + priv + ",sign-method=RS256,ttl=10m"}
}

func authRestart(t *testing.T, bin etcdproc.Binaries, args []string, stuck bool) {
	c := etcdproc.Start(t, bin, etcdproc.Options{Args: args})
	const rootPW = "root-pw"
	c.EnableAuth(t, rootPW)
	c.AddPrefixUser(t, rootPW, "svc", "svc-pw", "/grp")

	h := &history.History{}
	var wg sync.WaitGroup
	members := map[string]*selector.Selector{}
	clients := map[string]*clientv3.Client{}
	for _, id := range []string{"a", "b"} {
		clients[id] = c.Client(t, "svc", "svc-pw")
		members[id] = join(t, clients[id], "/grp", id)
	}
	// Each member's events go to the history as they come; the test reads
	// the history, and each member's state, rather than its events.
	stop := make(chan struct{})
	for id, s := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case ev, ok := <-s.Events():
					if !ok {
						return
					}
					h.Add(id, history.FromEvent(id, ev))
				case <-stop:
					return
				}
			}
		}()
	}
	defer func() {
		close(stop)
		wg.Wait()
		for id, s := range members {
			if !s.IsMaster() {
				continue
			}
			// Still master when the test ends: its mastership ends now.
			h.EndMastership(id, time.Now())
		}
		if vs := history.Check(h, history.Options{TTL: testTTL}); len(vs) > 0 {
			t.Errorf("violations:\n%s\nhistory:\n%s", history.Format(vs), h)
		}
	}()
	waitUntil(t, waitTime, "a master, b slave", func() bool {
		return members["a"].IsMaster() && len(members["b"].View().IDs()) == 2
	})

	restarted := time.Now()
	if err := c.Members[0].Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	if err := c.StartMember(c.Members[0]); err != nil {
		t.Fatal(err)
	}
	t.Logf("etcd stopped in %v and serving again %v later", stopped.Sub(restarted).Round(time.Millisecond), time.Since(stopped).Round(time.Millisecond))

	if !stuck {
		// Each member's own client logs in again and reads: what the
		// stuck case never does. A renewed lease proves nothing here, as
		// etcd 3.4 and early 3.5 do not check keep-alives against the
		// user.
		for id, cli := range clients {
			ctx, cancel := context.WithTimeout(context.Background(), waitTime)
			_, err := cli.Get(ctx, "/grp/"+id)
			cancel()
			if err != nil {
				t.Fatalf("%s's client after the restart: %v", id, err)
			}
		}
		// Back, and still so once every safe deadline from before the
		// restart has passed (a TTL after etcd stopped): both registered,
		// a master (its registration survived, or both registered anew),
		// and both agree.
		back := func() bool {
			a, b := members["a"].View(), members["b"].View()
			return len(a.IDs()) == 2 && len(b.IDs()) == 2 &&
				a.Master().ID == b.Master().ID && members[a.Master().ID].IsMaster()
		}
		if wait := time.Until(stopped.Add(testTTL)); wait > 0 {
			time.Sleep(wait) // the deadlines' own length, not a synchronisation
		}
		waitUntil(t, 5*testTTL+waitTime, "the group back, agreeing", back)
		return
	}
	// Stuck, as a rule: both end their mastership and registration at
	// their safe deadline, and stay so, while a new client logs in and
	// reads. Not always: in some runs here (about one in five on Debian's
	// 3.4.23 at the end of 2026, none in 27 runs earlier that day) a member
	// whose lease survived the restart keeps it, or is back as master within
	// a second or two, by keep-alives alone, which 3.4 does not check
	// against the user, while its client still cannot read and the other
	// member stays OFFLINE; a member may even never go OFFLINE, since etcd
	// was back before its deadline. Which happens is decided inside clientv3
	// and etcd, not by this module; docs/versions.md says so. What holds
	// either way, and is checked here at every poll over holdTime, and by
	// the history's check deferred above: never two masters; and a member
	// that ends up without a role said so with OFFLINE.
	fresh := c.Client(t, "svc", "svc-pw")
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	if _, err := fresh.Get(ctx, "/grp/a"); err != nil {
		t.Fatalf("a new client cannot read either: %v", err)
	}
	logged := map[string]bool{}
	for until := time.Now().Add(holdTime); time.Now().Before(until); {
		masters := 0
		for id, s := range members {
			if s.IsMaster() {
				masters++
			}
			if s.State() != selector.Refresh && !logged[id] {
				logged[id] = true
				t.Logf("%s offline %v after the restart", id, time.Since(restarted).Round(time.Millisecond))
			}
		}
		if masters > 1 {
			t.Fatalf("two masters at once after the restart")
		}
		time.Sleep(100 * time.Millisecond) // polling, bounded by holdTime
	}
	for id, s := range members {
		n := s.Stats().Transitions[events.Offline]
		switch {
		case s.State() != selector.Refresh && n == 0:
			t.Errorf("%s has no role but reported no OFFLINE", id)
		case s.State() == selector.Refresh:
			t.Logf("%s registered at the end (master %v, %d OFFLINE before), its lease kept alive with its client's token refused",
				id, s.IsMaster(), n)
		}
	}
}

// waitUntil polls cond every 20ms until it holds, and fails t after d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond) // polling, bounded by d
	}
}

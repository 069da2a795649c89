package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/examples/internal/proctest"
	"github.com/seed764c596d/mastership/mastershiptest"
)

// testTTL is the candidates' TTL in these tests: etcd's smallest, with
// default settings, so that a cut leader is replaced soonest.
const testTTL = 2 * time.Second

// httpc asks the candidates; without keep-alives, it leaves no idle
// connection (and no goroutine) behind.
var httpc = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// reply is one answer of a candidate's endpoint.
type reply struct {
	code int
	body string
	a    answer // decoded, for /work
	// sent and got are when the request was sent and its answer read.
	sent, got time.Time
}

func ask(t *testing.T, u string) reply {
	t.Helper()
	r := reply{sent: time.Now()}
	resp, err := httpc.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	r.got, r.code, r.body = time.Now(), resp.StatusCode, string(b)
	if strings.HasSuffix(u, "/work") {
		if err := json.Unmarshal(b, &r.a); err != nil {
			t.Fatalf("GET %s: %d %q: %v", u, r.code, b, err)
		}
		if resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: Content-Type %q, want application/json", u, resp.Header.Get("Content-Type"))
		}
		if r.code == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
			t.Errorf("GET %s: 503 without Retry-After", u)
		}
	}
	return r
}

// group is candidates running in the test's process, each on a client of
// its own (behind its own fault proxy) and with its own HTTP server.
type group struct {
	t       *testing.T
	cluster *mastershiptest.Cluster
	cancel  context.CancelFunc
	ctx     context.Context
	wg      sync.WaitGroup
	led     chan string
	follows chan string
	out     *proctest.Buffer
	p       *printer
	cands   map[string]*candidate
	clients map[string]*mastershiptest.Client
}

func newGroup(t *testing.T) *group {
	g := &group{t: t, cluster: mastershiptest.NewCluster(t),
		led: make(chan string, 10), follows: make(chan string, 10), out: &proctest.Buffer{},
		cands: map[string]*candidate{}, clients: map[string]*mastershiptest.Client{}}
	g.p = &printer{out: g.out, start: time.Now()}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the candidates' story:\n%s", g.out.String())
		}
	})
	return g
}

// start starts the candidate name and waits until it leads (lead) or
// follows another.
func (g *group) start(name string, lead bool) *candidate {
	t := g.t
	cli := g.cluster.Client(t)
	// Registered after the client's clean-up, so run before it: the
	// candidates end, and their servers, before their clients close. A
	// client that was cut is closed first, since a candidate waits for
	// its etcd calls to end.
	t.Cleanup(func() {
		g.cancel()
		done := make(chan struct{})
		go func() { g.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			// A candidate cut from etcd waits for its calls: close
			// its client.
			for _, c := range g.clients {
				c.Close()
			}
			<-done
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCandidate(cli.Client, g.p, "/svc", name, "http://"+ln.Addr().String(), testTTL)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	g.cands[name], g.clients[name] = c, cli
	g.wg.Go(func() {
		if err := serve(g.ctx, ln, c.handler); err != nil {
			t.Errorf("%s: serve: %v", name, err)
		}
	})
	g.wg.Go(func() {
		// A client closed by the clean-up may end Run with an error.
		if err := c.run(g.ctx, g.led, g.follows); err != nil && g.ctx.Err() == nil {
			t.Errorf("%s: run: %v", name, err)
		}
	})
	ch := g.follows
	if lead {
		ch = g.led
	}
	select {
	case got := <-ch:
		if got != name {
			t.Fatalf("heard from %s, want %s", got, name)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s neither led nor followed within 10s", name)
	}
	// It may hear of the leader before its own session is in place.
	ctx, cancel := context.WithTimeout(g.ctx, 10*time.Second)
	defer cancel()
	if err := c.registered(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRoles: the leader serves /work (200, its name and epoch, a counter
// that counts), followers answer 503 naming the leader and its URL, and
// /healthz is 200 on the leader alone; /metrics shows the roles.
func TestRoles(t *testing.T) {
	g := newGroup(t)
	n1 := g.start("n1", true)
	n2 := g.start("n2", false)
	n3 := g.start("n3", false)

	r := ask(t, n1.url+"/work")
	if r.code != http.StatusOK || r.a.Error != "" || r.a.Self != "n1" || r.a.Leader == nil ||
		r.a.Leader.Name != "n1" || r.a.Leader.URL != n1.url || r.a.Leader.Epoch <= 0 || r.a.Count != 1 {
		t.Fatalf("n1's /work: %d %s, want 200 from n1 leading, request 1", r.code, r.body)
	}
	epoch := r.a.Leader.Epoch
	if r := ask(t, n1.url+"/work"); r.code != http.StatusOK || r.a.Count != 2 || r.a.Leader.Epoch != epoch {
		t.Errorf("n1's second /work: %d %s, want 200, request 2 of epoch %d", r.code, r.body, epoch)
	}
	for _, c := range []*candidate{n2, n3} {
		r := ask(t, c.url+"/work")
		if r.code != http.StatusServiceUnavailable || r.a.Self != c.name || r.a.Error != errNotLeader || r.a.Leader == nil ||
			r.a.Leader.Name != "n1" || r.a.Leader.URL != n1.url || r.a.Leader.Epoch != epoch || r.a.Count != 0 {
			t.Errorf("%s's /work: %d %s, want 503 naming n1 at %s, epoch %d", c.name, r.code, r.body, n1.url, epoch)
		}
	}
	for _, tc := range []struct {
		c    *candidate
		code int
		body string
	}{{n1, 200, "ok MASTER REFRESH\n"}, {n2, 503, "unavailable SLAVE REFRESH\n"}, {n3, 503, "unavailable SLAVE REFRESH\n"}} {
		if r := ask(t, tc.c.url+"/healthz"); r.code != tc.code || !strings.Contains(r.body, strings.Fields(tc.body)[1]) {
			t.Errorf("%s's /healthz: %d %q, want %d %q", tc.c.name, r.code, r.body, tc.code, tc.body)
		}
	}
	m := ask(t, n1.url+"/metrics")
	for _, want := range []string{
		`mastership_role{id="n1",prefix="/svc/",role="MASTER"} 1`,
		`election_example_work_requests_total{code="200",id="n1"} 2`,
	} {
		if m.code != http.StatusOK || !strings.Contains(m.body, want) {
			t.Errorf("n1's /metrics: %d, lacks %q:\n%s", m.code, want, m.body)
		}
	}
	if m := ask(t, n2.url+"/metrics"); !strings.Contains(m.body, `mastership_role{id="n2",prefix="/svc/",role="SLAVE"} 1`) ||
		!strings.Contains(m.body, `election_example_work_requests_total{code="503",id="n2"} 1`) {
		t.Errorf("n2's /metrics lacks its role or its 503:\n%s", m.body)
	}
	if r := ask(t, n1.url+"/nothing"); r.code != http.StatusNotFound {
		t.Errorf("GET /nothing: %d, want 404", r.code)
	}
}

// TestCutLeader cuts the leader's connection to etcd for longer than the
// TTL: its /work must answer 503 (no leader known) before the next
// candidate's answers 200, by the clock of the requests, and never 200 again;
// /healthz follows.
func TestCutLeader(t *testing.T) {
	g := newGroup(t)
	n1 := g.start("n1", true)
	n2 := g.start("n2", false)
	n3 := g.start("n3", false)
	first := ask(t, n1.url+"/work")
	if first.code != http.StatusOK {
		t.Fatalf("n1's /work before the cut: %d %s", first.code, first.body)
	}

	cut := time.Now()
	g.clients["n1"].Cut()
	var last200, first503, n2First200 reply
	deadline := time.Now().Add(4 * testTTL) // ample: the TTL, then etcd's expiry check
	for {
		if time.Now().After(deadline) {
			t.Fatalf("no takeover within %v of the cut; n1's last 200 at +%v, first 503 at +%v",
				4*testTTL, last200.got.Sub(cut), first503.got.Sub(cut))
		}
		r1 := ask(t, n1.url+"/work")
		switch {
		case r1.code == http.StatusOK:
			if !first503.got.IsZero() {
				t.Fatalf("n1 answered 200 at +%v, after its 503 at +%v: %s", r1.got.Sub(cut), first503.got.Sub(cut), r1.body)
			}
			last200 = r1
		case first503.got.IsZero():
			first503 = r1
		}
		r2 := ask(t, n2.url+"/work")
		if r2.code == http.StatusOK {
			n2First200 = r2
			break
		}
		time.Sleep(5 * time.Millisecond) // polling, bounded by deadline
	}
	t.Logf("after the cut: n1's last 200 answered by +%v, its first 503 by +%v; n2's first 200 asked at +%v (TTL %v)",
		last200.got.Sub(cut), first503.got.Sub(cut), n2First200.sent.Sub(cut), testTTL)
	if first503.got.IsZero() {
		t.Fatalf("n2 answered 200 (%s) before n1 answered 503", n2First200.body)
	}
	if !first503.got.Before(n2First200.sent) {
		t.Errorf("n1's first 503 answered at +%v, not before n2's first 200 was asked at +%v", first503.got.Sub(cut), n2First200.sent.Sub(cut))
	}
	if gap := n2First200.sent.Sub(first503.got); gap <= 0 {
		t.Errorf("gap between n1's 503 and n2's 200: %v", gap)
	}
	if !strings.HasPrefix(first503.a.Error, "no leader") || first503.a.Leader != nil {
		t.Errorf("cut n1's /work: %s, want \"no leader known\" and no leader named", first503.body)
	}
	if n2First200.a.Leader.Name != "n2" || n2First200.a.Leader.Epoch <= first.a.Leader.Epoch || n2First200.a.Count != 1 {
		t.Errorf("n2's first 200: %s, want n2 leading, request 1, epoch above n1's %d", n2First200.body, first.a.Leader.Epoch)
	}
	// After: n1 stays at 503, and so does its /healthz; n2's is 200.
	if r := ask(t, n1.url+"/work"); r.code != http.StatusServiceUnavailable {
		t.Errorf("cut n1's /work after the takeover: %d %s", r.code, r.body)
	}
	if r := ask(t, n1.url+"/healthz"); r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, "OFFLINE") {
		t.Errorf("cut n1's /healthz: %d %q, want 503 OFFLINE", r.code, r.body)
	}
	if r := ask(t, n2.url+"/healthz"); r.code != http.StatusOK {
		t.Errorf("n2's /healthz after the takeover: %d %q, want 200", r.code, r.body)
	}
	// n3 names the new leader once it has seen it (its own watch).
	deadline = time.Now().Add(5 * time.Second)
	for {
		r := ask(t, n3.url+"/work")
		if r.code == http.StatusServiceUnavailable && r.a.Leader != nil && r.a.Leader.Name == "n2" && r.a.Leader.URL == n2.url {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n3's /work: %d %s, want 503 naming n2 at %s", r.code, r.body, n2.url)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

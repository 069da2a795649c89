package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/election"
	"github.com/seed764c596d/mastership/health"
	"github.com/seed764c596d/mastership/metrics"
	"github.com/seed764c596d/mastership/status"
)

// value is what a candidate campaigns with, as JSON: its name and the URL
// where it serves, so that a follower can tell a client where the leader
// is. `etcdctl elect -l` shows it as it is.
type value struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// leaderInfo is the leader as a /work answer names it. A leader that is no
// candidate of this program (an `etcdctl elect` one, say), whose value is
// not a value, is given by its raw Value.
type leaderInfo struct {
	Name  string `json:"name,omitempty"`
	URL   string `json:"url,omitempty"`
	Value string `json:"value,omitempty"`
	Epoch int64  `json:"epoch"`
}

// answer is the body of every /work response, one JSON line.
type answer struct {
	// Self is the name of the candidate that answers.
	Self string `json:"self"`
	// Error says why it does not serve: "not the leader" (Leader names
	// the leader), "no leader", or "no leader known: ..." when it has no
	// live session with etcd. Empty on 200.
	Error string `json:"error,omitempty"`
	// Leader is the leader: itself on 200, the one it sees otherwise;
	// absent when there is none, or none is known.
	Leader *leaderInfo `json:"leader,omitempty"`
	// Count, on 200, numbers the requests served in this leadership
	// (this epoch): 1 for the first.
	Count int64 `json:"count,omitempty"`
}

// The errors of a 503.
const (
	errNotLeader = "not the leader"
	errNoLeader  = "no leader"
	errOffline   = "no leader known: this candidate has no live session with etcd"
)

// candidate is one candidate of the election and its HTTP service: the
// leader serves GET /work, the others answer it with 503 and the leader's
// name and URL; /healthz and /metrics say how it stands.
type candidate struct {
	name, url string
	own       string // the value it campaigns with
	e         *election.Election
	p         *printer
	handler   http.Handler
	requests  *prometheus.CounterVec

	mu     sync.Mutex
	epoch  int64 // the leadership that served counts
	served int64
}

// newCandidate makes the candidate name, which serves at url, for the
// election under prefix. Nothing happens in etcd until run.
func newCandidate(cli *clientv3.Client, p *printer, prefix, name, url string, ttl time.Duration) (*candidate, error) {
	own, err := json.Marshal(value{Name: name, URL: url})
	if err != nil {
		return nil, err
	}
	e, err := election.New(cli, prefix, election.WithValue(string(own)), election.WithTTL(ttl))
	if err != nil {
		return nil, err
	}
	c := &candidate{name: name, url: url, own: string(own), e: e, p: p,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "election_example_work_requests_total",
			Help:        "Requests of /work answered, by status code.",
			ConstLabels: prometheus.Labels{"id": name},
		}, []string{"code"}),
	}
	// Only a leader serves: a load balancer that sends /work to the
	// candidates whose /healthz is 200 sends it to the leader alone.
	hh, err := health.NewHandler(e, health.MasterOnly)
	if err != nil {
		return nil, err
	}
	col, err := metrics.NewElectionCollector(e, name)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(col, c.requests)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /work", c.work)
	mux.Handle("/healthz", hh)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	c.handler = mux
	return c, nil
}

// work serves GET /work. Whether this candidate leads is read at the time
// of the request, from one Status snapshot: a leader past its safe deadline
// is no leader, and answers 503 at once, even before its deadline's timer
// has ended the leadership.
func (c *candidate) work(w http.ResponseWriter, r *http.Request) {
	st := c.e.Status()
	a := answer{Self: c.name}
	code := http.StatusOK
	switch {
	case st.Role == status.Master:
		a.Leader = &leaderInfo{Name: c.name, URL: c.url, Epoch: st.Epoch}
		a.Count = c.count(st.Epoch)
	case st.State != status.Refresh:
		code, a.Error = http.StatusServiceUnavailable, errOffline
	default:
		code = http.StatusServiceUnavailable
		l := c.e.Observed()
		if l.IsZero() || l.Value == c.own {
			// Itself, seen as leader by Run while Status says it no
			// longer leads (or not yet): in between, none.
			a.Error = errNoLeader
			break
		}
		a.Error, a.Leader = errNotLeader, leaderOf(l)
	}
	c.requests.WithLabelValues(fmt.Sprint(code)).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if code != http.StatusOK {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(code)
	b, _ := json.Marshal(a)
	w.Write(append(b, '\n'))
}

// count counts one request served in the leadership of epoch, and returns
// its number.
func (c *candidate) count(epoch int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch != c.epoch {
		c.epoch, c.served = epoch, 0
	}
	c.served++
	return c.served
}

// servedIn returns how many requests the leadership of epoch served.
func (c *candidate) servedIn(epoch int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch != c.epoch {
		return 0
	}
	return c.served
}

func leaderOf(l election.Leader) *leaderInfo {
	var v value
	if err := json.Unmarshal([]byte(l.Value), &v); err != nil || v.Name == "" {
		return &leaderInfo{Value: l.Value, Epoch: l.Epoch}
	}
	return &leaderInfo{Name: v.Name, URL: v.URL, Epoch: l.Epoch}
}

// describe says who l is, for the printer.
func describe(l election.Leader) string {
	i := leaderOf(l)
	if i.Name == "" {
		return fmt.Sprintf("%q (no candidate of this program)", i.Value)
	}
	return fmt.Sprintf("%s at %s", i.Name, i.URL)
}

// run campaigns until ctx ends; as leader it serves /work, as follower it
// waits. led and follows, if not nil, receive the candidate's name each
// time it starts leading, and each time it sees another leader.
func (c *candidate) run(ctx context.Context, led, follows chan<- string) error {
	return c.e.Run(ctx, election.Callbacks{
		OnStartedLeading: func(ctx context.Context) {
			epoch := c.e.Epoch()
			c.p.say(c.name, "leading (epoch %d): serving /work at %s", epoch, c.url)
			if led != nil {
				led <- c.name
			}
			// The work is served by the handler, which asks Status at
			// each request; this callback only marks the leadership's
			// end, which comes with ctx's.
			<-ctx.Done()
			c.p.say(c.name, "leadership over: served %d requests of /work in epoch %d", c.servedIn(epoch), epoch)
		},
		OnStoppedLeading: func() { c.p.say(c.name, "stopped leading") },
		OnNewLeader: func(l election.Leader) {
			if l.IsZero() {
				c.p.say(c.name, "sees no leader")
				return
			}
			if l.Value != c.own {
				c.p.say(c.name, "follows %s, waiting to take over", describe(l))
				if follows != nil {
					follows <- c.name
				}
			}
		},
	})
}

// registered waits until the candidate has a live session (it may hear of
// the leader before its own key is in place), or ctx ends.
func (c *candidate) registered(ctx context.Context) error {
	for c.e.Status().State != status.Refresh {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not registered: %w", c.name, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// listen checks the --listen and --advertise flags and listens. advertise
// "" is http://, then the address bound, which must then have a host.
func listen(addr, advertise string) (net.Listener, string, error) {
	if err := checkListen(addr); err != nil {
		return nil, "", err
	}
	if advertise != "" {
		if err := checkURL(advertise); err != nil {
			return nil, "", err
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("--listen %s: %v", addr, err)
	}
	if advertise == "" {
		a := ln.Addr().(*net.TCPAddr)
		if a.IP.IsUnspecified() {
			ln.Close()
			return nil, "", fmt.Errorf("--advertise: required with --listen %s, which has no host to advertise (give the URL clients reach this candidate at)", addr)
		}
		advertise = "http://" + a.String()
	}
	return ln, advertise, nil
}

// checkListen checks --listen: host:port.
func checkListen(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("--listen %s: want host:port, such as 127.0.0.1:8080 (port 0: a free one)", addr)
	}
	return nil
}

// checkURL checks --advertise: an http or https URL with a host.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--advertise %q: want an http:// or https:// URL with a host, such as http://10.0.0.1:8080", s)
	}
	return nil
}

// serve serves h on ln until ctx ends, then shuts the server down, letting
// the requests under way finish (for up to 5s). It returns the error that
// stopped the server early, or nil.
func serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve HTTP on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if e := <-done; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}

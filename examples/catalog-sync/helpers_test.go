package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/seed764c596d/mastership/examples/internal/proctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	prefix = "/trino"
	ttl    = 2 * time.Second
)

// logs collects what every component logs, at every level, so that a test
// can look for secrets in it.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logs) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

var quiet = slog.New(slog.DiscardHandler)

// conn is a Connector that records what it is told, and can hold the Apply
// of a named catalog until released.
type conn struct {
	mu       sync.Mutex
	applied  map[string]Catalog
	calls    []string
	hold     map[string]chan struct{}
	returned map[string]bool
	waitOn   map[string]bool // Apply of the catalog waits on its hold
	fail     map[string]int  // Apply of a catalog fails this many more times
}

func newConn() *conn {
	return &conn{applied: map[string]Catalog{}, hold: map[string]chan struct{}{}, returned: map[string]bool{}, waitOn: map[string]bool{}, fail: map[string]int{}}
}

// holdApply makes Apply of name wait until the returned function is called.
func (c *conn) holdApply(name string) func() {
	ch := make(chan struct{})
	c.mu.Lock()
	c.hold[name] = ch
	c.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

func (c *conn) Apply(ctx context.Context, cat Catalog) error {
	c.mu.Lock()
	ch := c.hold[cat.Name]
	c.mu.Unlock()
	if ch != nil {
		c.setWaiting(cat.Name, true)
		select {
		case <-ch:
		case <-ctx.Done():
			c.setWaiting(cat.Name, false)
			return ctx.Err()
		}
		c.setWaiting(cat.Name, false)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail[cat.Name] > 0 {
		c.fail[cat.Name]--
		c.calls = append(c.calls, "fail "+cat.Name)
		return fmt.Errorf("connection refused by %s", cat.Properties)
	}
	c.applied[cat.Name] = cat
	c.calls = append(c.calls, fmt.Sprintf("apply %s@%d", cat.Name, cat.Revision))
	c.returned[cat.Name] = true
	return nil
}

func (c *conn) setWaiting(name string, on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waitOn[name] = on
}

// waiting tells whether an Apply of name is waiting on its hold.
func (c *conn) waiting(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waitOn[name]
}

func (c *conn) Stop(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, "stop "+name)
}

func (c *conn) Release(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.applied, name)
	c.calls = append(c.calls, "release "+name)
}

func (c *conn) get(name string) (Catalog, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cat, ok := c.applied[name]
	return cat, ok
}

func (c *conn) didReturn(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.returned[name]
}

func (c *conn) log() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

func startCoord(t testing.TB, cli *clientv3.Client, id string, log *slog.Logger) *Coordinator {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := StartCoordinator(ctx, cli, prefix, id, "127.0.0.1:0", ttl, log)
	if err != nil {
		t.Fatalf("coordinator %s: %v", id, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func startWorker(t testing.TB, cli *clientv3.Client, id string, cn Connector, log *slog.Logger) *Worker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := StartWorker(ctx, cli, prefix, id, cn, ttl, log)
	if err != nil {
		t.Fatalf("worker %s: %v", id, err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// call sends one API request and decodes the answer into out (if not nil).
func call(t testing.TB, method, url string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: decode answer: %v", method, url, err)
		}
	}
	return resp.StatusCode
}

func put(t testing.TB, c *Coordinator, name, connector string, props Properties) int64 {
	t.Helper()
	var w written
	if code := call(t, http.MethodPut, c.URL()+"/v1/catalogs/"+name, putRequest{Connector: connector, Properties: props}, &w); code != http.StatusOK {
		t.Fatalf("put %s: status %d", name, code)
	}
	return w.Revision
}

func status(t *testing.T, c *Coordinator, name string) (Status, int) {
	t.Helper()
	var s Status
	code := call(t, http.MethodGet, c.URL()+"/v1/catalogs/"+name, nil, &s)
	return s, code
}

// waitStatus asks for a catalog's status until ok holds, or fails after d.
func waitStatus(t *testing.T, c *Coordinator, name string, d time.Duration, what string, ok func(Status, int) bool) Status {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		s, code := status(t, c, name)
		if ok(s, code) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("catalog %s: no %s within %v; last status %d %+v", name, what, d, code, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ready(s Status, code int) bool { return code == http.StatusOK && s.State == StateReady }

// waitFor checks cond until it holds, or fails after d.
var waitFor = proctest.WaitFor

func names(m map[string]Catalog) string {
	var s []string
	for n, c := range m {
		s = append(s, fmt.Sprintf("%s@%d", n, c.Revision))
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}

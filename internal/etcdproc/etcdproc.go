// Package etcdproc runs real etcd server processes, of whatever version a
// binary is, for tests that must meet that version's behaviour: the
// compatibility suite (see compat/). Each cluster listens on 127.0.0.1 on
// free ports only, never on etcd's default 2379 or 2380, and keeps its data
// in a directory of its own; its processes are ended when the test ends, and
// killed with the test process if that dies first.
//
// etcdtest runs the etcd this module builds against, in-process; this
// package runs the etcd a binary is, out of process, with etcdtest's fault
// proxies and free ports.
package etcdproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/internal/etcdtest"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Environment variables naming the binaries.
const (
	// EnvEtcd names the etcd server binary to test against.
	EnvEtcd = "MASTERSHIP_ETCD"
	// EnvEtcdctl names the etcdctl of the same version; when unset, the
	// etcdctl beside the server binary.
	EnvEtcdctl = "MASTERSHIP_ETCDCTL"
)

// Timeouts. Every wait in this package is bounded by one of them.
const (
	// StartTimeout bounds how long a cluster may take to serve.
	StartTimeout = 30 * time.Second
	// StopTimeout bounds how long a member may take to exit after SIGTERM
	// before it is killed.
	StopTimeout = 10 * time.Second
	// CtlTimeout bounds one etcdctl command.
	CtlTimeout = 30 * time.Second
)

// Binaries are an etcd server binary and the etcdctl of the same version.
type Binaries struct {
	Etcd, Etcdctl string
}

// FromEnv returns the binaries named by EnvEtcd and EnvEtcdctl, and fails t
// when EnvEtcd is unset or a binary is missing: a test that asks for a real
// etcd never passes without one.
func FromEnv(t testing.TB) Binaries {
	t.Helper()
	b := Binaries{Etcd: os.Getenv(EnvEtcd), Etcdctl: os.Getenv(EnvEtcdctl)}
	if b.Etcd == "" {
		t.Fatalf("etcdproc: $%s is unset: set it to an etcd server binary (Debian's etcd-server package installs /usr/bin/etcd)", EnvEtcd)
	}
	if b.Etcdctl == "" {
		b.Etcdctl = filepath.Join(filepath.Dir(b.Etcd), "etcdctl")
	}
	for _, p := range []string{b.Etcd, b.Etcdctl} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("etcdproc: %v (set $%s and $%s)", err, EnvEtcd, EnvEtcdctl)
		}
	}
	return b
}

var versionRE = regexp.MustCompile(`(?m)^etcd Version: (\S+)`)

// Version runs `etcd --version` and returns the version it prints, such as
// "3.4.23".
func (b Binaries) Version() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), CtlTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, b.Etcd, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w: %s", b.Etcd, err, out)
	}
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%s --version printed no version: %s", b.Etcd, out)
	}
	return string(m[1]), nil
}

// Options change how a cluster is started.
type Options struct {
	// Members is the number of members; 0 means 1.
	Members int
	// Args are extra server flags, given to every member.
	Args []string
	// PeerProxies puts a fault proxy on every link between two members, so
	// that Cluster.Isolate can cut one off from the others (see peers.go).
	// The members then talk to each other over Unix sockets, and their
	// PeerURL is a unix:// URL.
	PeerProxies bool
}

// Cluster is a cluster of etcd server processes.
type Cluster struct {
	Bin     Binaries
	Members []*Member
	dir     string

	links   []*link // the peer proxies, with Options.PeerProxies
	peerDir string  // their sockets and the members' working directories
}

// Member is one etcd server process of a Cluster.
type Member struct {
	Name      string
	ClientURL string // http://127.0.0.1:port
	PeerURL   string // http://127.0.0.1:port
	Dir       string // its data directory
	LogFile   string // its standard output and error, over all its runs

	args []string
	// workDir is the working directory of its process, "" for the test's;
	// listenPeer the URL it listens on for peers, PeerURL unless a proxy
	// stands in front of it (see peers.go).
	workDir    string
	listenPeer string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited; cmd and exited are nil while stopped
	err    error         // the last run's exit status
}

// Start starts a cluster of etcd processes from bin for t, waits until every
// member serves, and stops them all when t ends (printing their logs' ends
// when t failed). It fails t when the cluster does not serve within
// StartTimeout.
func Start(t testing.TB, bin Binaries, o Options) *Cluster {
	t.Helper()
	n := o.Members
	if n <= 0 {
		n = 1
	}
	c := &Cluster{Bin: bin, dir: t.TempDir()}
	t.Cleanup(func() {
		c.Stop(t)
		c.closePeers()
		if t.Failed() {
			for _, m := range c.Members {
				t.Logf("etcdproc: the end of %s's log:\n%s", m.Name, m.LogTail(60))
			}
		}
	})
	// A port found free may be taken before etcd binds it: start again on
	// new ports, a few times.
	var err error
	for try := 0; try < 3; try++ {
		if err = c.start(n, o, try); err == nil {
			return c
		}
		c.Stop(t)
		c.closePeers()
		t.Logf("etcdproc: start %d failed: %v", try, err)
	}
	t.Fatalf("etcdproc: %s did not start: %v", bin.Etcd, err)
	return nil
}

func (c *Cluster) start(n int, o Options, try int) error {
	ports, err := etcdtest.FreePorts(2 * n)
	if err != nil {
		return err
	}
	c.Members = nil
	var initial []string
	for i := range n {
		m := &Member{
			Name:      fmt.Sprintf("m%d", i),
			ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
			PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
		}
		m.Dir = filepath.Join(c.dir, fmt.Sprintf("%s-%d", m.Name, try))
		m.LogFile = m.Dir + ".log"
		m.listenPeer = m.PeerURL
		c.Members = append(c.Members, m)
	}
	if o.PeerProxies {
		// The sockets' paths must be short, and t.TempDir's may not be.
		dir, err := os.MkdirTemp("", "ep")
		if err != nil {
			return err
		}
		c.peerDir = dir
		if err := c.setUpPeers(dir); err != nil {
			return err
		}
	}
	for _, m := range c.Members {
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	token := fmt.Sprintf("etcdproc-%d-%d", os.Getpid(), time.Now().UnixNano())
	for _, m := range c.Members {
		m.args = append([]string{
			"--name", m.Name,
			"--data-dir", m.Dir,
			"--listen-client-urls", m.ClientURL,
			"--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", m.listenPeer,
			"--initial-advertise-peer-urls", m.PeerURL,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", token,
			"--logger", "zap",
			"--log-outputs", "stderr",
		}, o.Args...)
		if err := m.launch(c.Bin.Etcd); err != nil {
			return err
		}
	}
	return c.WaitReady(StartTimeout)
}

// WaitReady waits until every running member answers a status request, at
// most timeout. It reports a member that exits meanwhile.
func (c *Cluster) WaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, m := range c.Members {
		if err := m.waitReady(deadline); err != nil {
			return err
		}
	}
	return nil
}

// Endpoints returns the client URLs of the members.
func (c *Cluster) Endpoints() []string {
	eps := make([]string, len(c.Members))
	for i, m := range c.Members {
		eps[i] = m.ClientURL
	}
	return eps
}

// Config returns a client configuration for the cluster as user with
// password ("" for none), with short dial and keep-alive timeouts.
func (c *Cluster) Config(user, password string) clientv3.Config {
	return clientv3.Config{
		Endpoints:            c.Endpoints(),
		DialTimeout:          2 * time.Second,
		DialKeepAliveTime:    time.Second,
		DialKeepAliveTimeout: time.Second,
		Logger:               zap.NewNop(),
		Username:             user,
		Password:             password,
	}
}

// Client returns a client of the cluster as user with password ("" for
// none), closed when t ends.
func (c *Cluster) Client(t testing.TB, user, password string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(c.Config(user, password))
	if err != nil {
		t.Fatalf("etcdproc: client as %q: %v", user, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// ServerVersion returns the version the first member reports over the API.
func (c *Cluster) ServerVersion(ctx context.Context, cli *clientv3.Client) (string, error) {
	st, err := cli.Status(ctx, c.Members[0].ClientURL)
	if err != nil {
		return "", err
	}
	return st.Version, nil
}

// Ctl runs the cluster's etcdctl with args against every member's endpoint,
// within CtlTimeout, and returns its standard output. user and password, when
// user is not "", are given with --user and --password (the test's own
// throwaway password: it shows in the process list).
func (c *Cluster) Ctl(user, password string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), CtlTimeout)
	defer cancel()
	all := []string{"--endpoints", strings.Join(c.Endpoints(), ","), "--dial-timeout", "5s", "--command-timeout", "10s"}
	if user != "" {
		all = append(all, "--user", user, "--password", password)
	}
	all = append(all, args...)
	cmd := exec.CommandContext(ctx, c.Bin.Etcdctl, all...)
	// No ETCDCTL_API: etcdctl speaks the v3 API by default since 3.4, and
	// 3.6's, which has no other, warns of the variable as unrecognized.
	cmd.Env = cleanEnv()
	// What it prints is its standard output only: warnings (3.6 logs some
	// as JSON) go to its standard error, shown with an error.
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("etcdctl %s: %w: %s", strings.Join(redacted(args), " "), err, bytes.TrimSpace(append(out, stderr.Bytes()...)))
	}
	return string(out), nil
}

// redacted returns args with the value of every flag that carries a
// password replaced, so that an error, and a test's log, never shows one.
func redacted(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		switch {
		case i > 0 && (args[i-1] == "--password" || args[i-1] == "--new-user-password"):
			out[i] = "REDACTED"
		case strings.HasPrefix(a, "--password="), strings.HasPrefix(a, "--new-user-password="):
			out[i] = a[:strings.Index(a, "=")+1] + "REDACTED"
		case strings.HasPrefix(a, "--user=") && strings.Contains(a, ":"), i > 0 && args[i-1] == "--user" && strings.Contains(a, ":"):
			// --user name:password
			out[i] = a[:strings.LastIndex(a, ":")+1] + "REDACTED"
		default:
			out[i] = a
		}
	}
	return out
}

// MustCtl is Ctl that fails t on an error.
func (c *Cluster) MustCtl(t testing.TB, user, password string, args ...string) string {
	t.Helper()
	out, err := c.Ctl(user, password, args...)
	if err != nil {
		t.Fatalf("etcdproc: %v", err)
	}
	return out
}

// Stop stops every running member: SIGTERM, then SIGKILL after
// StopTimeout. Errors go to t's log.
func (c *Cluster) Stop(t testing.TB) {
	for _, m := range c.Members {
		if err := m.Stop(); err != nil {
			t.Logf("etcdproc: stop %s: %v", m.Name, err)
		}
	}
}

// Restart stops m (SIGTERM, then SIGKILL after StopTimeout) and starts it
// again on the same data directory and ports, and waits until it serves.
func (c *Cluster) Restart(m *Member) error {
	if err := m.Stop(); err != nil {
		return err
	}
	return c.StartMember(m)
}

// Kill kills m with SIGKILL, as a crash would, and waits for it to exit.
func (m *Member) Kill() error {
	return m.signal(syscall.SIGKILL, StopTimeout)
}

// StartMember starts a stopped member again on its data directory and ports,
// and waits until it serves.
func (c *Cluster) StartMember(m *Member) error {
	if err := m.launch(c.Bin.Etcd); err != nil {
		return err
	}
	return m.waitReady(time.Now().Add(StartTimeout))
}

// Stop ends m: SIGTERM, then SIGKILL if it has not exited within
// StopTimeout. Stopping a stopped member does nothing.
func (m *Member) Stop() error {
	err := m.signal(syscall.SIGTERM, StopTimeout)
	if errors.Is(err, errStillRunning) {
		err = m.signal(syscall.SIGKILL, StopTimeout)
	}
	return err
}

var errStillRunning = errors.New("still running")

func (m *Member) signal(sig syscall.Signal, wait time.Duration) error {
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("%s: %w %v after %v", m.Name, errStillRunning, wait, sig)
	}
}

func (m *Member) launch(bin string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return fmt.Errorf("%s is running", m.Name)
	}
	logf, err := os.OpenFile(m.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, m.args...)
	cmd.Dir = m.workDir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = cleanEnv()
	// Killed with the test process, should that die first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	m.cmd, m.exited = cmd, exited
	go func() {
		err := cmd.Wait()
		logf.Close()
		m.mu.Lock()
		m.err = err
		if m.exited == exited {
			m.cmd, m.exited = nil, nil
		}
		m.mu.Unlock()
		close(exited)
	}()
	return nil
}

func (m *Member) waitReady(deadline time.Time) error {
	m.mu.Lock()
	exited := m.exited
	m.mu.Unlock()
	if exited == nil {
		return fmt.Errorf("%s is not running", m.Name)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{m.ClientURL},
		DialTimeout: time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return err
	}
	defer cli.Close()
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			m.mu.Lock()
			err := m.err
			m.mu.Unlock()
			return fmt.Errorf("%s exited before serving (%v); its log ends:\n%s", m.Name, err, m.LogTail(20))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		// Status needs no permission on 3.4; from 3.5 on, with
		// authentication on, etcd answers an anonymous Status with "user
		// name is empty", which says just as well that it serves.
		_, last = cli.Status(ctx, m.ClientURL)
		cancel()
		if last == nil || errors.Is(rpctypes.Error(last), rpctypes.ErrUserEmpty) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not serving on %s by the deadline: %v", m.Name, m.ClientURL, last)
}

// LogTail returns the last n lines of m's log.
func (m *Member) LogTail(n int) string {
	b, err := os.ReadFile(m.LogFile)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cleanEnv is the environment without ETCD_ and ETCDCTL_ variables, which
// etcd and etcdctl would take as flags.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ETCD_") || strings.HasPrefix(kv, "ETCDCTL_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

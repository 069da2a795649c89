//go:build etcdcompat

package compat

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/internal/etcdproc"
	"github.com/seed764c596d/mastership/internal/syncbuf"
)

// ctlElect is an `etcdctl elect` process of the version under test, which
// runs until it is signalled: a campaign (`etcdctl elect <prefix>
// <proposal>`) or an observer (`etcdctl elect -l <prefix>`). Both print, with
// -w json, one etcd GetResponse a line: the campaign its own key once it is
// elected, the observer the leader each time it changes (a new leader, or a
// new value of the same one). With the default output they print the key
// and the value on two lines, which cannot tell a value "x\n" from two
// lines; JSON carries the create revision and the lease too.
type ctlElect struct {
	name   string
	cmd    *exec.Cmd
	lines  chan ctlLine  // what it printed, in order
	stop   chan struct{} // closed at clean-up, so that the reader does not block
	exited chan struct{} // closed once it exited and lines holds all it printed
	err    error         // cmd.Wait's result, set before exited closes
	stderr syncbuf.Buffer
}

// ctlLine is one line etcdctl printed, decoded.
type ctlLine struct {
	at  time.Time // when the test read it
	raw string
	kv  ctlKV
	err error // the line is not a response with exactly one key
}

// ctlKV is a key as etcdctl's JSON printer writes it: encoding/json of
// etcd's mvccpb.KeyValue, whose bytes are base64.
type ctlKV struct {
	Key            []byte `json:"key"`
	CreateRevision int64  `json:"create_revision"`
	Value          []byte `json:"value"`
	Lease          int64  `json:"lease"`
}

// startElect starts `etcdctl elect args...` against c, as name. It is
// killed, if still running, when t ends.
func startElect(t *testing.T, c *etcdproc.Cluster, name string, args ...string) *ctlElect {
	t.Helper()
	all := append([]string{"--endpoints", strings.Join(c.Endpoints(), ","), "--dial-timeout", "5s", "-w", "json", "elect"}, args...)
	p := &ctlElect{
		name:   name,
		cmd:    exec.Command(c.Bin.Etcdctl, all...),
		lines:  make(chan ctlLine, 64),
		stop:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	p.cmd.Env = ctlEnv()
	p.cmd.Stderr = &p.stderr
	// Killed with the test process, should that die first.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go p.read(stdout)
	t.Cleanup(func() {
		close(p.stop)
		select {
		case <-p.exited:
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		select {
		case <-p.exited:
		case <-time.After(waitTime):
			t.Errorf("%s (pid %d) not exited %v after SIGKILL", name, p.cmd.Process.Pid, waitTime)
		}
	})
	return p
}

// read decodes what the process prints until it closes its output, then
// waits for the process (exec wants the output read first).
func (p *ctlElect) read(stdout interface{ Read([]byte) (int, error) }) {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		l := ctlLine{at: time.Now(), raw: sc.Text()}
		var resp struct {
			Kvs []ctlKV `json:"kvs"`
		}
		if err := json.Unmarshal(sc.Bytes(), &resp); err != nil {
			l.err = err
		} else if len(resp.Kvs) != 1 {
			l.err = fmt.Errorf("%d keys in the response, want 1", len(resp.Kvs))
		} else {
			l.kv = resp.Kvs[0]
		}
		select {
		case p.lines <- l:
		case <-p.stop:
		}
	}
	p.err = p.cmd.Wait()
	close(p.exited)
}

// next returns the next line p prints, and fails t if none comes by
// deadline, or p exits without printing one, or the line is not one key.
func (p *ctlElect) next(t *testing.T, deadline time.Time) ctlLine {
	t.Helper()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var l ctlLine
	select {
	case l = <-p.lines:
	case <-timer.C:
		t.Fatalf("%s printed nothing by the deadline; stderr: %s", p.name, p.stderr.String())
	case <-p.exited:
		// Everything it printed is in lines by now.
		select {
		case l = <-p.lines:
		default:
			t.Fatalf("%s exited (%v) without printing; stderr: %s", p.name, p.err, p.stderr.String())
		}
	}
	if l.err != nil {
		t.Fatalf("%s printed %q: %v", p.name, l.raw, l.err)
	}
	return l
}

// signal sends sig to p, and waits for it to exit, at most waitTime; it
// returns the process's exit error.
func (p *ctlElect) signal(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%s: %v: %v", p.name, sig, err)
	}
	select {
	case <-p.exited:
		return p.err
	case <-time.After(waitTime):
		t.Fatalf("%s not exited %v after %v; stderr: %s", p.name, waitTime, sig, p.stderr.String())
	}
	return nil
}

// ctlEnv is the environment without ETCD_ and ETCDCTL_ variables, which
// etcdctl would take as flags (as etcdproc does for the processes it runs).
func ctlEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ETCD_") || strings.HasPrefix(kv, "ETCDCTL_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

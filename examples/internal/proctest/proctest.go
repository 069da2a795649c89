package proctest

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Main is the body of a TestMain: it runs main when the environment variable
// named variable is "1" (the test binary started by Start), and the tests
// otherwise, failing them if goroutines leak.
func Main(m *testing.M, variable string, main func(), opts ...goleak.Option) {
	if os.Getenv(variable) == "1" {
		main()
		return
	}
	goleak.VerifyTestMain(m, opts...)
}

// Buffer is a bytes.Buffer that a process writes while a test reads it. Its
// methods are safe for concurrent use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Process is the program running as a child process.
type Process struct {
	// Cmd is the running command.
	Cmd *exec.Cmd
	// Stderr holds what the process wrote on its standard error.
	Stderr *Buffer

	lines chan string // delivered by relay, in order; closed after the last
	done  chan struct{}
	err   error // set before done closes
}

// Start runs the test binary with args and the variable set to "1", and env
// added to the environment. The process is killed when t ends, and its
// standard error logged, with name, if t failed.
func Start(t testing.TB, variable, name string, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{Stderr: &Buffer{}, lines: make(chan string), done: make(chan struct{})}
	p.Cmd = exec.Command(os.Args[0], args...)
	p.Cmd.Env = append(append(os.Environ(), variable+"=1"), env...)
	p.Cmd.Stderr = p.Stderr
	out, err := p.Cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanned := make(chan string)
	go relay(scanned, p.lines)
	go func() {
		// relay always takes a line at once, so a test that reads no
		// line never holds up the process's writes.
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			scanned <- sc.Text()
		}
		close(scanned)
		// Wait only once standard output is read to its end, as
		// StdoutPipe requires.
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Cmd.Process.Kill()
		<-p.done
		for range p.lines {
		}
		if t.Failed() {
			t.Logf("standard error of %s:\n%s", name, p.Stderr.String())
		}
	})
	return p
}

// Lines delivers the process's standard output, line by line, in order,
// none dropped; it closes once the output has ended.
func (p *Process) Lines() <-chan string { return p.lines }

// relay passes the lines from in to out in order, holding in memory those
// out's reader has not taken yet, so that it is always ready to take the
// next one from in. It closes out once in is closed and every line is
// passed on.
func relay(in <-chan string, out chan<- string) {
	var held []string
	for in != nil || len(held) > 0 {
		// A nil channel is never ready: nothing to send, no send case.
		var send chan<- string
		var next string
		if len(held) > 0 {
			send, next = out, held[0]
		}
		select {
		case l, ok := <-in:
			if !ok {
				in = nil
				continue
			}
			held = append(held, l)
		case send <- next:
			held = held[1:]
		}
	}
	close(out)
}

// Done is closed once the process has exited and its output is read.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err returns how the process ended (nil: exit status 0). It is valid once
// Done is closed.
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// Running reports whether the process has not exited yet.
func (p *Process) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Signal sends sig and waits up to within for the process to end; it fails
// t if it does not. within 0 does not wait.
func (p *Process) Signal(t testing.TB, sig os.Signal, within time.Duration) {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if within == 0 {
		return
	}
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("process did not end within %v of %v", within, sig)
	}
}

// WaitFor checks cond every 20ms until it holds, or fails t after d. It is
// for what sends no event: a file, a table, another process's state.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Get returns the status code and body of GET url, failing t if the
// request fails or takes over 5s: for the tests of a program's HTTP
// endpoints (/healthz, /metrics).
func Get(t testing.TB, url string) (code int, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

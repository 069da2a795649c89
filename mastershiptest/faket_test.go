package mastershiptest_test

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
)

// fakeT is the testing.TB of the examples, which package testing gives
// none, and of the tests of the kit's own failures. It has what the kit
// calls; the other methods are the nil embedded TB's, which panic.
type fakeT struct {
	testing.TB

	mu       sync.Mutex
	cleanups []func()
	failure  string
}

// asTest runs f as package testing runs a test, in a goroutine of its own
// that Fatal ends, then runs t's clean-ups, last registered first. It
// returns the failure f met, or "".
func asTest(f func(t testing.TB)) string {
	t := &fakeT{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(t)
	}()
	<-done
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	return t.failure
}

func (t *fakeT) Helper()             {}
func (t *fakeT) Name() string        { return "example" }
func (t *fakeT) Log(...any)          {}
func (t *fakeT) Logf(string, ...any) {}

func (t *fakeT) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *fakeT) TempDir() string {
	dir, err := os.MkdirTemp("", "mastershiptest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (t *fakeT) Error(args ...any)                 { t.fail(fmt.Sprint(args...), false) }
func (t *fakeT) Errorf(format string, args ...any) { t.fail(fmt.Sprintf(format, args...), false) }
func (t *fakeT) Fatal(args ...any)                 { t.fail(fmt.Sprint(args...), true) }
func (t *fakeT) Fatalf(format string, args ...any) { t.fail(fmt.Sprintf(format, args...), true) }
func (t *fakeT) FailNow()                          { t.fail("FailNow", true) }

func (t *fakeT) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failure != ""
}

func (t *fakeT) fail(msg string, now bool) {
	t.mu.Lock()
	if t.failure == "" {
		t.failure = msg
	}
	t.mu.Unlock()
	if now {
		runtime.Goexit()
	}
}

package proctest

import (
	"strconv"
	"testing"
	"time"
)

// relay takes every line at once, with no reader, and then delivers them
// all, in order, and closes.
func TestRelayOrderAndClose(t *testing.T) {
	in, out := make(chan string), make(chan string)
	go relay(in, out)
	sent := make(chan struct{})
	go func() {
		for i := range 1000 {
			in <- strconv.Itoa(i)
		}
		close(in)
		close(sent)
	}()
	select {
	case <-sent:
	case <-time.After(5 * time.Second):
		t.Fatal("relay held up the sender while no one read")
	}
	want := 0
	for l := range out {
		if l != strconv.Itoa(want) {
			t.Fatalf("got %q, want %d", l, want)
		}
		want++
	}
	if want != 1000 {
		t.Fatalf("got %d lines, want 1000", want)
	}
}

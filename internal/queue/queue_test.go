package queue

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOrderAndClose(t *testing.T) {
	q := New[int]()
	// Pushing never waits for a reader.
	done := make(chan struct{})
	go func() {
		for i := range 1000 {
			q.Push(i)
		}
		q.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Push blocked without a reader")
	}
	want := 0
	for v := range q.Out() {
		if v != want {
			t.Fatalf("got %d, want %d", v, want)
		}
		want++
	}
	if want != 1000 {
		t.Fatalf("got %d values, want 1000", want)
	}
}

func TestPushAfterClosePanics(t *testing.T) {
	q := New[int]()
	q.Close()
	for range q.Out() {
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Push after Close did not panic")
		}
	}()
	q.Push(1)
}

package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDelayBounds(t *testing.T) {
	for n := -1; n < 20; n++ {
		full := min(Min<<min(max(n, 0), 10), Max)
		for range 100 {
			if d := Delay(n); d < full/2 || d > full {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", n, d, full/2, full)
			}
		}
	}
	// The first retry waits 50ms to 100ms; from the sixth on, 1s to 2s.
	if d := Delay(0); d < 50*time.Millisecond || d > 100*time.Millisecond {
		t.Fatalf("Delay(0) = %v, want within [50ms, 100ms]", d)
	}
	if d := Delay(5); d < time.Second || d > 2*time.Second {
		t.Fatalf("Delay(5) = %v, want within [1s, 2s]", d)
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	cause := errors.New("stop")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	start := time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, cause) {
		t.Fatalf("Sleep = %v, want the context's cause", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Sleep with an ended context took %v", took)
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("Sleep = %v, want nil", err)
	}
}

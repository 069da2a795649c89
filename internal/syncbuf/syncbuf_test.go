package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

// TestConcurrent: writes from several goroutines, read meanwhile, all
// arrive (the race detector checks the locking).
func TestConcurrent(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("x"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := b.String(); got != strings.Repeat("x", 400) {
		t.Errorf("got %d bytes, want 400", len(got))
	}
}

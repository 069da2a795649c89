// Package syncbuf holds Buffer, the bytes.Buffer that a child process's
// output is copied into (by exec's copying goroutine) while a test reads
// it: the tests of cmd/mastership and of the compatibility suite start
// processes and read what they print. The examples' tests have their own,
// proctest.Buffer, since the examples use no package of this module's
// internal/ outside their tests' helpers.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer whose methods are safe for concurrent use. The
// zero Buffer is empty and ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
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

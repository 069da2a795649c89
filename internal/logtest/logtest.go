// Package logtest records what a component logs through log/slog, so that
// a test can check what happened inside it (a watch that failed with a
// compaction, the cause of a lost registration).
package logtest

import (
	"context"
	"log/slog"
	"slices"
	"sync"
)

// Record is one logged record: its message and attributes, those added
// with With included.
type Record struct {
	Msg   string
	Attrs map[string]any
}

// Recorder keeps every record logged through its Logger. Its zero value is
// ready to use, and it is safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	records []Record
}

// Logger returns a logger, at every level, that records into r.
func (r *Recorder) Logger() *slog.Logger { return slog.New(handler{r: r}) }

// Find returns the records with the given message, in the order logged.
func (r *Recorder) Find(msg string) []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Record
	for _, rec := range r.records {
		if rec.Msg == msg {
			out = append(out, rec)
		}
	}
	return out
}

type handler struct {
	r     *Recorder
	attrs []slog.Attr
}

func (h handler) Enabled(context.Context, slog.Level) bool { return true }

func (h handler) Handle(_ context.Context, rec slog.Record) error {
	out := Record{Msg: rec.Message, Attrs: map[string]any{}}
	for _, a := range h.attrs {
		out.Attrs[a.Key] = a.Value.Any()
	}
	rec.Attrs(func(a slog.Attr) bool {
		out.Attrs[a.Key] = a.Value.Any()
		return true
	})
	h.r.mu.Lock()
	h.r.records = append(h.r.records, out)
	h.r.mu.Unlock()
	return nil
}

func (h handler) WithAttrs(as []slog.Attr) slog.Handler {
	return handler{r: h.r, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h handler) WithGroup(string) slog.Handler { return h }

package election

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Bad input is refused with ErrInvalidConfig and an error naming the field.
func TestInvalidConfig(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	for _, tc := range []struct {
		name   string
		cli    *clientv3.Client
		prefix string
		opts   []Option
		field  string
	}{
		{"nil client", nil, "/p", nil, "client"},
		{"empty prefix", cli, "", nil, "prefix"},
		{"prefix /", cli, "/", nil, "prefix"},
		{"prefix //", cli, "//", nil, "prefix"},
		{"TTL 0", cli, "/p", []Option{WithTTL(0)}, "TTL"},
		{"TTL negative", cli, "/p", []Option{WithTTL(-time.Second)}, "TTL"},
		{"TTL 500ms", cli, "/p", []Option{WithTTL(500 * time.Millisecond)}, "TTL"},
		{"TTL 1500ms", cli, "/p", []Option{WithTTL(1500 * time.Millisecond)}, "TTL"},
		{"TTL over MaxTTL", cli, "/p", []Option{WithTTL(MaxTTL + time.Second)}, "TTL"},
		{"TTL 100000h", cli, "/p", []Option{WithTTL(100000 * time.Hour)}, "TTL"},
		{"TTL largest Duration", cli, "/p", []Option{WithTTL(math.MaxInt64)}, "TTL"},
		{"margin 0", cli, "/p", []Option{WithTTL(2 * time.Second), WithSafetyMargin(0)}, "SafetyMargin"},
		{"margin negative", cli, "/p", []Option{WithTTL(2 * time.Second), WithSafetyMargin(-time.Millisecond)}, "SafetyMargin"},
		{"margin 2/3 TTL", cli, "/p", []Option{WithTTL(3 * time.Second), WithSafetyMargin(2 * time.Second)}, "SafetyMargin"},
		{"margin over 2/3 TTL", cli, "/p", []Option{WithTTL(2 * time.Second), WithSafetyMargin(1500 * time.Millisecond)}, "SafetyMargin"},
		{"margin over 2/3 default TTL", cli, "/p", []Option{WithSafetyMargin(DefaultTTL)}, "SafetyMargin"},
		{"nil logger", cli, "/p", []Option{WithLogger(nil)}, "Logger"},
		{"nil option", cli, "/p", []Option{nil}, "Option"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(tc.cli, tc.prefix, tc.opts...)
			if err == nil {
				t.Fatalf("New succeeded: %+v", e)
			}
			if e != nil {
				t.Errorf("New returned an Election with error %v", err)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %q is not ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name %s", err, tc.field)
			}
		})
	}

	// Edges that are fine.
	for _, opts := range [][]Option{
		nil,
		{WithTTL(time.Second)}, // etcd raises it to its minimum
		{WithTTL(MaxTTL)},
		{WithTTL(2 * time.Second), WithSafetyMargin(1333 * time.Millisecond)},
		{WithTTL(2 * time.Second), WithSafetyMargin(time.Millisecond)},
		{WithLogger(slog.New(slog.DiscardHandler)), WithValue("")},
	} {
		if _, err := New(cli, "/p", opts...); err != nil {
			t.Errorf("New with valid options: %v", err)
		}
	}
}

// Run refuses missing callbacks and a second concurrent Run; after Run
// returns, the Election can run again.
func TestRunErrors(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	r := newRecorder()
	e, err := New(cli, prefix, WithTTL(testTTL), WithValue("a"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t, waitTime)

	err = e.Run(ctx, Callbacks{OnStoppedLeading: func() {}, OnNewLeader: func(Leader) {}})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "OnStartedLeading") {
		t.Errorf("Run without OnStartedLeading: %v, want ErrInvalidConfig naming OnStartedLeading", err)
	}

	a := runCand(t, r, e, "a")
	r.waitFor(t, 0, waitTime, "a leading", is("a", started))
	if err := e.Run(ctx, r.callbacks("second")); !errors.Is(err, ErrRunning) {
		t.Errorf("second concurrent Run: %v, want ErrRunning", err)
	}
	if !e.IsLeader() {
		t.Errorf("the refused Run disturbed the running one: IsLeader false")
	}
	// Only OnStartedLeading is required.
	m := r.mark()
	a.stop()
	r.waitFor(t, m, waitTime, "a stopping", is("a", stopped))
	started2 := make(chan context.Context, 1)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- e.Run(runCtx, Callbacks{OnStartedLeading: func(ctx context.Context) { started2 <- ctx }})
	}()
	var lctx context.Context
	select {
	case lctx = <-started2:
	case <-time.After(waitTime):
		t.Error("a second Run, after the first returned, did not lead")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("second Run returned %v", err)
		}
	case <-time.After(waitTime):
		t.Fatal("second Run did not return after its context was cancelled")
	}
	if lctx != nil && lctx.Err() == nil {
		t.Error("the leadership context outlived Run")
	}
	if e.IsLeader() {
		t.Error("IsLeader after Run returned")
	}
	checkLeader(t, cli, prefix, "")
}

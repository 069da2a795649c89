package selector

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
)

func TestInvalidConfig(t *testing.T) {
	t.Parallel()
	// New checks its arguments before it talks to etcd.
	cli := shared.Client(t)
	cases := []struct {
		name   string
		cli    *clientv3.Client
		prefix string
		id     string
		opts   []Option
		field  string
	}{
		{"nil client", nil, "/p", "a", nil, "client"},
		{"empty prefix", cli, "", "a", nil, "prefix"},
		{"prefix /", cli, "/", "a", nil, "prefix"},
		{"prefix //", cli, "//", "a", nil, "prefix"},
		{"empty id", cli, "/p", "", nil, "id"},
		{"id not UTF-8", cli, "/p", "a\xff", nil, "id"},
		{"id with slash", cli, "/p", "a/b", nil, "id"},
		{"TTL 0", cli, "/p", "a", []Option{WithTTL(0)}, "TTL"},
		{"TTL 500ms", cli, "/p", "a", []Option{WithTTL(500 * time.Millisecond)}, "TTL"},
		{"TTL 1500ms", cli, "/p", "a", []Option{WithTTL(1500 * time.Millisecond)}, "TTL"},
		{"TTL negative", cli, "/p", "a", []Option{WithTTL(-2 * time.Second)}, "TTL"},
		{"TTL over MaxTTL", cli, "/p", "a", []Option{WithTTL(MaxTTL + time.Second)}, "TTL"},
		{"TTL 100000h", cli, "/p", "a", []Option{WithTTL(100000 * time.Hour)}, "TTL"},
		{"TTL largest Duration", cli, "/p", "a", []Option{WithTTL(math.MaxInt64)}, "TTL"},
		{"margin negative", cli, "/p", "a", []Option{WithSafetyMargin(-time.Millisecond)}, "SafetyMargin"},
		{"margin 0", cli, "/p", "a", []Option{WithSafetyMargin(0)}, "SafetyMargin"},
		{"margin 2/3 TTL", cli, "/p", "a", []Option{WithTTL(3 * time.Second), WithSafetyMargin(2 * time.Second)}, "SafetyMargin"},
		{"margin above 2/3 TTL", cli, "/p", "a", []Option{WithTTL(3 * time.Second), WithSafetyMargin(2500 * time.Millisecond)}, "SafetyMargin"},
		{"margin above 2/3 default TTL", cli, "/p", "a", []Option{WithSafetyMargin(DefaultTTL * 2 / 3)}, "SafetyMargin"},
		{"margin equal to TTL", cli, "/p", "a", []Option{WithTTL(2 * time.Second), WithSafetyMargin(2 * time.Second)}, "SafetyMargin"},
		{"nil logger", cli, "/p", "a", []Option{WithLogger(nil)}, "Logger"},
		{"nil option", cli, "/p", "a", []Option{WithTTL(2 * time.Second), nil}, "Option"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			s, err := New(ctx, tc.cli, tc.prefix, tc.id, tc.opts...)
			if err == nil {
				shutdown(t, s)
				t.Fatalf("New succeeded, want an error naming %s", tc.field)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %q is not ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name the field %s", err, tc.field)
			}
		})
	}
}

// etcd raises a TTL under its minimum; the member uses the TTL granted.
func TestGrantedTTL(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	a := join(t, cli, prefix, "a", WithTTL(time.Second), WithSafetyMargin(600*time.Millisecond))
	expect(t, a, events.InitMaster)
	_, lease, ok := keyOf(t, cli, prefix+"/a")
	if !ok || lease == 0 {
		t.Fatalf("a's key: present %v, lease %x", ok, lease)
	}
	resp, err := cli.TimeToLive(ctxFor(t, waitTime), lease)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GrantedTTL != 2 {
		t.Errorf("granted TTL %ds, want 2s (etcd's minimum)", resp.GrantedTTL)
	}
	a.mu.Lock()
	l := a.reg.lease
	a.mu.Unlock()
	if l.TTL != 2*time.Second || l.Margin != 600*time.Millisecond {
		t.Errorf("member's lease: TTL %v, margin %v; want 2s and 600ms", l.TTL, l.Margin)
	}
}

// The default safety margin is a tenth of the granted TTL, at least 250ms.
func TestDefaultMargin(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	for _, tc := range []struct {
		ttl, margin time.Duration
	}{{2 * time.Second, 250 * time.Millisecond}, {5 * time.Second, 500 * time.Millisecond}} {
		s := join(t, cli, prefix+"-"+tc.ttl.String(), "a", WithTTL(tc.ttl))
		expect(t, s, events.InitMaster)
		s.mu.Lock()
		l := s.reg.lease
		s.mu.Unlock()
		if l.TTL != tc.ttl || l.Margin != tc.margin {
			t.Errorf("TTL %v: lease TTL %v, margin %v; want margin %v", tc.ttl, l.TTL, l.Margin, tc.margin)
		}
		shutdown(t, s)
	}
}

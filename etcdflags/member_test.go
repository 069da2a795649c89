package etcdflags

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/selector"
)

func parseMember(t *testing.T, args ...string) (*Member, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	m := RegisterMember(fs, "this member's id", slog.LevelWarn)
	if err := fs.Parse(args); err != nil {
		return m, err
	}
	return m, m.Check()
}

func TestMemberDefaults(t *testing.T) {
	m, err := parseMember(t, "--prefix", "/p", "--id", "a")
	if err != nil {
		t.Fatal(err)
	}
	if m.Prefix != "/p" || m.ID != "a" || m.TTL != selector.DefaultTTL || m.LogLevel != slog.LevelWarn {
		t.Fatalf("parsed %+v; want /p, a, the selector's default TTL and WARN", m)
	}
	m, err = parseMember(t, "--prefix", "/p", "--id", "a", "--ttl", "3s", "--log-level", "DEBUG")
	if err != nil || m.TTL != 3*time.Second || m.LogLevel != slog.LevelDebug {
		t.Fatalf("parsed %+v, %v; want TTL 3s and DEBUG", m, err)
	}
}

func TestMemberErrorsNameTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--id", "a"}, "--prefix"},
		{[]string{"--prefix", "/p"}, "--id"},
		{[]string{"--prefix", "/p", "--id", "a/b"}, "--id"},
		{[]string{"--prefix", "/p", "--id", "a\xff"}, "--id \"a\\xff\": not valid UTF-8"},
		{[]string{"--prefix", "/", "--id", "a"}, "--prefix \"/\": covers every key in etcd"},
		{[]string{"--prefix", "//", "--id", "a"}, "--prefix"},
		{[]string{"--prefix", "/p", "--id", "a", "--ttl", "1500ms"}, "--ttl"},
		{[]string{"--prefix", "/p", "--id", "a", "--ttl", "500ms"}, "--ttl"},
		{[]string{"--prefix", "/p", "--id", "a", "--ttl", "0s"}, "--ttl"},
		{[]string{"--prefix", "/p", "--id", "a", "--ttl", "-2s"}, "--ttl"},
		{[]string{"--prefix", "/p", "--id", "a", "--ttl", "3601s"}, "--ttl 1h0m1s: must be a whole number of seconds, from 1s to 1h0m0s"},
		{[]string{"--prefix", "/p", "--id", "a", "--ttl", "100000h"}, "--ttl 100000h0m0s: must be a whole number of seconds, from 1s to 1h0m0s"},
		{[]string{"--prefix", "/p", "--id", "a", "--ttl", "2562047h"}, "--ttl 2562047h0m0s: must be a whole number of seconds, from 1s to 1h0m0s"},
		{[]string{"--prefix", "/p", "--id", "a", "--ttl", "soon"}, "-ttl"},
		{[]string{"--prefix", "/p", "--id", "a", "--log-level", "loud"}, "-log-level"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := parseMember(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestJoin(t *testing.T) {
	eps := []string{"127.0.0.1:1"}
	for _, tc := range []struct {
		name   string
		ctx    func() context.Context
		err    error
		wait   bool // join waits for its context to end
		want   string
		target error
	}{
		{"ok", context.Background, nil, false, "", nil},
		{"duplicate", context.Background, fmt.Errorf("%w: key held", selector.ErrDuplicateID), false, "the id is taken", selector.ErrDuplicateID},
		{"denied", context.Background, fmt.Errorf("%w: range", selector.ErrPermissionDenied), false, "etcd refused this member", selector.ErrPermissionDenied},
		{"auth", context.Background, fmt.Errorf("%w: password", selector.ErrAuthFailed), false, "etcd refused this member", selector.ErrAuthFailed},
		{"unreachable", context.Background, nil, true, "etcd at 127.0.0.1:1 unreachable: not registered within 50ms", context.DeadlineExceeded},
		{"signal", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, nil, true, "interrupted before registering", context.Canceled},
		{"other", context.Background, errBoom, false, "boom", errBoom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Join(tc.ctx(), eps, 50*time.Millisecond, func(ctx context.Context) error {
				if tc.wait {
					<-ctx.Done()
					return ctx.Err()
				}
				return tc.err
			})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Join: %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || !errors.Is(err, tc.target) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Join: %v; want one line starting %q, wrapping %v", err, tc.want, tc.target)
			}
		})
	}
}

var errBoom = errors.New("boom")

func TestEmbedded(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		embedded bool
		want     string // the flag an error names; "" for none
	}{
		{nil, true, ""},
		{[]string{"--endpoints", "127.0.0.1:2379", "--user", "u"}, false, ""},
		{[]string{"--endpoints", ","}, false, ""}, // Config says what is wrong with it
		{[]string{"--cacert", "ca.pem"}, true, "--cacert"},
		{[]string{"--cert", "c.pem", "--key", "k.pem"}, true, "--cert"},
		{[]string{"--user", "u"}, true, "--user"},
		{[]string{"--password-file", "pw"}, true, "--password-file"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			f := Register(fs, "")
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			embedded, err := f.Embedded()
			if embedded != tc.embedded {
				t.Errorf("embedded = %v, want %v", embedded, tc.embedded)
			}
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want+":")) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestTTLBound(t *testing.T) {
	if err := CheckTTL(time.Hour); err != nil {
		t.Errorf("CheckTTL(1h) = %v, want nil: the maximum is allowed", err)
	}
	for _, ttl := range []time.Duration{time.Hour + time.Second, 100000 * time.Hour, 2562047 * time.Hour} {
		err := CheckTTL(ttl)
		if err == nil || !strings.Contains(err.Error(), "--ttl") || !strings.Contains(err.Error(), "1h0m0s") {
			t.Errorf("CheckTTL(%v) = %v, want an error naming --ttl and the maximum", ttl, err)
		}
	}
}

func TestJoinWait(t *testing.T) {
	const max = time.Duration(1<<63 - 1)
	for _, tc := range []struct{ base, ttl, want time.Duration }{
		{10 * time.Second, 5 * time.Second, 20 * time.Second},
		{10 * time.Second, time.Hour, 10*time.Second + 2*time.Hour},
		{10 * time.Second, 2562047 * time.Hour, max},
		{10 * time.Second, max, max},
		{10 * time.Second, max/2 - 5*time.Second, max - 1},
	} {
		if got := JoinWait(tc.base, tc.ttl); got != tc.want || got < 0 {
			t.Errorf("JoinWait(%v, %v) = %v, want %v", tc.base, tc.ttl, got, tc.want)
		}
	}
}

package resolver

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"
)

func TestParseTarget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		target string
		prefix string
		role   role
		err    string // in the error; "" for a valid target
	}{
		{target: "mastership:///services/db", prefix: "/services/db", role: roleMaster},
		{target: "mastership:///services/db/", prefix: "/services/db/", role: roleMaster},
		{target: "mastership:///services/db?role=master", prefix: "/services/db", role: roleMaster},
		{target: "mastership:///services/db?role=slave", prefix: "/services/db", role: roleSlave},
		{target: "mastership:///a%3Fb", prefix: "/a?b", role: roleMaster},
		{target: "mastership:///", err: "empty group prefix"},
		{target: "mastership://", err: "empty group prefix"},
		{target: "mastership:", err: "empty group prefix"},
		{target: "mastership:services/db", err: "prefix starting with /"},
		{target: "mastership://host/services/db", err: `authority "host"`},
		{target: "mastership://user@/services/db", err: "authority"},
		{target: "mastership:///services/db#x", err: `fragment "x"`},
		{target: "mastership:///services/db?role=leader", err: `role "leader": want master or slave`},
		{target: "mastership:///services/db?role=", err: `role "": want master or slave`},
		{target: "mastership:///services/db?role=slave&role=slave", err: "role given 2 times"},
		{target: "mastership:///services/db?region=eu", err: `unknown query key "region"`},
		{target: "mastership:///services/db?role=slave;x", err: "query"},
		{target: "dns:///services/db", err: `scheme "dns"`},
	} {
		u, err := url.Parse(tc.target)
		if err != nil {
			t.Fatalf("%s: %v", tc.target, err)
		}
		prefix, r, err := parseTarget(*u)
		if tc.err == "" {
			if err != nil || prefix != tc.prefix || r != tc.role {
				t.Errorf("%s: %q, %v, %v; want %q, %v", tc.target, prefix, r, err, tc.prefix, tc.role)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidTarget) || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v; want ErrInvalidTarget saying %q", tc.target, err, tc.err)
		}
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"mastership:///a", "mastership:///a?role=slave", "mastership:x", "mastership://h/a?x=1#f", "mastership:///%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.Parse(target)
		if err != nil {
			return
		}
		prefix, r, err := parseTarget(*u)
		if err != nil {
			if !errors.Is(err, ErrInvalidTarget) {
				t.Fatalf("%q: error %v does not wrap ErrInvalidTarget", target, err)
			}
			return
		}
		if !strings.HasPrefix(prefix, "/") || prefix == "/" || (r != roleMaster && r != roleSlave) {
			t.Fatalf("%q: accepted as prefix %q, role %v", target, prefix, r)
		}
	})
}

// Build refuses an invalid target, and a client dialled with one fails
// its calls with the reason.
func TestInvalidTargetDial(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	b := newBuilder(t, cli)
	u, _ := url.Parse("mastership:///x?role=boss")
	if _, err := b.Build(resolver.Target{URL: *u}, newFakeConn(), resolver.BuildOptions{}); !errors.Is(err, ErrInvalidTarget) {
		t.Fatalf("Build: %v, want ErrInvalidTarget", err)
	}
	cc, err := grpc.NewClient("mastership:///x?role=boss", grpc.WithResolvers(b), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		if !strings.Contains(err.Error(), `role "boss"`) {
			t.Fatalf("NewClient: %v; want it to name the role", err)
		}
		return
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_, err = clientOf(cc).UnaryCall(ctx, &simpleRequest)
	if s := status.Convert(err); s.Code() != codes.Unavailable || !strings.Contains(s.Message(), `role "boss"`) {
		t.Fatalf("call on an invalid target: %v; want Unavailable naming the role", err)
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	ctx := ctxFor(t, waitTime)
	for _, tc := range []struct {
		name  string
		err   error
		build func() error
	}{
		{"client", ErrInvalidConfig, func() error { _, err := NewBuilder(nil); return err }},
		{"Logger", ErrInvalidConfig, func() error { _, err := NewBuilder(cli, WithLogger(nil)); return err }},
		{"ReadTimeout", ErrInvalidConfig, func() error { _, err := NewBuilder(cli, WithReadTimeout(0)); return err }},
		{"ReadTimeout", ErrInvalidConfig, func() error { _, err := NewBuilder(cli, WithReadTimeout(-time.Second)); return err }},
		{"Option", ErrInvalidConfig, func() error { _, err := NewBuilder(cli, nil); return err }},
		{"DialOptions", ErrInvalidConfig, func() error { _, err := NewBuilder(cli, WithDialOptions()); return err }},
		{"DialOptions", ErrInvalidConfig, func() error {
			_, err := NewDirectory(ctx, cli, "/p", WithDialOptions(nil))
			return err
		}},
		{"parent", ErrInvalidConfig, func() error { _, err := NewDirectory(ctx, cli, ""); return err }},
		{"parent", ErrInvalidConfig, func() error { _, err := NewDirectory(ctx, cli, "services"); return err }},
		{"client", ErrInvalidConfig, func() error { _, err := NewDirectory(ctx, nil, "/p"); return err }},
		{"Logger", ErrInvalidConfig, func() error { _, err := NewDirectory(ctx, cli, "/p", WithLogger(nil)); return err }},
	} {
		err := tc.build()
		if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s: %v; want %v naming %s", tc.name, err, tc.err, tc.name)
		}
	}
	b, err := NewBuilder(cli, WithLogger(slog.New(slog.DiscardHandler)), WithReadTimeout(time.Second))
	if err != nil || b.Scheme() != Scheme {
		t.Fatalf("valid options: %v, scheme %q", err, b.Scheme())
	}
}

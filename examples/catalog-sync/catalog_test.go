package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/selector"
)

func TestIsSecret(t *testing.T) {
	for k, want := range map[string]bool{
		"connection-password": true, "PASSWORD": true, "hive.s3.aws-secret-key": true, "auth.token": true,
		"keystore-path": true, "Credentials-File": true, "db.passwd": true,
		"connection-url": false, "connection-user": false, "catalog": false, "": false,
	} {
		if got := IsSecret(k); got != want {
			t.Errorf("IsSecret(%q) = %v, want %v", k, got, want)
		}
	}
}

func TestRedactedEverywhere(t *testing.T) {
	c := Catalog{Name: "pg", Connector: "postgresql", Revision: 7,
		Properties: Properties{"connection-password": "hunter2", "connection-url": "jdbc:x"}}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "catalog", c, "props", c.Properties)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "catalog", c, "props", c.Properties)
	fmt.Fprintf(&buf, "%v %+v %s", c, c, c.Properties)
	if s := buf.String(); strings.Contains(s, "hunter2") || !strings.Contains(s, "jdbc:x") {
		t.Errorf("output %s: want the url and no password", s)
	}
	if c.Properties["connection-password"] != "hunter2" {
		t.Errorf("redaction changed the catalog itself")
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		c    Catalog
		want string // "" for valid
	}{
		{Catalog{Name: "pg_1", Connector: "postgresql"}, ""},
		{Catalog{Name: "", Connector: "x"}, "name"},
		{Catalog{Name: "Upper", Connector: "x"}, "name"},
		{Catalog{Name: "_x", Connector: "x"}, "name"},
		{Catalog{Name: "a/b", Connector: "x"}, "name"},
		{Catalog{Name: strings.Repeat("a", 65), Connector: "x"}, "name"},
		{Catalog{Name: "..", Connector: "x"}, "name"},
		{Catalog{Name: "a.properties", Connector: "x"}, "name"},
		{Catalog{Name: "system", Connector: "x"}, "reserved"},
		{Catalog{Name: "pg", Connector: "x", Properties: Properties{"connector.name": "y"}}, "connector"},
		{Catalog{Name: "pg", Connector: " "}, "connector"},
		{Catalog{Name: "pg", Connector: "x", Properties: Properties{"": "v"}}, "properties"},
	} {
		err := tc.c.validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v, want valid", tc.c, err)
		case tc.want != "" && (!errors.Is(err, errInvalid) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: %v, want an error naming %s", tc.c, err, tc.want)
		}
	}
}

func TestStatusOf(t *testing.T) {
	cats := []Catalog{
		{Name: "b", Revision: 10},
		{Name: "a", Revision: 5},
		{Name: "d", Revision: 12, Dropping: true},
	}
	for _, tc := range []struct {
		name    string
		applied map[string]int64
		want    string // name:state:lagging for a, b, d
	}{
		{"no workers", map[string]int64{}, "a:ready: b:ready: d:dropping:"},
		{"all applied", map[string]int64{"w1": 12, "w2": 20}, "a:ready: b:ready: d:dropping:"},
		{"exactly at the revision", map[string]int64{"w1": 10, "w2": 5}, "a:ready: b:pending:w2 d:dropping:w1,w2"},
		{"a new worker", map[string]int64{"w1": 12, "w0": 0}, "a:pending:w0 b:pending:w0 d:dropping:w0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, s := range statusOf(cats, tc.applied) {
				got = append(got, s.Name+":"+s.State+":"+strings.Join(s.Lagging, ","))
				if s.Workers != len(tc.applied) {
					t.Errorf("%s: workers %d, want %d", s.Name, s.Workers, len(tc.applied))
				}
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("got %s, want %s", g, tc.want)
			}
		})
	}
}

func TestBadArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"fly"}, "fly"},
		{[]string{"worker", "--id", "w"}, "--prefix"},
		{[]string{"worker", "--prefix", "/p"}, "--id"},
		{[]string{"coordinator", "--prefix", "/p", "--id", "c", "--ttl", "1500ms"}, "--ttl"},
		{[]string{"worker", "--prefix", "/p", "--id", "w", "--endpoints", ""}, "--endpoints"},
		{[]string{"put", "pg"}, "--connector"},
		{[]string{"put", "--connector", "x"}, "name"},
		{[]string{"drop", "a", "b"}, "name"},
		{[]string{"status", "--coordinator", "ftp://x"}, "--coordinator"},
		{[]string{"status", "--coordinator", "ftp://admin:s3cr3t@x"}, "--coordinator"},
		{[]string{"status", "--coordinator", "http://admin:s3cr3t@x:bad"}, "--coordinator"},
		{[]string{"put", "pg", "--connector", "x", "--property", "s3cr3t"}, "--property"},
		{[]string{"put", "pg", "--connector", "x", "--property-file", "/nonexistent"}, "--property-file"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb strings.Builder
			if code := run(context.Background(), tc.args, &out, &errb); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			msg := errb.String()
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, "s3cr3t") {
				t.Errorf("stderr %q: want it to name %s, and no secret", msg, tc.want)
			}
			if out.Len() != 0 && !slices.Contains(tc.args, "--help") {
				t.Errorf("stdout %q, want nothing", out.String())
			}
		})
	}
}

// TestMalformedEndpoint: an endpoint without a port is refused at once by
// both roles that reach etcd, in one line naming --endpoints and the
// element, with the exit code of any bad flag, rather than retried for the
// whole start-up wait as if etcd were down.
func TestMalformedEndpoint(t *testing.T) {
	for _, role := range []string{"coordinator", "worker"} {
		t.Run(role, func(t *testing.T) {
			// The context ends the run only if the endpoint is not refused.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var out, errb strings.Builder
			start := time.Now()
			code := run(ctx, []string{role, "--endpoints", "127.0.0.1", "--prefix", "/p", "--id", "a", "--listen", "127.0.0.1:0"}, &out, &errb)
			took := time.Since(start)
			t.Logf("ended after %v", took)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if took > 5*time.Second {
				t.Errorf("ended after %v, want at once (the start-up wait is %v)", took, startWait+2*selector.DefaultTTL)
			}
			want := "catalog-sync " + role + `: --endpoints: "127.0.0.1" has no port (want host:port`
			if msg := errb.String(); strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, want) {
				t.Errorf("stderr = %q, want one line starting %q", msg, want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", out.String())
			}
		})
	}
}

func TestDecodeErrorsShowNoValue(t *testing.T) {
	for _, v := range []string{`{"properties":{"password":"hunter2`, `hunter2`, `{"connector":"x","properties":{"password":7}}`} {
		_, err := decodeCatalog("pg", []byte(v), 3)
		if err == nil || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "'h'") {
			t.Errorf("decode %q: %v, want an error that shows nothing of the value", v, err)
		}
	}
}

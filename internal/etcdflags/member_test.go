package etcdflags

import (
	"flag"
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
		{[]string{"--prefix", "/p", "--id", "a", "--ttl", "1500ms"}, "--ttl"},
		{[]string{"--prefix", "/p", "--id", "a", "--ttl", "500ms"}, "--ttl"},
		{[]string{"--prefix", "/p", "--id", "a", "--ttl", "0s"}, "--ttl"},
		{[]string{"--prefix", "/p", "--id", "a", "--ttl", "-2s"}, "--ttl"},
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

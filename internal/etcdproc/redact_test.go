package etcdproc

import (
	"strings"
	"testing"
)

// TestRedacted: no password of an etcdctl command line reaches an error.
func TestRedacted(t *testing.T) {
	args := []string{"user", "add", "u", "--new-user-password", "pw1", "--password=pw2", "--new-user-password=pw3", "--user", "root:pw4", "--user=root:pw5", "get", "/k"}
	got := strings.Join(redacted(args), " ")
	for _, pw := range []string{"pw1", "pw2", "pw3", "pw4", "pw5"} {
		if strings.Contains(got, pw) {
			t.Errorf("redacted(%q) = %q, shows %s", args, got, pw)
		}
	}
	if want := "user add u --new-user-password REDACTED --password=REDACTED --new-user-password=REDACTED --user root:REDACTED --user=root:REDACTED get /k"; got != want {
		t.Errorf("redacted = %q, want %q", got, want)
	}
}

package proctest

import (
	"strings"
	"testing"
	"time"
)

// Refusals are flag combinations that every program refuses at once, in
// one line naming the flag (and the endpoint), without showing what follows
// the colon of --user: TLS flags with an http:// endpoint (clientv3 would
// drop TLS and send the password in clear), etcdctl's --user name:password,
// and a TTL over the maximum, or so large that twice it overflows.
var Refusals = []struct {
	Args []string
	Want []string
}{
	{[]string{"--endpoints", "http://127.0.0.1:2379", "--cacert", "ca.pem"}, []string{"--cacert ca.pem", "http://127.0.0.1:2379"}},
	{[]string{"--endpoints", "http://127.0.0.1:2379", "--cert", "c.pem", "--key", "k.pem"}, []string{"--cert c.pem", "http://127.0.0.1:2379"}},
	{[]string{"--endpoints", "127.0.0.1:2379,http://127.0.0.1:2380", "--cacert", "ca.pem"}, []string{"--cacert ca.pem", "http://127.0.0.1:2380"}},
	{[]string{"--user", "svc:" + ColonSecret}, []string{"--user"}},
	{[]string{"--ttl", "100000h"}, []string{"--ttl", "1h0m0s"}},
	{[]string{"--ttl", "2562047h"}, []string{"--ttl", "1h0m0s"}},
}

// ColonSecret stands for the password a user writes after --user name:.
const ColonSecret = "Pw-after-colon-71f3"

// CheckRefused checks one refusal: at once, exit code wantCode, one line on
// standard error naming every want, nothing on standard output, and the
// password nowhere.
func CheckRefused(t *testing.T, took time.Duration, code, wantCode int, stdout, stderr string, want []string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("exit code %d, want %d", code, wantCode)
	}
	if took > 5*time.Second {
		t.Errorf("ended after %v, want at once", took)
	}
	if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("stderr = %q, want one line", stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr = %q, want it to name %q", stderr, w)
		}
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	if strings.Contains(stderr+stdout, ColonSecret) {
		t.Errorf("the output shows the password given after --user's colon: %q", stderr+stdout)
	}
}

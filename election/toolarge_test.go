package election

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// tooLargeCases are values over etcd's request limit (--max-request-bytes,
// 1.5 MiB in etcdtest, etcd's default), and what the error must say.
var tooLargeCases = []struct {
	name   string
	size   int
	reason string
}{
	// Over etcd's limit, under gRPC's: etcd's own error.
	{"1.6 MiB", 1600 << 10, rpctypes.ErrRequestTooLarge.Error()},
	// Over gRPC's message limit (2 MiB in clientv3 and in etcd): the client
	// does not send it.
	{"2 MiB", 2 << 20, "message larger than max"},
}

func checkTooLarge(t *testing.T, what string, err error, reason string, took time.Duration) {
	t.Helper()
	if took > 3*time.Second {
		t.Errorf("%s took %v to fail, want under 3s", what, took)
	}
	if !errors.Is(err, ErrValueTooLarge) {
		t.Fatalf("%s = %v, want ErrValueTooLarge", what, err)
	}
	for _, want := range []string{reason, "--max-request-bytes", "a value of"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q does not say %q", what, err, want)
		}
	}
}

// Run ends at once when its value is too large for etcd, rather than
// campaign again and again until its context ends.
func TestRunValueTooLarge(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	for _, tc := range tooLargeCases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(cli, prefixOf(t), WithTTL(testTTL), WithValue(strings.Repeat("x", tc.size)))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = e.Run(ctxFor(t, 30*time.Second), Callbacks{OnStartedLeading: func(context.Context) { t.Error("leads with a value etcd refused") }})
			checkTooLarge(t, "Run", err, tc.reason, time.Since(start))
			if kvs, _ := keys(t, cli, prefixOf(t)); len(kvs) != 0 {
				t.Errorf("%d keys left under the prefix", len(kvs))
			}
		})
	}
}

// Proclaim refuses at once a value too large for etcd; the leadership and
// its value stay.
func TestProclaimValueTooLarge(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	r := newRecorder()
	a := start(t, r, cli, prefix, "a")
	r.waitFor(t, 0, waitTime, "a leads", is("a", started))
	for _, tc := range tooLargeCases {
		start := time.Now()
		err := a.Proclaim(ctxFor(t, 30*time.Second), strings.Repeat("x", tc.size))
		checkTooLarge(t, "Proclaim "+tc.name, err, tc.reason, time.Since(start))
	}
	if !a.IsLeader() {
		t.Fatal("a no longer leads after the refused Proclaims")
	}
	if kv := waitKey(t, cli, prefix, waitTime, "a's key", valued("a")); kv == nil {
		t.Fatal("a's key lost its value")
	}
}

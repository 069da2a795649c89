package election

import "strings"

// Leader is the leader of an election, or no leader (the zero Leader).
type Leader struct {
	// Key is the leader's key in etcd.
	Key string
	// ID is the last segment of Key: the lease id in hex for a
	// concurrency.Election candidate (this package's too), the member id
	// for a selector member.
	ID string
	// Value is the value of the leader's key.
	Value string
	// Epoch is the CreateRevision of the leader's key. It grows with each
	// new leadership, so it serves as a fencing token.
	Epoch int64
}

// IsZero reports whether l is "no leader".
func (l Leader) IsZero() bool { return l.Key == "" }

func leaderOf(key, value string, createRev int64) Leader {
	return Leader{Key: key, ID: key[strings.LastIndex(key, "/")+1:], Value: value, Epoch: createRev}
}

package health

import (
	"github.com/seed764c596d/mastership/election"
	"github.com/seed764c596d/mastership/selector"
)

// ElectionSource is an election candidate: an *election.Election, or
// anything that takes the same snapshots.
type ElectionSource interface {
	// Stats returns a snapshot of the candidate; it must be cheap and safe
	// for concurrent use, as Election.Stats is.
	Stats() election.Stats
}

// FromElection makes an election candidate a Source, for NewHandler and
// NewServer. The candidate counts as registered (state REFRESH, role SLAVE)
// while its Run has a live session, whose key takes part in the election,
// and as MASTER while it leads; otherwise it is OFFLINE with no role. Its
// id is empty.
func FromElection(e ElectionSource) Source {
	if e == nil {
		return nil
	}
	return candidate{e}
}

type candidate struct{ e ElectionSource }

func (c candidate) Stats() selector.Stats {
	es := c.e.Stats()
	st := selector.Stats{
		Prefix:        es.Prefix,
		State:         selector.Offline,
		TTL:           es.TTL,
		KeepAliveRTT:  es.KeepAliveRTT,
		LastKeepAlive: es.LastKeepAlive,
		SafeDeadline:  es.SafeDeadline,
		UntilDeadline: es.UntilDeadline,
		Time:          es.Time,
	}
	if !es.SafeDeadline.IsZero() {
		st.State, st.Role, st.Epoch = selector.Refresh, selector.Slave, es.Observed.Epoch
	}
	if es.Leader {
		st.State, st.Role, st.Epoch = selector.Refresh, selector.Master, es.Epoch
	}
	return st
}

package election

import (
	"testing"

	"github.com/seed764c596d/mastership/status"
)

// checkSession checks the lease fields of a candidate's snapshot while its
// session lives.
func checkSession(t *testing.T, who string, st Stats) {
	t.Helper()
	if st.TTL != testTTL || st.KeepAliveRTT <= 0 || st.KeepAliveRTT > st.TTL {
		t.Errorf("%s: TTL %v, KeepAliveRTT %v; want %v and a round trip within it", who, st.TTL, st.KeepAliveRTT, testTTL)
	}
	if age := st.Time.Sub(st.LastKeepAlive); st.LastKeepAlive.IsZero() || age < 0 || age > st.TTL {
		t.Errorf("%s: LastKeepAlive %v before the snapshot, want within the TTL", who, age)
	}
	if st.UntilDeadline <= 0 || st.UntilDeadline > st.TTL || !st.SafeDeadline.Equal(st.Time.Add(st.UntilDeadline)) {
		t.Errorf("%s: SafeDeadline %v, UntilDeadline %v at %v; want a deadline within the TTL ahead", who, st.SafeDeadline, st.UntilDeadline, st.Time)
	}
}

// Stats follows a leader and a follower through a hand-over and the end
// of Run.
func TestStats(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	r := newRecorder()

	a := start(t, r, cli, prefix, "a")
	r.waitFor(t, 0, waitTime, "a leading", is("a", started))
	b := start(t, r, cli, prefix, "b")
	r.waitFor(t, 0, waitTime, "b sees a", reports("b", "a"))
	waitKey(t, cli, prefix, waitTime, "b's key", valued("b"))

	sa, sb := a.Stats(), b.Stats()
	if sa.Prefix != prefix+"/" || sa.ID != "" || sa.Role != status.Master || sa.State != status.Refresh || sa.Epoch == 0 || sa.Epoch != a.Epoch() || sa.Terms != 1 || sa.Sessions != 1 {
		t.Errorf("a: Prefix %q, ID %q, Role %v, State %v, Epoch %d (Epoch() %d), Terms %d, Sessions %d; want %s/, no id, MASTER, REFRESH, its epoch, 1, 1",
			sa.Prefix, sa.ID, sa.Role, sa.State, sa.Epoch, a.Epoch(), sa.Terms, sa.Sessions, prefix)
	}
	// A follower's epoch is the leader's it sees, as a slave's is the
	// master's.
	if sb.Role != status.Slave || sb.State != status.Refresh || sb.Epoch != sa.Epoch || sb.Terms != 0 || sb.Sessions != 1 || sb.Observed.Value != "a" || sb.Observed.Epoch != sa.Epoch {
		t.Errorf("b: Role %v, State %v, Epoch %d, Terms %d, Sessions %d, Observed %+v; want a SLAVE in REFRESH following a (epoch %d)", sb.Role, sb.State, sb.Epoch, sb.Terms, sb.Sessions, sb.Observed, sa.Epoch)
	}
	checkSession(t, "a", sa)
	checkSession(t, "b", sb)

	m := r.mark()
	if err := a.Resign(ctxFor(t, waitTime)); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, m, waitTime, "b leading", is("b", started))
	sa, sb = a.Stats(), b.Stats()
	if sa.Role != status.Slave || sa.Terms != 1 || sa.Sessions != 1 {
		t.Errorf("a after Resign: Role %v, Terms %d, Sessions %d; want a SLAVE, 1 term, its first session", sa.Role, sa.Terms, sa.Sessions)
	}
	if sb.Role != status.Master || sb.Epoch == 0 || sb.Epoch != b.Epoch() || sb.Terms != 1 {
		t.Errorf("b after a resigned: Role %v, Epoch %d (Epoch() %d), Terms %d; want MASTER, its epoch, 1 term", sb.Role, sb.Epoch, b.Epoch(), sb.Terms)
	}

	last := a.Stats().LastKeepAlive
	a.stop()
	sa = a.Stats()
	if sa.Role != status.NoRole || sa.State != status.Offline || sa.Epoch != 0 || !sa.SafeDeadline.IsZero() || sa.UntilDeadline != 0 || sa.LastKeepAlive.Before(last) {
		t.Errorf("a after Run returned: Role %v, State %v, Epoch %d, SafeDeadline %v, UntilDeadline %v, LastKeepAlive %v (was %v); want NONE, OFFLINE, 0, no session, the last keep-alive kept",
			sa.Role, sa.State, sa.Epoch, sa.SafeDeadline, sa.UntilDeadline, sa.LastKeepAlive, last)
	}
}

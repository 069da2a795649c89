package status

import "testing"

// The names are those the node program prints and the metrics label: a
// change here would break dashboards and parsers.
func TestNames(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{NoRole.String(), "NONE"},
		{Slave.String(), "SLAVE"},
		{Master.String(), "MASTER"},
		{Role(7).String(), "Role(?)"},
		{Init.String(), "INIT"},
		{Refresh.String(), "REFRESH"},
		{Offline.String(), "OFFLINE"},
		{State(-1).String(), "State(?)"},
	} {
		if tc.got != tc.want {
			t.Errorf("%q, want %q", tc.got, tc.want)
		}
	}
}

// Status's lease fields are promoted: code reads st.TTL as it did when
// the fields were the Stats' own.
func TestLeasePromoted(t *testing.T) {
	st := Status{Lease: Lease{TTL: 5}}
	if st.TTL != 5 {
		t.Errorf("st.TTL = %v, want the lease's", st.TTL)
	}
}

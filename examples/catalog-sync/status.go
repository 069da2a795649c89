package main

import (
	"cmp"
	"slices"
)

// The states a catalog's status reports.
const (
	// StateReady: every live worker has applied the catalog's revision.
	StateReady = "ready"
	// StatePending: some live workers have not; Lagging names them.
	StatePending = "pending"
	// StateDropping: the first phase of a drop. Lagging names the live
	// workers that have not stopped new use yet; once there are none, the
	// master coordinator deletes the key and workers release it.
	StateDropping = "dropping"
)

// Status is what the coordinator reports of one catalog.
type Status struct {
	Name       string     `json:"name"`
	Connector  string     `json:"connector"`
	Properties Properties `json:"properties"` // redacted
	Revision   int64      `json:"revision"`
	State      string     `json:"state"`
	// Workers is the number of live workers.
	Workers int `json:"workers"`
	// Lagging are the live workers that have not applied Revision, by id.
	Lagging []string `json:"lagging"`
}

// statusOf reports each catalog against the live workers' applied
// revisions, by catalog name. A catalog is ready when no live worker lags;
// with no live worker at all, every catalog is ready, since no worker can
// use a stale one.
func statusOf(cats []Catalog, applied map[string]int64) []Status {
	out := make([]Status, 0, len(cats))
	for _, c := range cats {
		s := Status{Name: c.Name, Connector: c.Connector, Properties: c.Properties.Redacted(),
			Revision: c.Revision, Workers: len(applied), Lagging: []string{}}
		for id, rev := range applied {
			if rev < c.Revision {
				s.Lagging = append(s.Lagging, id)
			}
		}
		slices.Sort(s.Lagging)
		switch {
		case c.Dropping:
			s.State = StateDropping
		case len(s.Lagging) == 0:
			s.State = StateReady
		default:
			s.State = StatePending
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Status) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

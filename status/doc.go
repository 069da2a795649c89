// Package status is the snapshot of a member that health checks and
// metrics read: its role, the state of its registration, the epoch of the
// master it sees and the state of its lease, taken at one instant. A member
// of the selector package and a candidate of the election package both
// give it (their Status method), so that package health and package metrics
// serve either without knowing which.
//
// Each package's own Stats embeds a Status and adds its counters.
//
// The package is at the bottom of the module, beside events, the only
// package of the module it imports; it imports nothing of etcd. Its types are plain values, safe to copy
// and to read from any goroutine.
package status

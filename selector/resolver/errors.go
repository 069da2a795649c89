package resolver

import "errors"

// Sentinel errors. Errors of this package wrap them, so test with
// errors.Is. The errors that reach gRPC calls (ErrNoMaster, ErrNoSlave,
// ErrNoAddress, ErrUnreachable) name the group: a call fails with
// codes.Unavailable and a message such as
// "resolver: no master for /services/db".
var (
	// ErrInvalidConfig: an argument or option of NewBuilder or
	// NewDirectory is invalid. The wrapping error names the field.
	ErrInvalidConfig = errors.New("resolver: invalid config")
	// ErrInvalidTarget: a dial target is not mastership:///<prefix>, with
	// an optional ?role=master or ?role=slave. The wrapping error says why.
	ErrInvalidTarget = errors.New("resolver: invalid target")
	// ErrNoMaster: the group has no live member.
	ErrNoMaster = errors.New("resolver: no master")
	// ErrNoSlave: the group has no live member but its master.
	ErrNoSlave = errors.New("resolver: no slave")
	// ErrNoAddress: the members asked for have an empty value, which is
	// their address.
	ErrNoAddress = errors.New("resolver: member has no address")
	// ErrUnreachable: the group could not be read from etcd. A resolver
	// that knew addresses before keeps them meanwhile (gRPC's balancers
	// ignore a resolver error after a good update); one that knew none
	// fails calls with this error.
	ErrUnreachable = errors.New("resolver: etcd unreachable")
	// ErrNoGroup: Directory.Conn was asked for a group that has no live
	// member, or the group lost its last member while Conn waited.
	ErrNoGroup = errors.New("resolver: no such group")
	// ErrClosed: the Directory is closed.
	ErrClosed = errors.New("resolver: directory closed")
)

package main

import "errors"

// ErrNotRegistered: the node is not registered right now (it lost its
// registration and is registering again), so its metadata could not be
// written. The new metadata is kept and written when it registers again.
var ErrNotRegistered = errors.New("peer: not registered; metadata kept for the next registration")

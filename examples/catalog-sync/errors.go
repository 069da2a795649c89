package main

import "errors"

// Sentinel errors of Worker.Use.
var (
	ErrUnknownCatalog = errors.New("catalog-sync: no such catalog")
	ErrDropping       = errors.New("catalog-sync: catalog is being dropped")
)

// ErrRefused, wrapped in the error of a Connector's Apply, says that the
// catalog can never be applied as it is (a name no file may have, say): the
// worker logs it and skips that version of the catalog instead of retrying.
var ErrRefused = errors.New("catalog-sync: catalog refused by the connector")

// errInvalid marks a bad catalog in a request; the wrapping error names the
// field.
var errInvalid = errors.New("catalog-sync: invalid catalog")

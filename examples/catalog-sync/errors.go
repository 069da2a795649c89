package main

import "errors"

// Sentinel errors of Worker.Use.
var (
	ErrUnknownCatalog = errors.New("catalog-sync: no such catalog")
	ErrDropping       = errors.New("catalog-sync: catalog is being dropped")
)

// errInvalid marks a bad catalog in a request; the wrapping error names the
// field.
var errInvalid = errors.New("catalog-sync: invalid catalog")

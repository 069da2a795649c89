// Package doccheck holds a test that every exported name of the library
// packages has a doc comment, as pkg.go.dev shows them. It has no code.
package doccheck

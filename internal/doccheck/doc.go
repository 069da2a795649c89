// Package doccheck holds the tests of the documentation: every exported name
// of the library packages has a doc comment, as pkg.go.dev shows them, and
// every whole Go program in the Markdown documents compiles. It has no code.
package doccheck

// Package proctest runs an example program as a child process in its own
// tests, so that a test can send it real signals (SIGTERM, SIGKILL,
// SIGSTOP) and read what it prints.
//
// The test binary doubles as the program: Start runs it again with an
// environment variable set, and the package's TestMain, through Main, runs
// the program's main instead of the tests when it sees that variable.
package proctest

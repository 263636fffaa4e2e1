// Package testkit is the kit of the tests that drive wdtcancel from the
// outside (the end-to-end test, the fault suite, the command's tests): build
// the binary, start its processes and capture their output, run a CLI
// command to completion, find a free port and wait for a listener, GET an
// HTTP JSON answer, scan text for secrets, and read both views of a run for
// package reconcile.
//
// It imports testing, so only _test.go files may import it; the shipped
// binary links no test kit (cmd/wdtcancel's TestBinaryLinksNoTestKit).
package testkit

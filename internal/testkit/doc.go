// Package testkit is the one test kit: a Redis per test, stopped with it
// (redis.go), which a test may stop, kill, restart (redisproc.go) or fill
// until it refuses writes (redisfill.go); Sentinel and Cluster topologies
// of real servers (topology.go); waits on events with a failsafe deadline
// (wait.go); and for the tests that drive wdtcancel from the outside (the end-to-end test, the
// fault suite, the command's tests): build the binary, start its processes
// and capture their output, run a CLI command to completion, find a free
// port and wait for a listener, GET an HTTP JSON answer, scan text for
// secrets. Its sub-package runview reads both views of a run for package
// reconcile; it knows the product, so it lives apart (the store's own tests
// use this package).
//
// Waiting: tests wait on events instead of on time: block until
// the event the test needs has happened, with a failsafe timeout that only
// ever fails a test (river's WaitOrTimeout). A test built on it passes or
// fails by what happened, never by how long it took, and sleeps no fixed
// time to let things happen. The few time.Sleep left in _test.go files
// (the fault suite's) are an outside actor's pace, an outage's length or a
// producer's pause between tries, each with a comment saying why no event
// marks it.
//
// Where the code under test announces an event (a worker's OnAttempt, a
// sandbox hook, a process exiting, a command's output), record it in a Log
// or send it on a channel and Wait or Recv on it. Where a test must observe
// state that announces nothing (a task's state in asynq, a TTL running out
// in Redis, an HTTP endpoint's answer), Until polls a condition, the
// deadline again only a failsafe.
//
// It imports testing, so only _test.go files may import it; the shipped
// binary links no test kit (cmd/wdtcancel's TestBinaryLinksNoTestKit).
package testkit

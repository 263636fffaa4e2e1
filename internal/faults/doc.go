// Package faults is wdtcancel's fault suite: Go tests behind the "faults"
// build tag that run the real binary as separate processes (sandbox,
// workers, enqueue, api, dlq) against a real redis-server, inject faults
// (killed workers, Redis restarts and outages, a hostile API, bad input, a
// DLQ larger than asynq's archive, SIGTERM under load, a gateway that
// answers out of turn on a kept-alive connection) and check the
// sandbox's ground truth against wdtcancel's view with package reconcile,
// by the rules the demo and the end-to-end test use too. Each scenario
// prints its figures and fails when anything is lost or misfiled, or when an
// order is given up (exhausted): no scenario's faults outlast the retry
// schedule. The processes, ports and secret scan come from package testkit.
//
//	make faults-short   # the CI version
//	make faults         # full size (go test -tags faults ./internal/faults -faults.full)
package faults

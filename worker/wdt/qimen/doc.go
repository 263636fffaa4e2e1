// Package qimen looks a return pre-stockin order up in WDT through the
// Qimen custom route (奇门自定义), the only route on which WDT serves
// wms.stockin.PreStockin.search (as wdt.wms.stockin.prestockin.search).
//
// It exists so that the worker can settle a doubtful cancel (a status 100
// after an unknown outcome, retries used up) by the order's real state
// instead of by its own memory. It is read-only: a lookup never changes an
// order, so any failure may simply be retried.
//
// A call is signed twice (see Sign and TopSign): WDT's own wdt_sign over the
// API parameters, pinned by vectors produced by running WDT's helper code,
// and Taobao TOP's md5 signature over every parameter. Every answer is read
// strictly (one JSON object, no duplicate keys, canonical integers) and is
// either a Result or an *Error whose Category says what the caller should
// do; nothing that is not a well-formed success ever becomes a Result.
//
// The package must never let a secret (the Qimen appsecret, the WDT secret
// or salt), a signature or the signed URL reach an error, a String() result
// or a log line, even when a server echoes them back. It reuses package
// wdt's credentials, clock and redaction rules rather than copies of them.
//
// It must not decide what a looked-up state means for a task: that is the
// worker's policy (worker.Decide).
package qimen

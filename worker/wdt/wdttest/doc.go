// Package wdttest is a faithful fake of the WDT open API: the sandbox.
//
// It verifies requests the way WDT does (content type, v, sid, key, salt, the
// signature over the received body bytes, the ±120 s timestamp window) and
// answers with the vendor's statuses and messages. It implements
// wms.stockin.PreStockin.cancel on an in-memory store of orders, enforces
// per-minute quotas with the vendor's rate-limit messages, and injects
// reproducible faults (latency, gateway errors, resets, lost responses).
//
// Tests start it in-process with NewServer; `wdtcancel sandbox` runs the same
// handler standalone. It must stay a fake that can say no: it is the only
// WDT the tests, the demo and integrators without a test account ever see.
package wdttest

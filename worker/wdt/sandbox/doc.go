// Package sandbox is a faithful fake of the WDT open API: the sandbox.
//
// It verifies requests the way WDT does (content type, v, sid, key, salt, the
// signature over the received body bytes, the ±120 s timestamp window) and
// answers with the vendor's statuses and messages. It implements
// wms.stockin.PreStockin.cancel on an in-memory store of orders, enforces
// per-minute quotas with the vendor's rate-limit messages (both documented
// punctuations), and injects reproducible faults: latency; gateway errors,
// redirects and lax JSON in front of WDT, which leave the order alone; and
// garbled or lost answers after WDT applied the call. Faults documents what
// each fault sends and the order a seed draws them in.
//
// Routes: POST /openapi (the API), /_sandbox/elsewhere (the redirect
// fault's decoy), GET /_sandbox/stats, GET /_sandbox/orders,
// GET and PUT /_sandbox/orders/{no} (inspect an order, or set its state as
// an operator would in WDT), GET /healthz. Anything else is a JSON 404 or
// 405.
//
// One Sandbox is one seller. NewMulti serves several on one address, as WDT
// serves every seller on one endpoint: each seller a whole Sandbox, calls
// routed by their sid and verified with that seller's secret, the
// inspection endpoints taking ?seller=NAME (see Multi).
//
// Tests start it in-process with NewServer or NewMultiServer; `wdtcancel sandbox` runs the same
// handler standalone. It must stay a fake that can say no: it is the only
// WDT the tests, the demo and integrators without a test account ever see.
package sandbox

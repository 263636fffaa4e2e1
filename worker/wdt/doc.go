// Package wdt is a client for the Wangdiantong flagship (旗舰版) open API.
//
// It does three things the API makes hard: it signs every request exactly as
// the vendor specifies (see Sign), it keeps the local clock in step with the
// server's (the API refuses timestamps more than 120 s off), and it turns every
// response into either success or a typed *Error whose Category says what the
// caller should do next (see "Outcome policy" in docs/architecture.md).
//
// An answer is definite only when WDT demonstrably said something: a
// well-formed envelope (read strictly, see ParseResponse) with a status that
// proves what happened. Once the request was written, anything else is
// UnknownOutcome, since the cancel may have been applied. What cannot heal by
// itself (a WDT status naming a configuration fault, a redirect, which the
// client never follows, a 404 or 405, a TLS certificate that does not verify)
// is Config, and Fix says what to change. The package decides categories;
// what to do with them (retry, back off, dead-letter) is the worker's policy.
//
// The package must never let the appsecret, its secret and salt parts, the
// signature or the request URL (which carries the salt) reach an error string,
// a String() result or a log line, even when a server echoes them back.
package wdt

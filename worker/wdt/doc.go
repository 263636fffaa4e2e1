// Package wdt is a client for the Wangdiantong flagship (旗舰版) open API.
//
// It does three things the API makes hard: it signs every request exactly as
// the vendor specifies (see Sign), it keeps the local clock in step with the
// server's (the API refuses timestamps more than 120 s off), and it turns every
// response into either success or a typed *Error whose Category says what the
// caller should do next (see the outcome table in DESIGN.md).
//
// The package must never let the appsecret, its secret and salt parts, the
// signature or the request URL (which carries the salt) reach an error string,
// a String() result or a log line.
package wdt

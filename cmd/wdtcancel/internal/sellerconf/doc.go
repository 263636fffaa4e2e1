// Package sellerconf reads whom the worker calls WDT for, and how: one
// seller's flags (WDT, with --reuse-connections), or the sellers file of
// several (sellers.go, docs/sellers.md), each seller's Qimen lookup
// (qimen.go) and its own webhook (notify.go). It validates them into
// plain values with wdt.Credentials (WDT.Client builds the one seller's
// client; cmd/wdtcancel builds the others' from the values). It lives beside the command, not in internal/config, because it
// speaks worker/wdt's credentials and errors (wdt.ErrConfig), and nothing
// under internal/ may import the worker side.
package sellerconf

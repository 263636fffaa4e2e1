// Package config turns flags and environment variables into the settings
// the commands share: the Redis connection (a single node, Sentinel or
// Cluster, with the replica wait of durable writes) and the checks a
// command may waive (eviction, volatility, unknown sellers). Flags win
// over environment variables; which flag reads which variable is
// EnvNameFor, for every command. It builds values and checks them; it
// starts nothing. Whom the worker calls WDT for (the WDT flags, the
// sellers file, Qimen and webhook settings) is cmd/wdtcancel's
// internal/sellerconf: it speaks worker/wdt, which nothing under internal/
// may import.
package config

package main

import (
	"net"

	"github.com/spf13/pflag"
)

// opsListenFallback is, for the --listen flag f, where a worker's ops server goes when --listen was
// left at its default and that port is busy (a second worker, or the demo,
// on the same host): any free port on the same host, logged loudly. An
// explicit --listen or WDTCANCEL_LISTEN gets no fallback: the operator
// chose that address, so a busy one fails with what to do.
func opsListenFallback(f *pflag.Flag) string {
	if f == nil || f.Changed || f.DefValue == "" {
		return ""
	}
	host, _, err := net.SplitHostPort(f.DefValue)
	if err != nil {
		return ""
	}
	return net.JoinHostPort(host, "0")
}

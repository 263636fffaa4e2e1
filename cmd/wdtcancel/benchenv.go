package main

import "strings"

// benchWorkerEnv is the environment of a worker process the bench starts:
// the caller's environment without any variable a wdtcancel command reads
// (an exported production REDIS_URL, or a WDTCANCEL_RATE_PER_MINUTE that
// would throttle the measurement), plus the bench's own.
func benchWorkerEnv(environ, own []string) []string {
	env := make([]string, 0, len(environ)+len(own))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "WDTCANCEL_") || strings.HasPrefix(name, "REDIS_") || strings.HasPrefix(name, "WDT_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, own...)
}

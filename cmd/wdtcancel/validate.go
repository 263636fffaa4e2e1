package main

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/wdtcancel/wdtcancel/internal/config"
)

// positiveFlags have no meaning at 0 or below, per top-level command. The
// packages behind them replace such a value by their default, which hid a
// typo (`--concurrency 0` ran 10); the command refuses it instead.
var positiveFlags = map[string][]string{
	"worker": {"concurrency", "group-commit-max", "max-retry", "breaker-threshold", "slot-wait", "backoff-base", "backoff-cap",
		"cooldown", "config-fault-delay", "breaker-window", "breaker-probe-every", "breaker-hold",
		"task-check-interval", "shutdown-timeout"},
	"enqueue": {"parallelism"},
	"api":     {"max-body-bytes", "max-numbers"},
	"demo":    {"orders"},
	// healthcheck.go: a zero timeout would fail every check.
	"healthcheck": {"timeout"},
}

// nonNegativeFlags take 0 for "no limit".
var nonNegativeFlags = map[string][]string{
	"worker": {"rate-per-minute", "max-inflight"},
}

// validateFlags refuses a value of fs that the command would otherwise
// silently replace, naming the flag and its environment variable.
func validateFlags(command string, fs *pflag.FlagSet) error {
	var errs []error
	check := func(names []string, zeroOK bool) {
		for _, name := range names {
			f := fs.Lookup(name)
			if f == nil {
				continue
			}
			var sign int
			switch f.Value.Type() {
			case "duration":
				d, err := time.ParseDuration(f.Value.String())
				if err != nil {
					continue
				}
				sign = cmpZero(int64(d))
			default:
				n, err := strconv.ParseInt(f.Value.String(), 10, 64)
				if err != nil {
					continue
				}
				sign = cmpZero(n)
			}
			if sign > 0 || (sign == 0 && zeroOK) {
				continue
			}
			src := "--" + name
			if env := config.EnvNameFor(command, name); env != "" {
				src += " (or " + env + ")"
			}
			want := "must be positive"
			if zeroOK {
				want = "must be 0 (no limit) or positive"
			}
			errs = append(errs, fmt.Errorf("%s %s, not %s (default %s)", src, want, f.Value.String(), f.DefValue))
		}
	}
	check(positiveFlags[command], false)
	check(nonNegativeFlags[command], true)
	return errors.Join(errs...)
}

func cmpZero(n int64) int {
	switch {
	case n > 0:
		return 1
	case n < 0:
		return -1
	}
	return 0
}

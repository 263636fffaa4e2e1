package worker

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// WithDefaults is cfg with every zero field at its default, in one place
// (river's Config.WithDefaults): a zero means "the default", never "none".
// It fills nothing else and rejects nothing; New calls validate on its
// result, so a negative is an error and not silently the default.
func (cfg Config) WithDefaults() Config {
	cfg.Queue = cmp.Or(cfg.Queue, tasks.DefaultQueue)
	cfg.Concurrency = cmp.Or(cfg.Concurrency, DefaultConcurrency)
	cfg.SlotWait = cmp.Or(cfg.SlotWait, DefaultSlotWait)
	cfg.GroupCommitMax = cmp.Or(cfg.GroupCommitMax, DefaultGroupCommitMax)
	cfg.TaskCheckInterval = cmp.Or(cfg.TaskCheckInterval, DefaultTaskCheckInterval)
	cfg.DelayedTaskCheckInterval = cmp.Or(cfg.DelayedTaskCheckInterval, DefaultDelayedTaskCheckInterval)
	cfg.ShutdownTimeout = cmp.Or(cfg.ShutdownTimeout, DefaultShutdownTimeout)
	cfg.UnknownSellerCheckInterval = cmp.Or(cfg.UnknownSellerCheckInterval, DefaultUnknownSellerCheckInterval)
	cfg.RedisCheckInterval = cmp.Or(cfg.RedisCheckInterval, DefaultRedisCheckInterval)
	cfg.LossCheckInterval = cmp.Or(cfg.LossCheckInterval, DefaultLossCheckInterval)
	cfg.RedisWaitTimeout = cmp.Or(cfg.RedisWaitTimeout, store.DefaultWaitTimeout)
	// One seller may use every worker; several share them.
	share := 1.0
	if len(cfg.Sellers) > 1 {
		share = DefaultSellerShare
	}
	cfg.SellerShare = cmp.Or(cfg.SellerShare, share)
	cfg.Handler = cfg.Handler.WithDefaults()
	cfg.Breaker = cfg.Breaker.WithDefaults()
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return cfg
}

// durations are the worker's duration settings with their flags, checked
// for negatives in one loop.
func (cfg *Config) durations() []namedDuration {
	return []namedDuration{
		{"SlotWait", "--slot-wait", cfg.SlotWait},
		{"GroupCommitLinger", "--group-commit-linger", cfg.GroupCommitLinger},
		{"TaskCheckInterval", "--task-check-interval", cfg.TaskCheckInterval},
		{"DelayedTaskCheckInterval", "", cfg.DelayedTaskCheckInterval},
		{"ShutdownTimeout", "--shutdown-timeout", cfg.ShutdownTimeout},
		{"UnknownSellerCheckInterval", "", cfg.UnknownSellerCheckInterval},
		{"RedisCheckInterval", "", cfg.RedisCheckInterval},
		{"LossCheckInterval", "", cfg.LossCheckInterval},
		{"RedisWaitTimeout", "--redis-wait-timeout", cfg.RedisWaitTimeout},
		{"RedisWaitUnmetBound", "", cfg.RedisWaitUnmetBound},
		{"Handler.Backoff.Base", "--backoff-base", cfg.Handler.Backoff.Base},
		{"Handler.Backoff.Cap", "--backoff-cap", cfg.Handler.Backoff.Cap},
		{"Handler.Cooldown", "--cooldown", cfg.Handler.Cooldown},
		{"Handler.ConfigFaultDelay", "--config-fault-delay", cfg.Handler.ConfigFaultDelay},
		{"Handler.ClockSkewDelay", "", cfg.Handler.ClockSkewDelay},
		{"Handler.BreakerHoldDelay", "--breaker-hold", cfg.Handler.BreakerHoldDelay},
		{"Handler.ConfirmRetryWindow", "", cfg.Handler.ConfirmRetryWindow},
		{"Breaker.Window", "--breaker-window", cfg.Breaker.Window},
		{"Breaker.ProbeEvery", "--breaker-probe-every", cfg.Breaker.ProbeEvery},
	}
}

type namedDuration struct {
	field, flag string
	d           time.Duration
}

// setting names a field for an error: its flag when it has one.
func setting(field, flag string) string {
	if flag == "" {
		return "worker.Config." + field
	}
	return flag + " (worker.Config." + field + ")"
}

// validate rejects what cannot be meant, on a config WithDefaults filled:
// a negative count or duration is a mistake, and taking the default for it
// would hide the mistake.
func (cfg *Config) validate() error {
	if cfg.Redis == nil {
		return errors.New("worker: Redis is required")
	}
	if len(cfg.Sellers) == 0 {
		return errors.New("worker: Sellers is empty: give at least one seller (worker.SingleSeller for one)")
	}
	if err := tasks.ValidateBaseQueue(cfg.Queue); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	counts := []struct {
		field, flag string
		n           int
	}{
		{"Concurrency", "--concurrency", cfg.Concurrency},
		{"Handler.MaxRetry", "--max-retry", cfg.Handler.MaxRetry},
		{"Breaker.Threshold", "--breaker-threshold", cfg.Breaker.Threshold},
		// RedisWaitReplicas is not here: AutoReplicas is -1, and
		// store.NewDurable checks it.
	}
	for _, c := range counts {
		if c.n < 0 {
			return fmt.Errorf("worker: %s is %d: use a positive number, or 0 for the default", setting(c.field, c.flag), c.n)
		}
	}
	for _, d := range cfg.durations() {
		if d.d < 0 {
			return fmt.Errorf("worker: %s is %v: use a positive duration, or 0 for the default", setting(d.field, d.flag), d.d)
		}
	}
	if cfg.SellerShare <= 0 || cfg.SellerShare > 1 {
		return fmt.Errorf("worker: --seller-share is %v: use a share of the concurrency above 0 and at most 1 (0.5: one seller may use half the workers)", cfg.SellerShare)
	}
	return nil
}

// WithDefaults is o with every zero field at its default.
func (o HandlerOptions) WithDefaults() HandlerOptions {
	o.MaxRetry = cmp.Or(o.MaxRetry, DefaultMaxRetry)
	o.Cooldown = cmp.Or(o.Cooldown, DefaultCooldown)
	o.ConfigFaultDelay = cmp.Or(o.ConfigFaultDelay, DefaultConfigFaultDelay)
	o.ClockSkewDelay = cmp.Or(o.ClockSkewDelay, DefaultClockSkewDelay)
	o.BreakerHoldDelay = cmp.Or(o.BreakerHoldDelay, DefaultBreakerHoldDelay)
	o.ConfirmRetryWindow = cmp.Or(o.ConfirmRetryWindow, DefaultConfirmRetryWindow)
	o.Backoff = o.Backoff.WithDefaults()
	return o
}

// WithDefaults is o with every zero field at its default.
func (o BreakerOptions) WithDefaults() BreakerOptions {
	o.Threshold = cmp.Or(o.Threshold, DefaultBreakerThreshold)
	o.Window = cmp.Or(o.Window, DefaultBreakerWindow)
	o.ProbeEvery = cmp.Or(o.ProbeEvery, DefaultBreakerProbeEvery)
	return o
}

// WithDefaults is b with each zero field at DefaultBackoff's.
func (b Backoff) WithDefaults() Backoff {
	b.Base = cmp.Or(b.Base, DefaultBackoff.Base)
	b.Cap = cmp.Or(b.Cap, DefaultBackoff.Cap)
	return b
}
